"""Decoding is bounded whoever calls: nesting beyond MAX_NESTING and unknown fields are
malformed, never a RecursionError, at any stack depth (issue 21's poison pill)."""

from __future__ import annotations

import sys
from collections.abc import Callable

import msgspec
import pytest
from hypothesis import given, settings, strategies as st

from consortium.actors.net.protocol import decode_request, decode_server_message
from consortium.events.codec import MAX_NESTING, encode
from consortium.events.envelope import decode_body, decode_envelope, decode_event, seal
from consortium.events.errors import MalformedError
from consortium.events.identity import Identity
from consortium.events.payments import Transfer
from consortium.events.wire import decode_peer_message, decode_proposal

ALICE = Identity.from_seed("alice", b"alice")


def _fields() -> dict[str, object]:
    body = Transfer(author=ALICE.public_key, seq=1, token="EUR", to=bytes(32), amount=5)
    return {"type": Transfer.__struct_config__.tag, **msgspec.structs.asdict(body)}


def _nested(depth: int) -> msgspec.Raw:
    """``depth`` arrays, one inside the other, around a nil."""
    return msgspec.Raw(b"\x91" * depth + b"\xc0")


def _body_with(field: str, value: object, tag_last: bool = False) -> bytes:
    fields = _fields() | {field: value}
    if tag_last:
        tag = fields.pop("type")
        fields["type"] = tag
    return encode(fields)


def _deep_stack(call: Callable[[], object], headroom: int = 80) -> object:
    """Run ``call`` with only ``headroom`` frames left before the recursion limit."""

    def down(n: int) -> object:
        return call() if n == 0 else down(n - 1)

    frames = 0
    frame = sys._getframe()
    while frame is not None:
        frames, frame = frames + 1, frame.f_back
    return down(sys.getrecursionlimit() - frames - headroom)


@pytest.mark.parametrize("tag_last", [False, True])
@pytest.mark.parametrize("depth", [MAX_NESTING, MAX_NESTING + 1, 980, 60_000])
def test_an_unknown_nested_field_is_malformed_at_any_stack_depth(
    depth: int, tag_last: bool
) -> None:
    body = _body_with("junk", _nested(depth - 1), tag_last)  # the body's map is one level
    for decode in (lambda: decode_body(body), lambda: _deep_stack(lambda: decode_body(body))):
        with pytest.raises(MalformedError):
            decode()


def test_nesting_is_refused_beyond_the_bound_and_not_before() -> None:
    """A known field's value at depth 32 reaches msgspec (wrong type); at 33 the walk refuses it."""
    at_bound = _body_with("to", _nested(MAX_NESTING - 1))
    beyond = _body_with("to", _nested(MAX_NESTING))
    with pytest.raises(MalformedError, match="Expected `bytes`"):
        decode_body(at_bound)
    with pytest.raises(MalformedError, match="nested deeper than 32"):
        decode_body(beyond)


def test_an_unknown_top_level_field_is_malformed() -> None:
    with pytest.raises(MalformedError, match="unknown field `surprise`"):
        decode_body(_body_with("surprise", 1))


def test_an_envelope_with_an_extra_trailing_item_is_malformed() -> None:
    envelope = msgspec.msgpack.decode(seal(_transfer(), "c", [ALICE]))
    with pytest.raises(MalformedError):
        decode_envelope(encode([*envelope, 0]))


def _transfer() -> Transfer:
    return Transfer(author=ALICE.public_key, seq=1, token="EUR", to=bytes(32), amount=5)


@pytest.mark.parametrize(
    "decode", [decode_peer_message, decode_proposal, decode_request, decode_server_message]
)
def test_wire_messages_nested_a_hundred_thousand_deep_are_malformed(
    decode: Callable[[bytes], object],
) -> None:
    data = b"\x91" * 100_000 + b"\xc0"
    with pytest.raises(MalformedError):
        decode(data)
    with pytest.raises(MalformedError):
        _deep_stack(lambda: decode(data))


def test_a_query_whose_raw_arguments_nest_too_deep_is_malformed() -> None:
    """Raw fields are skipped by msgspec, recursively: the walk bounds them too."""
    request = encode(["query", 1, "balance", _nested(10_000)])
    with pytest.raises(MalformedError, match="nested deeper"):
        _deep_stack(lambda: decode_request(request))


_VALID = seal(_transfer(), "c", [ALICE])


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_fuzz_mutated_envelopes_raise_only_malformed(data: st.DataObject) -> None:
    raw = bytearray(_VALID)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    try:
        decode_event(bytes(raw))
    except MalformedError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_fuzz_random_bytes_raise_only_malformed(raw: bytes) -> None:
    for decode in (decode_body, decode_peer_message, decode_request, decode_server_message):
        try:
            decode(raw)
        except MalformedError:
            pass
