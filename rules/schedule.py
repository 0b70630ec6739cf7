"""Things due at a ledger time, found without scanning: rows keyed by the second they fall due.

A workflow files an item under ``second = due_ms // 1000``; its block hook asks for every item
due up to the block's time. A cursor row remembers the last second handled, so each block walks
only the seconds since the previous block (a bounded walk of dictionary lookups), in order.
"""

from __future__ import annotations

from rules.state import Overlay

_CURSOR = b"cursor"


def _second_key(second: int) -> bytes:
    return b"s" + second.to_bytes(8, "big")


def file_due(state: Overlay, table: str, due_ms: int, item: bytes) -> None:
    """Schedule ``item`` (an id) for the first block whose time is at least ``due_ms``."""
    second = -(-due_ms // 1000)  # round up: never early
    key = _second_key(second)
    items = state.get(table, key) or ()
    state.put(table, key, (*items, item))
    cursor = state.get(table, _CURSOR)
    if cursor is None or cursor >= second:
        state.put(table, _CURSOR, second - 1)


def take_due(state: Overlay, table: str, now_ms: int) -> list[bytes]:
    """Every item due at or before ``now_ms``, in due order, removed from the schedule."""
    cursor = state.get(table, _CURSOR)
    now = now_ms // 1000
    if cursor is None or cursor >= now:
        return []
    due: list[bytes] = []
    for second in range(cursor + 1, now + 1):
        key = _second_key(second)
        items = state.get(table, key)
        if items:
            due.extend(items)
            state.delete(table, key)
    state.put(table, _CURSOR, now)
    return due
