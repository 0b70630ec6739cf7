"""Rows and events as JSON-ready values: bytes become hex, Structs become dicts."""

from __future__ import annotations

from typing import Any

import msgspec


def plain(value: Any) -> Any:
    """``value`` with every bytes object as lower-case hex, ready for ``json.dumps``."""
    return _hex(msgspec.to_builtins(value, builtin_types=(bytes,)))


def _hex(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: _hex(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_hex(v) for v in value]
    return value


def row_dict(row: Any) -> dict[str, Any]:
    """A stored row (an array-like Struct, or a plain value) as a field-named dict."""
    if isinstance(row, msgspec.Struct):
        return {name: plain(getattr(row, name)) for name in row.__struct_fields__}
    return {"value": plain(row)}
