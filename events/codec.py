"""One msgpack encoder and bounded decoders shared by every wire and log type.

Untrusted bytes are size-checked before msgspec sees them, and every decoder is typed (no
``Any``), so hostile nesting fails at the first level instead of recursing.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

from consortium.events.errors import MalformedError

T = TypeVar("T")

ENCODER = msgspec.msgpack.Encoder()


def encode(value: object) -> bytes:
    """Canonical msgpack bytes of a Struct: the bytes that are hashed and signed."""
    return ENCODER.encode(value)


class BoundedDecoder(Generic[T]):
    """A typed decoder that refuses inputs above ``max_bytes`` with a MalformedError."""

    def __init__(self, type_: Any, max_bytes: int, what: str) -> None:
        """``type_`` is a Struct type or a union of them (hence ``Any``: unions are not types)."""
        self._decoder: msgspec.msgpack.Decoder[T] = msgspec.msgpack.Decoder(type_)
        self._max_bytes = max_bytes
        self._what = what

    def decode(self, data: bytes) -> T:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise MalformedError(f"{self._what}: expected bytes, got {type(data).__name__}")
        if len(data) > self._max_bytes:
            raise MalformedError(f"{self._what}: {len(data)} bytes exceeds limit {self._max_bytes}")
        try:
            return self._decoder.decode(data)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            # msgspec reports a string that is not UTF-8 as UnicodeDecodeError, not DecodeError.
            raise MalformedError(f"{self._what}: {exc}") from exc
