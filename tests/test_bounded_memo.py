"""The memo shared by validators of one process: bounded, oldest out first, safe across threads."""

from __future__ import annotations

import threading

import pytest

from consortium.events.bounded_memo import BoundedMemo


def test_the_oldest_entry_leaves_first_and_reads_do_not_reorder() -> None:
    memo: BoundedMemo[int, str] = BoundedMemo(3)
    for key in range(3):
        memo.put(key, str(key))
    assert memo.get(0) == "0"  # read, yet still the oldest
    memo.put(3, "3")
    assert len(memo) == 3
    assert memo.get(0) is None
    assert [memo.get(k) for k in (1, 2, 3)] == ["1", "2", "3"]
    assert memo.hits == 4
    memo.put(2, "two")  # a rewrite keeps its place and replaces the value
    memo.put(4, "4")
    assert memo.get(1) is None and memo.get(2) == "two"


def test_capacity_must_be_positive() -> None:
    for capacity in (0, -1):
        with pytest.raises(ValueError, match="at least 1"):
            BoundedMemo[int, int](capacity)


def test_threads_filling_and_reading_it_at_once_never_exceed_the_bound() -> None:
    memo: BoundedMemo[tuple[int, int], int] = BoundedMemo(100)
    wrong: list[tuple[int, int]] = []

    def work(thread: int) -> None:
        for i in range(5_000):
            memo.put((thread, i), i)
            found = memo.get((thread, i - 50))
            if found is not None and found != i - 50:
                wrong.append((thread, i))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
    assert len(memo) == 100
