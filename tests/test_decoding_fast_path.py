"""A decoder whose type bounds the nesting decodes first and walks the bytes only if that fails.

The walk (``msgpack_shape.check_shape``) exists to refuse deep nesting before msgspec recurses.
When the type itself admits no deeper value (``schema_depth``), bytes it accepts would pass the
walk anyway, so the walk is left for bytes that fail. Every verdict must stay the one the walk
then the decoder give: the same value, or a MalformedError with the same text (that text is an
event's result, under the results root a block header commits to).
"""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given, settings, strategies as st

from consortium.events.codec import MAX_NESTING, BoundedDecoder, encode, schema_depth
from consortium.events.envelope import Envelope, seal
from consortium.events.errors import MalformedError
from consortium.events.identity import Identity
from consortium.events.msgpack_shape import check_shape
from consortium.events.payments import Transfer
from consortium.events.registry import EventBodyUnion
from consortium.events.wire import PeerMessage

ALICE = Identity.from_seed("alice", b"alice")


class _Tree(msgspec.Struct, forbid_unknown_fields=True):
    children: list[_Tree]


class _Pair(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    left: tuple[int, ...]
    right: dict[str, list[bytes]] | None


def test_schema_depth_counts_containers_and_gives_up_where_the_bytes_decide() -> None:
    assert schema_depth(int) == 0
    assert schema_depth(list[list[int]]) == 2
    assert schema_depth(_Pair) == 3  # the array, the dict, the list in it
    assert schema_depth(Any) is None
    assert schema_depth(msgspec.Raw) is None
    assert schema_depth(list[Any]) is None
    assert schema_depth(_Tree) is None  # recursive


def test_the_ledgers_events_and_peer_messages_take_the_fast_path() -> None:
    for type_ in (Envelope, EventBodyUnion, PeerMessage):
        depth = schema_depth(type_)
        assert depth is not None and depth <= MAX_NESTING


def _walk_then_decode(type_: Any, data: bytes, what: str) -> object:
    """The decoding every BoundedDecoder did before the fast path: the reference verdict."""
    check_shape(data, MAX_NESTING, what)
    try:
        return msgspec.msgpack.Decoder(type_).decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise MalformedError(f"{what}: {exc}") from exc


def _verdict(decode: Any, data: bytes) -> tuple[str, object]:
    try:
        return "value", decode(data)
    except MalformedError as exc:
        return "malformed", str(exc)


_ENVELOPE = BoundedDecoder(Envelope, 1 << 16, "envelope")
_BODY = BoundedDecoder(EventBodyUnion, 1 << 16, "event body")
_SEALED = seal(
    Transfer(author=ALICE.public_key, seq=1, token="EUR", to=bytes(32), amount=5), "c", [ALICE]
)
_BODY_BYTES = msgspec.msgpack.decode(_SEALED, type=Envelope).body


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_envelopes_and_bodies_get_the_walks_verdict(data: st.DataObject) -> None:
    for decoder, type_, what, valid in (
        (_ENVELOPE, Envelope, "envelope", _SEALED),
        (_BODY, EventBodyUnion, "event body", _BODY_BYTES),
    ):
        raw = bytearray(valid)
        for _ in range(data.draw(st.integers(0, 4))):
            at = data.draw(st.integers(0, len(raw) - 1))
            raw[at] = data.draw(st.integers(0, 255))
        if data.draw(st.booleans()):
            raw += data.draw(st.binary(max_size=3))  # trailing bytes: the walk's message
        mutated = bytes(raw)
        expected = _verdict(lambda b, t=type_, w=what: _walk_then_decode(t, b, w), mutated)
        assert _verdict(decoder.decode, mutated) == expected


def test_a_body_nested_past_the_bound_still_gets_the_walks_message() -> None:
    fields = msgspec.structs.asdict(
        Transfer(author=ALICE.public_key, seq=1, token="EUR", to=bytes(32), amount=5)
    )
    nested = msgspec.Raw(b"\x91" * MAX_NESTING + b"\xc0")  # 33 levels under the body's map
    deep = encode({**fields, "to": nested, "type": Transfer.__struct_config__.tag})
    verdict = _verdict(_BODY.decode, deep)
    assert verdict == _verdict(lambda b: _walk_then_decode(EventBodyUnion, b, "event body"), deep)
    assert verdict[0] == "malformed" and "nested deeper than 32" in str(verdict[1])
