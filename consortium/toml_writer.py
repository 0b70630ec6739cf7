"""A small TOML writer for the files this package writes (genesis, keys, node configs).

Python reads TOML (``tomllib``) but does not write it; these files are plain tables of strings,
integers, booleans, lists and arrays of tables, which this covers in a few lines instead of a
new dependency. Every file written is read back by ``tomllib`` in the tests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def dumps(table: Mapping[str, Any], header: str = "") -> str:
    """TOML text for ``table``; ``header`` lines (without ``#``) become comments on top."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    _write_table(table, (), lines, array=False)
    return "\n".join(lines).strip("\n") + "\n"


def _write_table(
    table: Mapping[str, Any], path: tuple[str, ...], lines: list[str], array: bool
) -> None:
    if path:
        name = ".".join(_key(p) for p in path)
        lines.extend(["", f"[[{name}]]" if array else f"[{name}]"])
    nested: list[tuple[str, Any]] = []
    for key, value in table.items():
        if isinstance(value, Mapping) or _is_table_array(value):
            nested.append((key, value))
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in nested:
        if isinstance(value, Mapping):
            _write_table(value, (*path, key), lines, array=False)
        else:
            for item in value:
                _write_table(item, (*path, key), lines, array=True)


def _is_table_array(value: object) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str | bytes)
        and len(value) > 0
        and all(isinstance(v, Mapping) for v in value)
    )


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _string(text: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, except that DEL must be escaped too."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")
