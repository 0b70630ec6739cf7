"""Subscriptions to committed blocks: a callback, or an async iterator, per subscriber.

The validator hands each committed block to a bounded queue and returns at once; a dispatcher
thread of the subscription decodes the events and calls the host. A host slower than the ledger
does not slow consensus: once its queue is full the subscription ends with
``SubscriptionOverflow`` (raised by the iterator, passed to ``on_error``), and the host can
re-read what it missed from the projections or the log.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from consortium.events.body import EventBody
from consortium.events.envelope import decode_body, decode_envelope, signers
from consortium.events.errors import ConsortiumError
from consortium.events.logs import get_logger
from consortium.events.results import EventResult
from consortium.ledger.node import CommitRecord, TableChanges

log = get_logger(__name__)
_CLOSED = object()


class SubscriptionOverflow(ConsortiumError):
    """The subscriber fell too far behind; re-read the projections and subscribe again."""


@dataclass(frozen=True, slots=True)
class CommittedEvent:
    event_id: bytes
    body: EventBody
    signers: tuple[bytes, ...]
    result: EventResult


@dataclass(frozen=True, slots=True)
class BlockNotice:
    """One committed block as a subscriber sees it: its events and the rows it changed."""

    height: int
    time_ms: int
    events: tuple[CommittedEvent, ...]
    changes: TableChanges

    def changed(self, table: str) -> Mapping[bytes, Any]:
        """Rows of ``table`` this block wrote (None for a deleted row)."""
        return self.changes.get(table, {})


def notice_of(record: CommitRecord) -> BlockNotice:
    events = []
    triples = zip(record.committed.block.events, record.event_ids, record.results, strict=True)
    for envelope_bytes, eid, result in triples:
        envelope = decode_envelope(envelope_bytes)
        events.append(CommittedEvent(eid, decode_body(envelope.body), signers(envelope), result))
    header = record.committed.block.header
    return BlockNotice(header.height, header.time_ms, tuple(events), record.changes)


class Subscription:
    """Made by ``Consortium.subscribe`` (callback) or ``Consortium.subscribe_async`` (async
    iterator); ``close()`` ends it, and so does stopping the consortium.

    It is a context manager either way, so a host that leaves the block, or abandons an async
    iteration by ``break`` or an exception, does not leave its dispatcher thread running:
    ``with consortium.subscribe(cb) as sub:``, ``async with consortium.subscribe_async() as
    sub:``; ``await sub.aclose()`` closes it from a coroutine."""

    def __init__(
        self,
        callback: Callable[[BlockNotice], None] | None,
        on_error: Callable[[Exception], None] | None,
        capacity: int,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._callback = callback
        self._on_error = on_error
        self._queue: queue.Queue[Any] = queue.Queue(capacity)
        self._loop = loop
        self._inbox: asyncio.Queue[Any] | None = asyncio.Queue() if loop is not None else None
        self.closed = False
        self._thread = threading.Thread(
            target=self._dispatch, daemon=True, name="consortium-subscription"
        )
        self._thread.start()

    def listener(self, record: CommitRecord) -> None:
        """The validator-side half: never blocks the validator."""
        if self.closed:
            return
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.fail(
                SubscriptionOverflow(
                    "the subscriber fell behind by more blocks than its queue holds; "
                    "re-read the projections and subscribe again"
                )
            )

    def fail(self, error: ConsortiumError) -> None:
        """End the subscription with ``error`` (passed to ``on_error``, raised by the iterator)
        after the blocks still queued, or instead of them when the queue is full."""
        if self.closed:
            return
        self.closed = True
        try:
            self._queue.put_nowait(error)
        except queue.Full:
            self._queue = queue.Queue(1)  # the dispatcher is not waiting: it reads this next
            self._queue.put_nowait(error)

    def _dispatch(self) -> None:
        while True:
            item = self._queue.get()
            if item is _CLOSED or isinstance(item, Exception):
                if isinstance(item, Exception) and self._on_error is not None:
                    self._on_error(item)
                self._hand_over(item)
                return
            notice = notice_of(item)
            if self._callback is not None:
                try:
                    self._callback(notice)
                except Exception:
                    log.exception("a subscription callback failed")
            self._hand_over(notice)

    def _hand_over(self, item: object) -> None:
        if self._loop is not None and self._inbox is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._inbox.put_nowait, item)

    def close(self, timeout_s: float | None = 5.0) -> None:
        """End the subscription and wait (up to ``timeout_s``) for its dispatcher thread, which
        first finishes the block it is handing over; from that thread itself (a callback that
        closes its own subscription), it does not wait."""
        if not self.closed:
            self.closed = True
            self._queue.put(_CLOSED)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def aclose(self) -> None:
        """``close()`` without blocking the event loop while the dispatcher thread ends."""
        await asyncio.to_thread(self.close)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> Subscription:
        if self._inbox is None:
            raise TypeError("iterate a subscription made by Consortium.subscribe_async")
        return self

    async def __anext__(self) -> BlockNotice:
        assert self._inbox is not None
        item = await self._inbox.get()
        if item is _CLOSED:
            raise StopAsyncIteration
        if isinstance(item, Exception):
            raise item
        notice: BlockNotice = item
        return notice
