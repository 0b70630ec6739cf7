"""Virtual time and the one queue every message, timer and fault goes through.

Items are ordered by (due time, sequence number), so a run is a function of its seed: nothing
sleeps, nothing runs on another thread, and equal due times keep the order they were queued in.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from consortium.consensus.actions import Timeout


@dataclass(frozen=True, order=True, slots=True)
class Endpoint:
    """A running copy of a validator: ``twin`` is 1 only for the second copy of a Twins key."""

    index: int
    twin: int = 0

    def __str__(self) -> str:
        return f"v{self.index}" + ("'" if self.twin else "")


@dataclass(frozen=True, slots=True)
class Deliver:
    sender: Endpoint
    target: Endpoint
    payload: bytes


@dataclass(frozen=True, slots=True)
class Fire:
    target: Endpoint
    incarnation: int
    timeout: Timeout


@dataclass(frozen=True, slots=True)
class Task:
    """A fault, a workload step or a check, run at its time."""

    label: str
    run: Callable[[], None]
    target: Endpoint | None = None  # deferred while this endpoint is paused


Item = Deliver | Fire | Task


@dataclass(order=True, slots=True)
class _Entry:
    due: int
    seq: int
    item: Item = field(compare=False)


class Scheduler:
    def __init__(self, start_ms: int) -> None:
        self.now = start_ms
        self._queue: list[_Entry] = []
        self._seq = itertools.count()

    def at(self, due: int, item: Item) -> None:
        heapq.heappush(self._queue, _Entry(max(due, self.now), next(self._seq), item))

    def after(self, delay_ms: int, item: Item) -> None:
        self.at(self.now + delay_ms, item)

    def pop(self) -> Item | None:
        if not self._queue:
            return None
        entry = heapq.heappop(self._queue)
        self.now = max(self.now, entry.due)
        return entry.item

    def __len__(self) -> int:
        return len(self._queue)
