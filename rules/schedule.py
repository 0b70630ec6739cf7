"""Things due at a ledger time, kept as a binary min-heap in a table's rows.

A workflow files ``(due_ms, item)``; its block hook takes every entry due at or before the
block's time. The earliest entry is always the root, so a block with nothing due reads one row,
and taking ``k`` due entries out of ``n`` costs ``k * log2(n)`` row reads and writes: the cost
follows the number of items due, never the time elapsed between two blocks (walking each
elapsed second made a block after a week-long gap take seconds). Entries come out in
``(due_ms, item)`` order, and the heap's layout depends only on the sequence of filings and
takings, which every validator executes alike, so the table digest is the same everywhere.

Rows: ``b"n"`` holds the entry count; ``b"h" + slot`` (8 bytes big-endian) holds the entry at
heap slot ``slot``, whose children are at ``2*slot + 1`` and ``2*slot + 2``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_SIZE = b"n"

ScheduleRow = tuple[int, bytes] | int
"""Row type of a schedule table: a ``(due_ms, item)`` entry at one heap slot, or the count."""


def _slot_key(slot: int) -> bytes:
    return b"h" + slot.to_bytes(8, "big")


def _entry(state: Any, table: str, slot: int) -> tuple[int, bytes]:
    entry: tuple[int, bytes] = state.get(table, _slot_key(slot))
    return entry


def file_due(state: Any, table: str, due_ms: int, item: bytes) -> None:
    """Schedule ``item`` (an id) for the first block whose time is at least ``due_ms``."""
    entry = (due_ms, item)
    slot = state.get(table, _SIZE) or 0
    state.put(table, _SIZE, slot + 1)
    while slot > 0:
        parent = (slot - 1) // 2
        above = _entry(state, table, parent)
        if above <= entry:
            break
        state.put(table, _slot_key(slot), above)
        slot = parent
    state.put(table, _slot_key(slot), entry)


def next_due(state: Any, table: str) -> int | None:
    """The earliest due time in the schedule, or None when it is empty: one row read."""
    root = state.get(table, _slot_key(0))
    return None if root is None else int(root[0])


def take_due(state: Any, table: str, now_ms: int) -> list[bytes]:
    """Every item due at or before ``now_ms``, in ``(due_ms, item)`` order, removed."""
    due: list[bytes] = []
    while (root := state.get(table, _slot_key(0))) is not None and root[0] <= now_ms:
        due.append(root[1])
        _pop_root(state, table)
    return due


def _pop_root(state: Any, table: str) -> None:
    """Remove the root: the last entry moves to the root and sinks to its place."""
    size: int = state.get(table, _SIZE) - 1
    last = _entry(state, table, size)
    state.delete(table, _slot_key(size))
    if size == 0:
        state.delete(table, _SIZE)
        return
    state.put(table, _SIZE, size)
    slot = 0
    while (child := 2 * slot + 1) < size:
        smaller = _entry(state, table, child)
        if child + 1 < size and (right := _entry(state, table, child + 1)) < smaller:
            child, smaller = child + 1, right
        if last <= smaller:
            break
        state.put(table, _slot_key(slot), smaller)
        slot = child
    state.put(table, _slot_key(slot), last)


def earliest_due(state: Any, schema: Mapping[str, object]) -> int | None:
    """The earliest due time over every schedule of ``schema`` (the tables whose row type is
    ``ScheduleRow``), or None if nothing is scheduled."""
    schedules = [name for name, row in schema.items() if row is ScheduleRow]
    times = [t for name in schedules if (t := next_due(state, name)) is not None]
    return min(times, default=None)
