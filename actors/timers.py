"""One timer thread for all validators of a process.

The consensus core asks for timeouts; this thread tells the asking actor when one is due. A
single heap keeps the thread count at one however many rounds are pending.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable


class TimerService:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="consortium-timers", daemon=True)
        self._thread.start()

    def call_later(self, delay_ms: int, callback: Callable[[], None]) -> None:
        due = time.monotonic() + delay_ms / 1000
        with self._wake:
            earliest = self._heap[0][0] if self._heap else None
            heapq.heappush(self._heap, (due, next(self._order), callback))
            if earliest is None or due < earliest:
                self._wake.notify()  # only a new earliest deadline changes the thread's wait

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._wake.wait(timeout)
                if self._stopped:
                    return
                _, _, callback = heapq.heappop(self._heap)
            callback()

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()
        self._thread.join(timeout=5)
