"""An iterative walk over msgpack headers that bounds nesting before any decoder recurses.

msgspec decodes nested containers by recursion, and it recurses even through values it only
skips: an unknown field, the fields ahead of a union's tag, a ``msgspec.Raw``. How deep it can
go depends on how deep the caller's Python stack already is, so one event could decode on one
validator and raise ``RecursionError`` on another, or on the same one later, in a replay. This
walk reads each header, keeps a stack of the items left in every open container (a list, never
the call stack) and refuses the bytes as soon as a container opens beyond ``max_depth``. Bytes
that pass hold no container deeper than that, so decoding them recurses at most ``max_depth``
levels whoever calls.

Each value costs one step of the loop and at least one byte, so the walk is linear in the size
the caller has already bounded; a container that announces more items than bytes remain is
refused at its header.
"""

from __future__ import annotations

from consortium.events.errors import MalformedError

_SCALAR = 0  # a value of fixed size: the header and ``size - 1`` bytes of payload
_SIZED = 1  # str, bin and ext: a ``size``-byte big-endian length, then the payload
_ARRAY = 2  # an array whose item count is in the header (``size`` 0) or in ``size`` bytes
_MAP = 3  # a map, counted as above, holding twice as many items as it has entries
_INVALID = 4  # 0xc1, which msgpack never uses


def _header_table() -> tuple[tuple[int, int, int], ...]:
    """For each first byte: its kind, its ``size`` and (str, bin, ext) the bytes after the
    length that precede the payload (ext's type byte), or a fixed container's item count."""
    table: list[tuple[int, int, int]] = []
    sized = {0xC4: 1, 0xC5: 2, 0xC6: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4}
    ext = {0xC7: 1, 0xC8: 2, 0xC9: 4}
    fixed = {0xCA: 5, 0xCB: 9, 0xCC: 2, 0xCD: 3, 0xCE: 5, 0xCF: 9}
    fixed |= {0xD0: 2, 0xD1: 3, 0xD2: 5, 0xD3: 9, 0xD4: 3, 0xD5: 4, 0xD6: 6, 0xD7: 10, 0xD8: 18}
    for byte in range(256):
        if byte <= 0x7F or byte >= 0xE0 or byte in (0xC0, 0xC2, 0xC3):
            table.append((_SCALAR, 1, 0))
        elif byte <= 0x8F:
            table.append((_MAP, 0, byte & 0x0F))
        elif byte <= 0x9F:
            table.append((_ARRAY, 0, byte & 0x0F))
        elif byte <= 0xBF:
            table.append((_SCALAR, 1 + (byte & 0x1F), 0))
        elif byte in sized:
            table.append((_SIZED, sized[byte], 0))
        elif byte in ext:
            table.append((_SIZED, ext[byte], 1))
        elif byte in fixed:
            table.append((_SCALAR, fixed[byte], 0))
        elif byte in (0xDC, 0xDD):
            table.append((_ARRAY, 2 if byte == 0xDC else 4, 0))
        elif byte in (0xDE, 0xDF):
            table.append((_MAP, 2 if byte == 0xDE else 4, 0))
        else:
            table.append((_INVALID, 0, 0))
    return tuple(table)


_HEADERS = _header_table()


def check_shape(data: bytes | bytearray | memoryview, max_depth: int, what: str) -> None:
    """Raise MalformedError unless ``data`` is exactly one msgpack value whose containers nest
    at most ``max_depth`` deep (a top-level array is depth 1). Never recurses."""
    view = bytes(data) if isinstance(data, memoryview) else data
    end = len(view)
    pos = 0
    left = 1  # items still to read in the innermost open container (the top level holds one)
    outer: list[int] = []  # the same count for every enclosing container
    while True:
        if left == 0:
            if not outer:
                break
            left = outer.pop()
            continue
        left -= 1
        if pos >= end:
            raise MalformedError(f"{what}: truncated at byte {pos}")
        kind, size, extra = _HEADERS[view[pos]]
        if kind == _SCALAR:
            pos += size
            continue
        if kind == _INVALID:
            raise MalformedError(f"{what}: byte 0x{view[pos]:02x} at {pos} is not msgpack")
        start = pos + 1
        pos = start + size
        if pos > end:
            raise MalformedError(f"{what}: truncated at byte {end}")
        count = int.from_bytes(view[start:pos], "big") if size else extra
        if kind == _SIZED:
            pos += extra + count
            continue
        if kind == _MAP:
            count *= 2
        if len(outer) >= max_depth:
            raise MalformedError(
                f"{what}: nested deeper than {max_depth} levels at byte {start - 1}"
            )
        if count > end - pos:
            raise MalformedError(f"{what}: a container of {count} items in {end - pos} bytes")
        outer.append(left)
        left = count
    if pos != end:
        problem = "truncated" if pos > end else f"{end - pos} bytes after the value"
        raise MalformedError(f"{what}: {problem}")
