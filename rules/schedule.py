"""Things due at a ledger time, found without scanning: entries filed under the second they fall
due.

A workflow files ``(due_ms, item)`` under ``second = due_ms // 1000``; its block hook takes every
entry due at or before the block's time. A cursor row remembers the last second fully handled,
so each block walks only the seconds since the previous block (a bounded walk of dictionary
lookups), in order, and an entry is taken in the first block whose time reaches it, never before.
"""

from __future__ import annotations

from typing import Any

_CURSOR = b"cursor"

ScheduleRow = tuple[tuple[int, bytes], ...] | int
"""Row type of a schedule table: a bucket of (due_ms, item) entries, or the cursor."""


def _second_key(second: int) -> bytes:
    return b"s" + second.to_bytes(8, "big")


def file_due(state: Any, table: str, due_ms: int, item: bytes) -> None:
    """Schedule ``item`` (an id) for the first block whose time is at least ``due_ms``."""
    second = due_ms // 1000
    key = _second_key(second)
    entries = state.get(table, key) or ()
    state.put(table, key, tuple(sorted((*entries, (due_ms, item)))))
    cursor = state.get(table, _CURSOR)
    if cursor is None or cursor >= second:
        state.put(table, _CURSOR, second - 1)


def take_due(state: Any, table: str, now_ms: int) -> list[bytes]:
    """Every item due at or before ``now_ms``, in due order, removed from the schedule."""
    cursor = state.get(table, _CURSOR)
    now = now_ms // 1000
    if cursor is None or cursor >= now:
        return []
    due: list[bytes] = []
    for second in range(cursor + 1, now + 1):
        key = _second_key(second)
        entries = state.get(table, key)
        if not entries:
            continue
        ready = [e for e in entries if e[0] <= now_ms]
        due.extend(item for _, item in ready)
        rest = tuple(e for e in entries if e[0] > now_ms)
        if rest:
            state.put(table, key, rest)
        else:
            state.delete(table, key)
    state.put(table, _CURSOR, now - 1)  # the current second may still hold later entries
    return due
