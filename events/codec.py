"""One msgpack encoder and bounded decoders shared by every wire and log type.

Untrusted bytes are size-checked, then walked without recursion to bound their nesting at
``MAX_NESTING`` (``msgpack_shape``), before msgspec sees them; and every Struct a decoder can
reach refuses unknown fields, so no byte of a signed message goes unread. A decoder therefore
gives the same verdict on the same bytes whatever its caller's stack depth, and raises nothing
but MalformedError for bad bytes: an event admitted at intake decodes the same in a proposal,
in catch-up, in a replay and in the audit.
"""

from __future__ import annotations

from collections.abc import Sequence
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
        depth = schema_depth(type_)
        self._type_bounds_nesting = depth is not None and depth <= MAX_NESTING

    def decode(self, data: bytes | bytearray | memoryview) -> T:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise MalformedError(f"{self._what}: expected bytes, got {type(data).__name__}")
        if len(data) > self._max_bytes:
            raise MalformedError(f"{self._what}: {len(data)} bytes exceeds limit {self._max_bytes}")
        if self._type_bounds_nesting:
            # Bytes the type accepts nest no deeper than the type, so they would pass the walk:
            # it runs only for bytes that fail here, to refuse them exactly as it always has.
            try:
                return self._decoder.decode(data)
            except Exception:  # whatever fails here is judged below, exactly as without this
                pass
        check_shape(data, MAX_NESTING, self._what)
        try:
            return self._decoder.decode(data)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            # msgspec reports a string that is not UTF-8 as UnicodeDecodeError, not DecodeError.
            raise MalformedError(f"{self._what}: {exc}") from exc


_SCALARS = (
    mi.NoneType,
    mi.BoolType,
    mi.IntType,
    mi.FloatType,
    mi.StrType,
    mi.BytesType,
    mi.ByteArrayType,
    mi.MemoryViewType,
    mi.EnumType,
    mi.LiteralType,
    mi.DateTimeType,
    mi.DateType,
    mi.TimeType,
    mi.TimeDeltaType,
    mi.UUIDType,
    mi.DecimalType,
    mi.ExtType,
)


def schema_depth(type_: Any) -> int | None:
    """How deep msgpack containers nest in any value that decodes as ``type_`` (a top-level
    array is 1), or None when the type does not bound it: ``Any``, ``msgspec.Raw``, a custom
    type, a Struct that contains itself. A decoder of such a type never skips a value unread
    (every Struct it reaches refuses unknown fields), so what it accepts nests at most this deep.
    """
    return _depth(mi.type_info(type_), set())


def _depth(info: mi.Type, open_structs: set[type]) -> int | None:
    if isinstance(info, _SCALARS):
        return 0
    if isinstance(info, mi.UnionType):
        return _deepest(info.types, open_structs, 0)
    if isinstance(info, mi.CollectionType):
        return _deepest((info.item_type,), open_structs, 1)
    if isinstance(info, mi.TupleType):
        return _deepest(info.item_types, open_structs, 1)
    if isinstance(info, mi.DictType | mi.FrozenDictType):
        return _deepest((info.key_type, info.value_type), open_structs, 1)
    if isinstance(info, mi.StructType):
        if info.cls in open_structs:
            return None  # recursive: as deep as the bytes say
        return _deepest([f.type for f in info.fields], open_structs | {info.cls}, 1)
    return None  # Any, Raw, custom and kinds not listed: assume no bound


def _deepest(parts: Sequence[mi.Type], open_structs: set[type], own: int) -> int | None:
    """``own`` (1 for a container, 0 for a union) plus the deepest of ``parts``."""
    deepest = 0
    for part in parts:
        depth = _depth(part, open_structs)
        if depth is None:
            return None
        deepest = max(deepest, depth)
    return own + deepest


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
