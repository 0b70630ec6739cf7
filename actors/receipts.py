"""A receipt future that works both blocking and with ``await``.

pykka futures block the event loop when awaited, so submissions answer with this instead. A host
submitting thousands of events a second makes one per event, so it is built on one plain lock:
a ``concurrent.futures.Future`` costs a condition variable, a re-entrant lock and a deque each,
which showed up as an eighth of the submitting thread's time. A waiting thread gets an event
only when it actually blocks; an awaiting coroutine gets the outcome through its loop's
``call_soon_threadsafe``, since receipts arrive on actor threads.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Generator
from typing import Any

from consortium.actors.messages import Receipt
from consortium.events.errors import ReceiptTimeout

Outcome = Receipt | BaseException
_PENDING: Any = object()


class ReceiptFuture:
    __slots__ = ("_lock", "_outcome", "_watchers")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outcome: Outcome = _PENDING
        self._watchers: list[Callable[[Outcome], None]] = []

    def set(self, receipt: Receipt) -> None:
        """Resolve once; later receipts for the same event are ignored."""
        self._resolve(receipt)

    def fail(self, error: BaseException) -> None:
        self._resolve(error)

    def _resolve(self, outcome: Outcome) -> None:
        with self._lock:
            if self._outcome is not _PENDING:
                return
            self._outcome = outcome
            watchers, self._watchers = self._watchers, []
        for watch in watchers:
            watch(outcome)

    def when_resolved(self, watch: Callable[[Outcome], None]) -> None:
        """Call ``watch(outcome)`` once resolved, receipt or failure: now if it already is."""
        with self._lock:
            if self._outcome is _PENDING:
                self._watchers.append(watch)
                return
        watch(self._outcome)

    def add_done_callback(self, fn: Callable[[Receipt], None]) -> None:
        """Call ``fn(receipt)`` once the receipt is in, on whichever thread delivers it; never
        called if the submission failed."""

        def on_outcome(outcome: Outcome) -> None:
            if isinstance(outcome, Receipt):
                fn(outcome)

        self.when_resolved(on_outcome)

    def done(self) -> bool:
        return self._outcome is not _PENDING

    def result(self, timeout: float | None = None) -> Receipt:
        """Block until the receipt arrives; ``ReceiptTimeout`` after ``timeout`` seconds."""
        if self._outcome is _PENDING:
            arrived = threading.Event()
            self.when_resolved(lambda _: arrived.set())
            if not arrived.wait(timeout):
                raise ReceiptTimeout(
                    f"no receipt within {timeout} s; the event may still commit: wait longer, "
                    "or check that a quorum of validators is running"
                )
        return _unwrap(self._outcome)

    def __await__(self) -> Generator[Any, None, Receipt]:
        if self._outcome is _PENDING:
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[Outcome] = loop.create_future()

            def hand_over(outcome: Outcome) -> None:
                if not waiter.done():
                    waiter.set_result(outcome)

            def wake(outcome: Outcome) -> None:
                try:
                    loop.call_soon_threadsafe(hand_over, outcome)
                except RuntimeError:  # the loop was closed: nobody is awaiting any more
                    pass

            self.when_resolved(wake)
            yield from waiter.__await__()
        return _unwrap(self._outcome)


def _unwrap(outcome: Outcome) -> Receipt:
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome
