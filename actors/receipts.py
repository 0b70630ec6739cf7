"""A receipt future that works both blocking and with ``await``.

pykka futures block the event loop when awaited, so submissions answer with this instead: a
``concurrent.futures.Future`` underneath, bridged to asyncio with ``asyncio.wrap_future``, which
hands the result to the loop thread-safely.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Generator
from typing import Any

from actors.messages import Receipt
from events.errors import ReceiptTimeout


class ReceiptFuture:
    def __init__(self) -> None:
        self._future: concurrent.futures.Future[Receipt] = concurrent.futures.Future()

    def set(self, receipt: Receipt) -> None:
        """Resolve once; later receipts for the same event are ignored."""
        if not self._future.done():
            try:
                self._future.set_result(receipt)
            except concurrent.futures.InvalidStateError:
                pass

    def fail(self, error: BaseException) -> None:
        if not self._future.done():
            self._future.set_exception(error)

    def add_done_callback(self, fn: Callable[[Receipt], None]) -> None:
        """Call ``fn(receipt)`` once the receipt is in, on whichever thread delivers it."""
        self._future.add_done_callback(lambda f: None if f.exception() else fn(f.result()))

    def done(self) -> bool:
        return self._future.done()

    def result(self, timeout: float | None = None) -> Receipt:
        """Block until the receipt arrives; ``ReceiptTimeout`` after ``timeout`` seconds."""
        try:
            return self._future.result(timeout)
        except concurrent.futures.TimeoutError as exc:
            raise ReceiptTimeout(
                f"no receipt within {timeout} s; the event may still commit: wait longer, or "
                "check that a quorum of validators is running"
            ) from exc

    def __await__(self) -> Generator[Any, None, Receipt]:
        return asyncio.wrap_future(self._future).__await__()
