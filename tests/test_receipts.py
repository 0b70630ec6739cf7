"""ReceiptFuture: resolved once from an actor thread, read by blocking, callback or await."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import pytest

from consortium.actors.messages import Receipt
from consortium.actors.receipts import ReceiptFuture
from consortium.events.errors import ReceiptTimeout
from consortium.events.results import ACCEPTED, Code, EventResult


def _receipt(tag: bytes, result: EventResult = ACCEPTED) -> Receipt:
    return Receipt(tag * 32, result, 7, 0)


def test_first_receipt_wins_and_callbacks_run_once() -> None:
    future = ReceiptFuture()
    seen: list[Receipt] = []
    future.add_receipt_callback(seen.append)
    assert not future.done()
    future.set(_receipt(b"a"))
    future.set(_receipt(b"b", EventResult(Code.INVALID, "late")))
    future.add_receipt_callback(seen.append)  # added after resolution: runs at once
    assert future.done()
    assert future.result(0).event_id == b"a" * 32
    assert [r.event_id for r in seen] == [b"a" * 32, b"a" * 32]


def test_failure_raises_from_result_and_skips_callbacks() -> None:
    future = ReceiptFuture()
    seen: list[Receipt] = []
    future.add_receipt_callback(seen.append)
    future.fail(ConnectionError("validator gone"))
    future.set(_receipt(b"a"))  # too late: the failure stands
    with pytest.raises(ConnectionError, match="validator gone"):
        future.result(0)
    assert seen == []


def test_result_waits_for_another_thread_and_times_out_otherwise() -> None:
    future = ReceiptFuture()
    with pytest.raises(ReceiptTimeout, match=r"no receipt within 0\.01 s"):
        future.result(0.01)
    threading.Timer(0.02, future.set, args=(_receipt(b"c"),)).start()
    assert future.result(5).event_id == b"c" * 32


@pytest.mark.asyncio
async def test_await_receives_a_receipt_set_on_another_thread() -> None:
    future = ReceiptFuture()
    threading.Timer(0.02, future.set, args=(_receipt(b"d"),)).start()
    receipt = await asyncio.wait_for(future, 5)
    assert receipt.event_id == b"d" * 32
    assert (await future).event_id == b"d" * 32  # awaiting a resolved future returns at once


@pytest.mark.asyncio
async def test_await_raises_the_failure() -> None:
    future = ReceiptFuture()
    threading.Timer(0.02, future.fail, args=(ConnectionError("closed"),)).start()
    with pytest.raises(ConnectionError, match="closed"):
        await asyncio.wait_for(future, 5)


def test_wait_and_as_completed_see_futures_resolved_on_other_threads() -> None:
    futures = [ReceiptFuture() for _ in range(3)]
    futures[0].set(_receipt(b"x"))
    threading.Timer(0.02, futures[1].set, args=(_receipt(b"y"),)).start()
    threading.Timer(0.03, futures[2].fail, args=(ConnectionError("gone"),)).start()
    done, pending = concurrent.futures.wait(futures, timeout=5)
    assert done == set(futures) and not pending
    assert set(concurrent.futures.as_completed(futures, timeout=5)) == set(futures)
    late = [ReceiptFuture(), ReceiptFuture()]
    threading.Timer(0.02, late[1].set, args=(_receipt(b"z"),)).start()
    first = next(concurrent.futures.as_completed(late, timeout=5))
    assert first is late[1] and first.exception() is None
    assert isinstance(futures[2].exception(0), ConnectionError)
    assert not futures[0].cancel() and not futures[0].cancelled()


def test_done_callbacks_get_the_future_whatever_the_outcome() -> None:
    """``add_done_callback`` follows ``Future``: ``fn(future)``, for a failure too."""
    succeeded, failed = ReceiptFuture(), ReceiptFuture()
    seen: list[concurrent.futures.Future[Receipt]] = []
    succeeded.add_done_callback(seen.append)
    failed.add_done_callback(seen.append)
    succeeded.set(_receipt(b"s"))
    failed.fail(ConnectionError("gone"))
    failed.add_done_callback(seen.append)  # added after resolution: runs at once
    assert seen == [succeeded, failed, failed]


@pytest.mark.asyncio
async def test_asyncio_wrap_future_carries_receipts_and_failures() -> None:
    future, failing = ReceiptFuture(), ReceiptFuture()
    threading.Timer(0.02, future.set, args=(_receipt(b"w"),)).start()
    threading.Timer(0.02, failing.fail, args=(ConnectionError("closed"),)).start()
    receipt = await asyncio.wait_for(asyncio.wrap_future(future), 5)
    assert receipt.event_id == b"w" * 32
    with pytest.raises(ConnectionError, match="closed"):
        await asyncio.wait_for(asyncio.wrap_future(failing), 5)
