"""Does a peer message claim to come from the validator that the Curve handshake proved?

``Status`` and ``SyncRequest`` name their sender in plain fields that the core acts on (it
answers the named validator), and a vote names its voter; a message from validator 2 that claims
to be validator 1 is refused here, before the validator sees it. Proposals need no check: the
core accepts one only with the signature of that round's proposer. Only the message's first
fields are decoded (as raw msgpack), so a large proposal is not decoded twice, and message kinds
added later pass unchecked rather than being dropped. The nesting bound still walks the whole
message first: msgspec recurses even through the raw fields it skips.
"""

from __future__ import annotations

import msgspec

from consortium.events.codec import BoundedDecoder
from consortium.events.errors import MalformedError
from consortium.events.wire import (
    MAX_PEER_MESSAGE_BYTES,
    SignedVote,
    Status,
    SyncRequest,
    decode_vote,
)

_FIELDS: BoundedDecoder[list[msgspec.Raw]] = BoundedDecoder(
    list[msgspec.Raw], MAX_PEER_MESSAGE_BYTES, "peer message"
)
_TAG = msgspec.msgpack.Decoder(str)
_INT = msgspec.msgpack.Decoder(int)
_BYTES = msgspec.msgpack.Decoder(bytes)
_SENDER_FIRST = {Status.__struct_config__.tag, SyncRequest.__struct_config__.tag}
_VOTE = SignedVote.__struct_config__.tag


def claimed_sender(payload: bytes) -> int | None:
    """The validator index a peer message claims as its sender, or None if it claims none.

    Raises MalformedError for bytes that are no tagged message.
    """
    try:
        fields = _FIELDS.decode(payload)
        if len(fields) < 2:
            raise MalformedError("peer message: too few fields")
        tag = _TAG.decode(fields[0])
        if tag in _SENDER_FIRST:
            return _INT.decode(fields[1])
        if tag == _VOTE:
            return decode_vote(_BYTES.decode(fields[1])).validator
    except msgspec.DecodeError as exc:
        raise MalformedError(f"peer message: {exc}") from exc
    return None


def claim_matches(sender: int, payload: bytes) -> bool:
    """False when the message claims another sender than the authenticated one, or is junk."""
    try:
        claimed = claimed_sender(payload)
    except MalformedError:
        return False
    return claimed is None or claimed == sender
