"""Deadline-driven heights: an idle ledger makes a block only when something falls due (the
core harness, then an embedded consortium on the wall clock)."""

from __future__ import annotations

import time
from pathlib import Path

from consortium.events.credit import PendingTransfer
from tests.consortium_fixtures import funded_users, start, wait_until
from tests.core_harness import MemoryNetwork


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
