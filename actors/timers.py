"""One timer thread for all validators of a process.

The consensus core asks for timeouts; this thread tells the asking actor when one is due. A
single heap keeps the thread count at one however many rounds are pending.

Most timeouts go stale before they are due: every height arms a propose, a resend and two vote
timers of a second or more, and at a hundred heights a second nearly all of them outlive their
height. Each carries a ``wanted`` test; stale ones are dropped from the heap as soon as the
earliest deadline is one of them, all in one pass, so they cost neither a wake-up of this
thread nor a message to the actor that would only be ignored.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable


def _always() -> bool:
    return True


class TimerService:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None], Callable[[], bool]]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="consortium-timers", daemon=True)
        self._thread.start()

    def call_later(
        self,
        delay_ms: int,
        callback: Callable[[], None],
        wanted: Callable[[], bool] = _always,
    ) -> None:
        """Call ``callback`` on this thread after ``delay_ms``, unless ``wanted()`` is False by
        then. ``wanted`` runs on this thread under its lock: it must be quick, must not block,
        and once False must stay False (a stale timer is dropped, not postponed)."""
        due = time.monotonic() + delay_ms / 1000
        with self._wake:
            earliest = self._heap[0][0] if self._heap else None
            heapq.heappush(self._heap, (due, next(self._order), callback, wanted))
            if earliest is None or due < earliest:
                self._wake.notify()  # only a new earliest deadline changes the thread's wait

    def pending(self) -> int:
        """How many timers are armed, stale ones not yet dropped included (for tests and
        operators: a number that keeps growing means timers are not being dropped)."""
        with self._wake:
            return len(self._heap)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopped and not self._earliest_due():
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._wake.wait(timeout)
                if self._stopped:
                    return
                _, _, callback, _ = heapq.heappop(self._heap)
            callback()

    def _earliest_due(self) -> bool:
        """Whether the earliest wanted timer is due. When the earliest is stale, every stale
        timer goes at once: they are the older heights' timers, and dropping them one by one
        would wake this thread for each."""
        if self._heap and not self._heap[0][3]():
            self._heap = [entry for entry in self._heap if entry[3]()]
            heapq.heapify(self._heap)
        return bool(self._heap) and self._heap[0][0] <= time.monotonic()

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()
        self._thread.join(timeout=5)
