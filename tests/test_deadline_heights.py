"""Deadline-driven heights: an idle ledger makes a block only when something falls due (the
core harness, then an embedded consortium on the wall clock)."""

from __future__ import annotations

import time
from pathlib import Path

from consortium.events.credit import PendingTransfer
from consortium.events.payments import IssueTokens
from tests.actor_ledger import ActorLedger
from tests.consortium_fixtures import funded_users, start, wait_until
from tests.core_harness import MemoryNetwork
from tests.ledger_fixtures import ADMIN, ALICE, BOB, GENESIS


def test_an_idle_network_with_nothing_due_makes_no_blocks() -> None:
    net = MemoryNetwork(4)
    net.advance_to(600_000)
    assert net.heights() == [0, 0, 0, 0]


def test_a_due_time_on_an_idle_network_gets_one_block_soon_after_it() -> None:
    net = MemoryNetwork(4)
    due_ms = net.now + 50_000
    for i, app in enumerate(net.apps):
        app.deadlines.append(due_ms)
        net.restart(i)  # a due time comes with a committed state, which a core starts from
    net.advance_to(due_ms - 1)
    assert net.heights() == [0, 0, 0, 0]  # never before it is due
    assert net.run_until(lambda: net.heights() == [1, 1, 1, 1], max_ms=5_000)
    block = net.apps[0].chain[0].block
    assert block.events == ()
    assert due_ms <= block.header.time_ms
    net.advance_to(net.now + 600_000)
    assert net.heights() == [1, 1, 1, 1]  # handled: no more empty blocks


def test_an_idle_consortium_voids_a_lapsed_hold_by_itself(tmp_path: Path) -> None:
    """End to end, on the wall clock: nothing is submitted after the hold, yet its automatic
    void commits soon after its timeout, in an empty block; then the consortium is quiet."""
    with start(tmp_path) as consortium:
        payer, receiver = funded_users(consortium, 2, amount=1_000)
        payee = receiver.identity.public_key
        timeout_ms = int(time.time() * 1000) + 1_000
        hold = PendingTransfer(to=payee, token="NORTH", amount=400, timeout_ms=timeout_ms)
        assert payer.submit(hold).result(10).accepted
        owner = payer.identity.public_key
        assert consortium.balance(owner, "NORTH") == 600
        assert wait_until(lambda: consortium.balance(owner, "NORTH") == 1_000, 15)
        assert consortium.inspect(lambda node: node.log.head_time_ms) >= timeout_ms
        settled = consortium.height()
        time.sleep(1.0)  # three propose timeouts: no empty block without a due item
        assert consortium.height() == settled


def test_an_item_due_just_after_the_head_waits_for_the_clock(tmp_path: Path) -> None:
    """A block at the clock's time ``t`` makes the next block's earliest time ``t + 1``; an item
    due at ``t + 1`` is not due while the clock still reads ``t``, so no empty block may come
    (one did: the due time was held against the block time instead of the clock)."""
    ledger = ActorLedger(tmp_path, GENESIS)
    try:
        payer, payee = ALICE, BOB
        ledger.run(ledger.sign(ADMIN, IssueTokens(token="EUR", to=payer.public_key, amount=500)))
        hold = PendingTransfer(to=payee.public_key, token="EUR", amount=200, timeout_ms=5_001)
        assert ledger.run(ledger.sign(payer, hold), time_ms=5_000)[0].accepted
        height = ledger.consortium.height(0)
        time.sleep(0.5)  # longer than a propose timeout: room for a premature empty block
        assert ledger.consortium.height(0) == height
        assert ledger.consortium.balance(payer.public_key, "EUR", 0) == 300
        ledger.now = 5_001  # now it is due: the idle consortium voids the hold by itself
        assert wait_until(lambda: ledger.consortium.balance(payer.public_key, "EUR", 0) == 500)
    finally:
        ledger.stop()
