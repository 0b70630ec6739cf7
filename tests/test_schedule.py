"""The due-item schedule: its cost follows the items due, not the time elapsed."""

from __future__ import annotations

import random
from typing import Any

from consortium.rules.schedule import ScheduleRow, earliest_due, file_due, next_due, take_due
from consortium.rules.state import Overlay, State

YEAR_MS = 366 * 24 * 3600 * 1000


class CountingOverlay(Overlay):
    """An overlay that counts its row reads, the schedule's unit of cost."""

    def __init__(self, parent: State) -> None:
        super().__init__(parent)
        self.reads = 0

    def get(self, table: str, key: bytes) -> Any:
        self.reads += 1
        return super().get(table, key)


def _state() -> State:
    return State({"due": ScheduleRow, "other_due": ScheduleRow, "plain": int})


def test_a_year_long_clock_jump_costs_what_one_due_item_costs() -> None:
    one_second = CountingOverlay(_state())
    file_due(one_second, "due", 1_000, b"a")
    one_second.reads = 0
    assert take_due(one_second, "due", 2_000) == [b"a"]
    cost_of_one = one_second.reads

    a_year = CountingOverlay(_state())
    file_due(a_year, "due", 1_000, b"a")
    a_year.reads = 0
    assert take_due(a_year, "due", 1_000 + YEAR_MS) == [b"a"]
    assert a_year.reads <= cost_of_one <= 4
    a_year.reads = 0
    assert take_due(a_year, "due", 2 * YEAR_MS) == []
    assert a_year.reads == 1  # an empty schedule is one read, however long the gap


def test_nothing_is_taken_before_it_is_due() -> None:
    state = Overlay(_state())
    file_due(state, "due", 5_500, b"x")
    assert take_due(state, "due", 5_499) == []
    assert next_due(state, "due") == 5_500
    assert take_due(state, "due", 5_500) == [b"x"]
    assert next_due(state, "due") is None
    assert list(state.rows("due")) == []  # an emptied schedule leaves no rows behind


def test_every_item_fires_once_in_due_order_with_cost_logarithmic_in_pending() -> None:
    rng = random.Random(24)
    entries = [(rng.randrange(0, 10**9), bytes([i % 256, i // 256])) for i in range(2000)]
    state = CountingOverlay(_state())
    for due_ms, item in entries:
        file_due(state, "due", due_ms, item)
    taken: list[bytes] = []
    now = 0
    while now <= 10**9:
        now += rng.randrange(1, 5 * 10**7)
        state.reads = 0
        batch = take_due(state, "due", now)
        assert state.reads <= 1 + len(batch) * 2 * 2 * 12  # log2(2000) < 11 levels
        taken.extend(batch)
    assert taken == [item for _, item in sorted(entries)]
    assert next_due(state, "due") is None


def test_the_layout_and_digest_depend_only_on_the_operations() -> None:
    def run() -> State:
        state = _state()
        overlay = Overlay(state)
        for i in range(50):
            file_due(overlay, "due", (i * 7919) % 101 * 1000, b"%d" % i)
        take_due(overlay, "due", 40_000)
        state.adopt(overlay, state.hashes_after(overlay)[0])
        return state

    first, second = run(), run()
    assert first.table_digests() == second.table_digests()
    assert list(first.rows("due")) == list(second.rows("due"))


def test_earliest_due_looks_only_at_schedules() -> None:
    state = Overlay(_state())
    schema = _state().schema
    assert earliest_due(state, schema) is None
    file_due(state, "due", 9_000, b"a")
    file_due(state, "other_due", 3_000, b"b")
    state.put("plain", b"h" + bytes(8), 1)  # a row that looks like a heap root, not a schedule
    assert earliest_due(state, schema) == 3_000
