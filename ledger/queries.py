"""The reads a host may ask of a validator, defined once and named: the host contract's queries.

Every facade uses this table: the embedded ``Consortium`` runs ``run`` on the validator's thread
(by an ``Inspect`` ask), the network service does the same for remote hosts (by a tell, so the
network thread never waits), and ``RemoteConsortium`` decodes the answer with ``answer``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from consortium.events.block import BlockHeader, state_digest
from consortium.ledger.node import LedgerNode
from consortium.rules.tables import Account, Order, Settlement, account_key


def _height(node: LedgerNode, _: tuple[()]) -> int:
    return node.log.head_height


def _head(node: LedgerNode, _: tuple[()]) -> BlockHeader | None:
    height = node.log.head_height
    return node.log.stored_block(height).committed.block.header if height else None


class NodeStatus(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where a validator is: the "status" query's answer (``consortium status`` prints it)."""

    validator: int
    height: int
    last_commit_ms: int | None
    """Block time (ledger milliseconds) of the head block; None before the first block."""
    mempool: int
    """Events waiting for a block."""
    round: int | None
    """Round of the height being decided; None when no consensus loop runs this node."""
    peers: int | None
    """Peers heard from in the last few seconds; None when no consensus loop runs this node."""
    last_commit_age_s: float | None
    """Seconds since this validator committed a block in its current run (by its monotonic
    clock); None if it has not, or when no consensus loop runs this node."""


def _status(node: LedgerNode, _: tuple[()]) -> NodeStatus:
    height = node.log.head_height
    live = node.liveness
    return NodeStatus(
        validator=node.index,
        height=height,
        last_commit_ms=node.log.head_time_ms if height else None,
        mempool=len(node.mempool),
        round=None if live is None else live.round,
        peers=None if live is None else live.peers_heard(),
        last_commit_age_s=None if live is None else live.last_commit_age_s(),
    )


def _state_digest(node: LedgerNode, _: tuple[()]) -> bytes:
    return state_digest(node.state.table_digests())


def _nonce(node: LedgerNode, arguments: tuple[bytes]) -> int:
    """The last sequence number the ledger has seen of a key: a new handle continues after it."""
    return int(node.state.get("nonces", arguments[0]) or 0)


def _balance(node: LedgerNode, arguments: tuple[bytes, str]) -> int:
    account = node.state.get("accounts", account_key(*arguments))
    return 0 if account is None else int(account.balance)


def _accounts(node: LedgerNode, _: tuple[()]) -> list[Account]:
    return [a for _, a in node.state.rows("accounts")]


def _orders(node: LedgerNode, _: tuple[()]) -> list[tuple[bytes, Order]]:
    return list(node.state.rows("orders"))


def _settlements(node: LedgerNode, _: tuple[()]) -> list[tuple[bytes, Settlement]]:
    return list(node.state.rows("settlements"))


@dataclass(frozen=True, slots=True)
class QuerySpec:
    run: Callable[[LedgerNode, Any], Any]
    arguments: Any
    answer: Any
    argument_decoder: msgspec.msgpack.Decoder[Any] = field(init=False)
    answer_decoder: msgspec.msgpack.Decoder[Any] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "argument_decoder", msgspec.msgpack.Decoder(self.arguments))
        object.__setattr__(self, "answer_decoder", msgspec.msgpack.Decoder(self.answer))


_NONE = tuple[()]

QUERIES: dict[str, QuerySpec] = {
    "height": QuerySpec(_height, _NONE, int),
    "head": QuerySpec(_head, _NONE, BlockHeader | None),
    "state_digest": QuerySpec(_state_digest, _NONE, bytes),
    "nonce": QuerySpec(_nonce, tuple[bytes], int),
    "balance": QuerySpec(_balance, tuple[bytes, str], int),
    "accounts": QuerySpec(_accounts, _NONE, list[Account]),
    "orders": QuerySpec(_orders, _NONE, list[tuple[bytes, Order]]),
    "settlements": QuerySpec(_settlements, _NONE, list[tuple[bytes, Settlement]]),
    "status": QuerySpec(_status, _NONE, NodeStatus),
}
