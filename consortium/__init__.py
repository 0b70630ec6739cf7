"""Consortium: a tamper-evident ledger that several organisations run together.

The public surface for host applications; everything else is internal. The names below are
imported on first use, so ``import consortium`` (and ``consortium.audit``, ``consortium.events``)
loads no actors, no ZeroMQ and no LMDB until a host asks for them; type checkers read the
imports under ``TYPE_CHECKING`` and see the real types.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from consortium.actors.messages import (
        Receipt as Receipt,
    )
    from consortium.actors.receipts import (
        ReceiptFuture as ReceiptFuture,
    )
    from consortium.api import (
        Consortium as Consortium,
        ParticipantHandle as ParticipantHandle,
    )
    from consortium.config import (
        ConsortiumConfig as ConsortiumConfig,
    )
    from consortium.events.errors import (
        ConsortiumError as ConsortiumError,
        ConsortiumStopped as ConsortiumStopped,
        EventRejected as EventRejected,
        ReceiptTimeout as ReceiptTimeout,
        RejectedAtIntake as RejectedAtIntake,
        RejectedByRule as RejectedByRule,
    )
    from consortium.events.genesis import (
        Genesis as Genesis,
        GenesisParticipant as GenesisParticipant,
        GenesisValidator as GenesisValidator,
        TokenDefinition as TokenDefinition,
    )
    from consortium.events.identity import (
        Identity as Identity,
    )
    from consortium.events.payments import (
        IssueTokens as IssueTokens,
        RegisterParticipant as RegisterParticipant,
        Transfer as Transfer,
    )
    from consortium.events.results import (
        Code as Code,
        EventResult as EventResult,
    )
    from consortium.key_file import (
        KeyFileError as KeyFileError,
        read_secret_key as read_secret_key,
    )
    from consortium.remote import (
        RemoteConsortium as RemoteConsortium,
        RemoteError as RemoteError,
        RemoteParticipantHandle as RemoteParticipantHandle,
        RemoteTimeout as RemoteTimeout,
        open_consortium as open_consortium,
    )
    from consortium.storage.errors import (
        LogCorruptError as LogCorruptError,
        LogFileError as LogFileError,
        LogFormatError as LogFormatError,
        StateCorruptError as StateCorruptError,
        StorageError as StorageError,
    )
    from consortium.subscriptions import (
        BlockNotice as BlockNotice,
        CommittedEvent as CommittedEvent,
        Subscription as Subscription,
        SubscriptionOverflow as SubscriptionOverflow,
    )

_EXPORTS: dict[str, str] = {
    "BlockNotice": "consortium.subscriptions",
    "Code": "consortium.events.results",
    "CommittedEvent": "consortium.subscriptions",
    "Consortium": "consortium.api",
    "ConsortiumConfig": "consortium.config",
    "ConsortiumError": "consortium.events.errors",
    "ConsortiumStopped": "consortium.events.errors",
    "EventRejected": "consortium.events.errors",
    "EventResult": "consortium.events.results",
    "Genesis": "consortium.events.genesis",
    "GenesisParticipant": "consortium.events.genesis",
    "GenesisValidator": "consortium.events.genesis",
    "Identity": "consortium.events.identity",
    "IssueTokens": "consortium.events.payments",
    "KeyFileError": "consortium.key_file",
    "LogCorruptError": "consortium.storage.errors",
    "LogFileError": "consortium.storage.errors",
    "LogFormatError": "consortium.storage.errors",
    "ParticipantHandle": "consortium.api",
    "Receipt": "consortium.actors.messages",
    "ReceiptFuture": "consortium.actors.receipts",
    "ReceiptTimeout": "consortium.events.errors",
    "RegisterParticipant": "consortium.events.payments",
    "RejectedAtIntake": "consortium.events.errors",
    "RejectedByRule": "consortium.events.errors",
    "RemoteConsortium": "consortium.remote",
    "RemoteError": "consortium.remote",
    "RemoteParticipantHandle": "consortium.remote",
    "RemoteTimeout": "consortium.remote",
    "StateCorruptError": "consortium.storage.errors",
    "StorageError": "consortium.storage.errors",
    "Subscription": "consortium.subscriptions",
    "SubscriptionOverflow": "consortium.subscriptions",
    "TokenDefinition": "consortium.events.genesis",
    "Transfer": "consortium.events.payments",
    "open_consortium": "consortium.remote",
    "read_secret_key": "consortium.key_file",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import a public name's module when the name is first used (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'consortium' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
