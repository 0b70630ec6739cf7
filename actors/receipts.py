"""A receipt future that works both blocking and with ``await``, and is a
``concurrent.futures.Future`` for ``concurrent.futures.wait``, ``as_completed`` and
``asyncio.wrap_future``.

pykka futures block the event loop when awaited, so submissions answer with this instead. A host
submitting thousands of events a second makes one per event, so it is built on one plain lock:
a ``concurrent.futures.Future`` costs a condition variable, a re-entrant lock and a deque each,
which showed up as an eighth of the submitting thread's time. It therefore subclasses ``Future``
without running ``Future.__init__``: the condition variable that ``wait`` and ``as_completed``
synchronise on is made only when one of them first asks for it (``__getattr__``), and resolving
keeps ``_state`` and the waiters those helpers install up to date under it. A waiting thread
gets an event only when it actually blocks; an awaiting coroutine gets the outcome through its
loop's ``call_soon_threadsafe``, since receipts arrive on actor threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Generator
from typing import Any

from consortium.actors.messages import Receipt
from consortium.events.errors import ReceiptTimeout

Outcome = Receipt | BaseException
_PENDING: Any = object()


# The states ``concurrent.futures`` reads from a future's ``_state``.
_WAITING = "PENDING"
_FINISHED = "FINISHED"


class ReceiptFuture(concurrent.futures.Future[Receipt]):
    # What ``Future`` keeps per instance, as class defaults until resolved (cheaper than
    # setting each on every one of thousands of futures a second).
    _state = _WAITING
    _result = None
    _exception = None

    def __init__(self) -> None:  # not Future.__init__: no condition variable until one is asked
        self._lock = threading.Lock()
        self._outcome: Outcome = _PENDING
        self._watchers: list[Callable[[Outcome], None]] = []

    def __getattr__(self, name: str) -> Any:
        """Make ``_condition`` and ``_waiters`` on first use (by ``wait``/``as_completed``)."""
        if name not in ("_condition", "_waiters"):
            raise AttributeError(name)
        with self._lock:
            if "_condition" not in self.__dict__:
                self.__dict__["_condition"] = threading.Condition()
                self.__dict__["_waiters"] = []
        return self.__dict__[name]

    def set(self, receipt: Receipt) -> None:
        """Resolve once; later receipts for the same event are ignored."""
        self._resolve(receipt)

    def fail(self, error: BaseException) -> None:
        self._resolve(error)

    def set_result(self, result: Receipt) -> None:
        self._resolve(result)

    def set_exception(self, exception: BaseException | None) -> None:
        self._resolve(exception if exception is not None else RuntimeError("failed"))

    def _resolve(self, outcome: Outcome) -> None:
        with self._lock:
            if self._outcome is not _PENDING:
                return
            self._outcome = outcome
            if isinstance(outcome, BaseException):
                self._exception = outcome
            else:
                self._result = outcome
            self._state = _FINISHED
            watchers, self._watchers = self._watchers, []
            condition: threading.Condition | None = self.__dict__.get("_condition")
        if condition is not None:  # a wait() or as_completed() may be watching
            with condition:
                for waiter in self._waiters:
                    if isinstance(outcome, BaseException):
                        waiter.add_exception(self)
                    else:
                        waiter.add_result(self)
                condition.notify_all()
        for watch in watchers:
            watch(outcome)

    def cancel(self) -> bool:
        """A submitted event cannot be called back: always False."""
        return False

    def cancelled(self) -> bool:
        return False

    def running(self) -> bool:
        return False

    def when_resolved(self, watch: Callable[[Outcome], None]) -> None:
        """Call ``watch(outcome)`` once resolved, receipt or failure: now if it already is."""
        with self._lock:
            if self._outcome is _PENDING:
                self._watchers.append(watch)
                return
        watch(self._outcome)

    def add_done_callback(self, fn: Callable[[concurrent.futures.Future[Receipt]], object]) -> None:
        """As ``Future.add_done_callback``: ``fn(self)`` once resolved, receipt or failure, on
        whichever thread resolves it (now if it already is). ``asyncio.wrap_future`` chains
        through this."""

        def on_outcome(_: Outcome) -> None:
            fn(self)

        self.when_resolved(on_outcome)

    def add_receipt_callback(self, fn: Callable[[Receipt], None]) -> None:
        """Call ``fn(receipt)`` once the receipt is in, on whichever thread delivers it; never
        called if the submission failed. Saves a ``result()`` call per event for a host that
        only counts receipts."""

        def on_outcome(outcome: Outcome) -> None:
            if isinstance(outcome, Receipt):
                fn(outcome)

        self.when_resolved(on_outcome)

    def done(self) -> bool:
        return self._outcome is not _PENDING

    def result(self, timeout: float | None = None) -> Receipt:
        """Block until the receipt arrives; ``ReceiptTimeout`` after ``timeout`` seconds."""
        return _unwrap(self._wait(timeout))

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The failure, or None for a receipt (a rejected event is a receipt, not a failure)."""
        outcome = self._wait(timeout)
        return outcome if isinstance(outcome, BaseException) else None

    def _wait(self, timeout: float | None) -> Outcome:
        if self._outcome is _PENDING:
            arrived = threading.Event()
            self.when_resolved(lambda _: arrived.set())
            if not arrived.wait(timeout):
                raise ReceiptTimeout(
                    f"no receipt within {timeout} s; the event may still commit: wait longer, "
                    "or check that a quorum of validators is running"
                )
        return self._outcome

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
