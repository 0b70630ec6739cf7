"""Consortium: a tamper-evident ledger that several organisations run together.

The public surface for host applications; everything else is internal.
"""

from actors.messages import Receipt
from actors.receipts import ReceiptFuture
from consortium.api import Consortium, ParticipantHandle
from consortium.config import ConsortiumConfig
from consortium.remote import (
    RemoteConsortium,
    RemoteError,
    RemoteParticipantHandle,
    RemoteTimeout,
    open_consortium,
)
from consortium.subscriptions import (
    BlockNotice,
    CommittedEvent,
    Subscription,
    SubscriptionOverflow,
)
from events.errors import (
    ConsortiumError,
    ConsortiumStopped,
    EventRejected,
    ReceiptTimeout,
    RejectedAtIntake,
    RejectedByRule,
)
from events.genesis import Genesis, GenesisParticipant, GenesisValidator, TokenDefinition
from events.identity import Identity
from events.payments import IssueTokens, RegisterParticipant, Transfer
from events.results import Code, EventResult
from storage.errors import LogCorruptError, StateCorruptError, StorageError

__all__ = [
    "BlockNotice",
    "Code",
    "CommittedEvent",
    "Consortium",
    "ConsortiumConfig",
    "ConsortiumError",
    "ConsortiumStopped",
    "EventRejected",
    "EventResult",
    "Genesis",
    "GenesisParticipant",
    "GenesisValidator",
    "Identity",
    "IssueTokens",
    "LogCorruptError",
    "ParticipantHandle",
    "Receipt",
    "ReceiptFuture",
    "ReceiptTimeout",
    "RegisterParticipant",
    "RejectedAtIntake",
    "RejectedByRule",
    "RemoteConsortium",
    "RemoteError",
    "RemoteParticipantHandle",
    "RemoteTimeout",
    "StateCorruptError",
    "StorageError",
    "Subscription",
    "SubscriptionOverflow",
    "TokenDefinition",
    "Transfer",
    "open_consortium",
]
