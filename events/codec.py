"""One msgpack encoder and bounded decoders shared by every wire and log type.

Untrusted bytes are size-checked, then walked without recursion to bound their nesting at
``MAX_NESTING`` (``msgpack_shape``), before msgspec sees them; and every Struct a decoder can
reach refuses unknown fields, so no byte of a signed message goes unread. A decoder therefore
gives the same verdict on the same bytes whatever its caller's stack depth, and raises nothing
but MalformedError for bad bytes: an event admitted at intake decodes the same in a proposal,
in catch-up, in a replay and in the audit.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec
import msgspec.inspect as mi

from consortium.events.errors import MalformedError
from consortium.events.msgpack_shape import check_shape

T = TypeVar("T")

ENCODER = msgspec.msgpack.Encoder()

MAX_NESTING = 32
"""The deepest nesting of msgpack containers any decoder accepts (a top-level array is 1).
Every message type of the ledger nests well under it; decoding what passes needs at most this
many levels of msgspec's recursion."""


def encode(value: object) -> bytes:
    """Canonical msgpack bytes of a Struct: the bytes that are hashed and signed."""
    return ENCODER.encode(value)


class BoundedDecoder(Generic[T]):
    """A typed decoder that refuses, with a MalformedError, inputs above ``max_bytes``, nested
    deeper than ``MAX_NESTING``, or carrying a field its type does not declare."""

    def __init__(self, type_: Any, max_bytes: int, what: str) -> None:
        """``type_`` is a Struct type or a union of them (hence ``Any``: unions are not types).
        TypeError if a Struct it reaches would skip unknown fields instead of refusing them."""
        loose = lenient_structs(type_)
        if loose:
            raise TypeError(f"{what}: {', '.join(loose)} must set forbid_unknown_fields=True")
        self._decoder: msgspec.msgpack.Decoder[T] = msgspec.msgpack.Decoder(type_)
        self._max_bytes = max_bytes
        self._what = what

    def decode(self, data: bytes | bytearray | memoryview) -> T:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise MalformedError(f"{self._what}: expected bytes, got {type(data).__name__}")
        if len(data) > self._max_bytes:
            raise MalformedError(f"{self._what}: {len(data)} bytes exceeds limit {self._max_bytes}")
        check_shape(data, MAX_NESTING, self._what)
        try:
            return self._decoder.decode(data)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            # msgspec reports a string that is not UTF-8 as UnicodeDecodeError, not DecodeError.
            raise MalformedError(f"{self._what}: {exc}") from exc


def lenient_structs(type_: Any) -> list[str]:
    """The names of the Struct types reachable from ``type_`` that skip unknown fields (or, if
    array-like, extra trailing items) when decoding, where they should refuse them."""
    seen: set[type] = set()
    loose: list[str] = []
    todo: list[mi.Type] = [mi.type_info(type_)]
    while todo:
        info = todo.pop()
        if isinstance(info, mi.StructType):
            if info.cls in seen:
                continue
            seen.add(info.cls)
            if not info.forbid_unknown_fields:
                loose.append(info.cls.__qualname__)
        for name in info.__struct_fields__:
            value = getattr(info, name)
            for part in value if isinstance(value, tuple) else (value,):
                if isinstance(part, mi.Field):
                    todo.append(part.type)
                elif isinstance(part, mi.Type):
                    todo.append(part)
    return sorted(loose)
