"""Subscriptions: committed blocks and changed rows, by callback and by async iteration."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from consortium import Transfer
from consortium.rules.tables import account_key
from tests.consortium_fixtures import funded_users, start


def test_callback_sees_every_committed_event_and_changed_accounts(tmp_path: Path) -> None:
    c = start(tmp_path)
    try:
        alice, bob = funded_users(c, 2)
        seen: list = []
        done = threading.Event()

        def on_block(notice) -> None:
            seen.append(notice)
            if sum(len(n.events) for n in seen) >= 5:
                done.set()

        sub = c.subscribe(on_block, validator=2)
        receipts = [
            alice.submit(Transfer(token="NORTH", to=bob.public_key, amount=i + 1)) for i in range(5)
        ]
        ids = {r.result(10).event_id for r in receipts}
        assert done.wait(10)
        events = [e for n in seen for e in n.events]
        assert {e.event_id for e in events} == ids
        assert all(e.result.accepted and e.signers[0] == alice.public_key for e in events)
        heights = [n.height for n in seen]
        assert heights == sorted(heights)
        last = seen[-1].changed("accounts")[account_key(bob.public_key, "NORTH")]
        assert last.balance == c.balance(bob.public_key, "NORTH", validator=2)
        sub.close()
    finally:
        c.stop()


@pytest.mark.asyncio
async def test_async_iteration_yields_blocks_and_ends_at_stop(tmp_path: Path) -> None:
    c = start(tmp_path)
    try:
        alice, bob = funded_users(c, 2)
        sub = c.subscribe_async()
        receipt = await alice.submit(Transfer(token="NORTH", to=bob.public_key, amount=7))

        async def first_with_event():
            async for notice in sub:
                if any(e.event_id == receipt.event_id for e in notice.events):
                    return notice
            return None

        notice = await asyncio.wait_for(first_with_event(), 10)
        assert notice is not None and notice.height == receipt.height
    finally:
        c.stop()

    async def drain() -> list:
        return [n async for n in sub]

    rest = await asyncio.wait_for(drain(), 5)  # ends: stopping closed the subscription
    assert all(n.height > notice.height for n in rest)


def test_a_subscriber_that_falls_behind_is_told_and_consensus_goes_on(tmp_path: Path) -> None:
    c = start(tmp_path)
    try:
        alice, bob = funded_users(c, 2)
        release = threading.Event()
        errors: list[Exception] = []
        sub = c.subscribe(lambda n: release.wait(10), capacity=1, on_error=errors.append)
        for _ in range(6):
            assert (
                alice.submit(Transfer(token="NORTH", to=bob.public_key, amount=1))
                .result(10)
                .accepted
            )
        release.set()
        sub._thread.join(10)
        assert errors and "fell behind" in str(errors[0])
    finally:
        c.stop()


def _dispatchers() -> int:
    return sum(t.name == "consortium-subscription" for t in threading.enumerate())


def test_a_subscription_used_as_a_context_manager_stops_its_thread() -> None:
    from consortium.subscriptions import Subscription

    before = _dispatchers()
    with Subscription(lambda notice: None, None, 10) as sub:
        assert _dispatchers() == before + 1
    assert sub.closed and _dispatchers() == before


@pytest.mark.asyncio
async def test_an_abandoned_async_subscription_stops_its_thread() -> None:
    from consortium.subscriptions import Subscription

    before = _dispatchers()
    async with Subscription(None, None, 10, asyncio.get_running_loop()) as sub:
        assert _dispatchers() == before + 1
    assert sub.closed and _dispatchers() == before
    other = Subscription(None, None, 10, asyncio.get_running_loop())
    await other.aclose()
    assert _dispatchers() == before
    assert [n async for n in other] == []  # a closed subscription's iteration ends
