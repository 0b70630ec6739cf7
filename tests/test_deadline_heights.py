"""Deadline-driven heights on the core harness: an idle ledger makes a block only when due."""

from __future__ import annotations

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
