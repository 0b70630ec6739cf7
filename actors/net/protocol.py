"""What travels between a node and its peers or remote hosts, in frames after the routing id.

Frame 1 is the kind: ``PEER`` (a validator's peer message, the exact bytes the in-process
router carries), ``REQUEST`` (a host's request to its validator) or ``REPLY`` (the validator's
answer or a block notice). Frame 2 is the msgpack body. Requests carry a request number the
host chose, so answers find their waiting future.
"""

from __future__ import annotations

import msgspec

from consortium.events.block import CommittedBlock
from consortium.events.codec import BoundedDecoder
from consortium.events.envelope import MAX_EVENT_BYTES
from consortium.events.results import EventResult
from consortium.events.wire import MAX_PEER_MESSAGE_BYTES

PEER = b"P"
REQUEST = b"Q"
REPLY = b"R"


class Submit(
    msgspec.Struct, frozen=True, gc=False, tag="submit", array_like=True, forbid_unknown_fields=True
):
    request: int
    envelope: bytes


class Query(
    msgspec.Struct, frozen=True, gc=False, tag="query", array_like=True, forbid_unknown_fields=True
):
    request: int
    name: str
    arguments: msgspec.Raw  # msgpack of the query's argument tuple


class Subscribe(
    msgspec.Struct,
    frozen=True,
    gc=False,
    tag="subscribe",
    array_like=True,
    forbid_unknown_fields=True,
):
    """Send block notices to this connection from now on (sent again after each reconnect)."""


class Unsubscribe(
    msgspec.Struct,
    frozen=True,
    gc=False,
    tag="unsubscribe",
    array_like=True,
    forbid_unknown_fields=True,
):
    pass


ClientRequest = Submit | Query | Subscribe | Unsubscribe


class ReceiptReply(
    msgspec.Struct,
    frozen=True,
    gc=False,
    tag="receipt",
    array_like=True,
    forbid_unknown_fields=True,
):
    request: int
    event_id: bytes
    result: EventResult
    height: int | None
    validator: int


class Answer(
    msgspec.Struct, frozen=True, gc=False, tag="answer", array_like=True, forbid_unknown_fields=True
):
    """``value`` is the msgpack of the query's answer; ``error`` is set instead on failure."""

    request: int
    value: msgspec.Raw
    error: str = ""


class RowChange(msgspec.Struct, frozen=True, gc=False, array_like=True, forbid_unknown_fields=True):
    table: str
    key: bytes
    row: msgspec.Raw  # msgpack of the row; nil for a deleted row


class Notice(
    msgspec.Struct, frozen=True, gc=False, tag="notice", array_like=True, forbid_unknown_fields=True
):
    """A committed block with its QC, results and changed rows: the host checks the QC."""

    committed: CommittedBlock
    results: tuple[EventResult, ...]
    changes: tuple[RowChange, ...]


ServerMessage = ReceiptReply | Answer | Notice

_REQUEST: BoundedDecoder[ClientRequest] = BoundedDecoder(
    ClientRequest, MAX_EVENT_BYTES + 4096, "client request"
)
_SERVER: BoundedDecoder[ServerMessage] = BoundedDecoder(
    ServerMessage, MAX_PEER_MESSAGE_BYTES, "server message"
)


def decode_request(data: bytes) -> ClientRequest:
    return _REQUEST.decode(data)


def decode_server_message(data: bytes) -> ServerMessage:
    return _SERVER.decode(data)
