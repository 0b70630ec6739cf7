"""The pure consensus core on a deterministic in-memory network: no actors, no threads."""

from __future__ import annotations

import pytest

from consortium.config import ConsortiumConfig
from consortium.consensus.actions import ScheduleTimeout, Step
from consortium.consensus.certificates import qc_problem
from consortium.consensus.config import ConsensusConfig
from tests.core_harness import MemoryNetwork


def _all_at(net: MemoryNetwork, height: int, among: range | list[int] | None = None):
    ids = among if among is not None else range(len(net.cores))
    return lambda: all(net.heights()[i] >= height for i in ids)


def _assert_same_chain(net: MemoryNetwork, ids: list[int]) -> None:
    height = min(net.heights()[i] for i in ids)
    for h in range(height):
        hashes = {net.apps[i].chain[h].block.hash for i in ids}
        assert len(hashes) == 1, f"validators disagree at height {h + 1}"


def test_four_validators_commit_in_order_with_valid_qcs() -> None:
    net = MemoryNetwork(4)
    for k in range(5):
        net.submit(f"event-{k}".encode())
        assert net.run_until(_all_at(net, k + 1))
    _assert_same_chain(net, [0, 1, 2, 3])
    for committed in net.apps[0].chain:
        problem = qc_problem(committed.qc, "core-test", net.config.validators, net.config.quorum)
        assert problem is None
        assert committed.qc.block_hash == committed.block.hash


def test_idle_consortium_proposes_no_empty_blocks() -> None:
    net = MemoryNetwork(4)
    net.run_until(lambda: False, max_ms=30_000)
    assert net.heights() == [0, 0, 0, 0]


def test_proposer_lets_its_block_fill_for_block_time_ms() -> None:
    net = MemoryNetwork(4, timeouts={"block_time_ms": 200})
    began = net.now
    net.submit(b"early")
    net.advance_to(began + 150)
    assert net.heights() == [0, 0, 0, 0], "the proposer must still be waiting for more events"
    net.submit(b"late")
    assert net.run_until(_all_at(net, 1))
    block = net.apps[0].chain[0].block
    assert block.events == (b"early", b"late")
    assert block.header.time_ms == began + 200


def test_a_full_block_is_proposed_without_waiting() -> None:
    net = MemoryNetwork(4, timeouts={"block_time_ms": 200})
    for app in net.apps:
        app.max_block_events = 3
    began = net.now
    for k in range(4):
        net.submit(f"event-{k}".encode())
    assert net.run_until(_all_at(net, 1))
    first = net.apps[0].chain[0].block
    assert first.events == (b"event-0", b"event-1", b"event-2")
    assert first.header.time_ms == began
    assert net.run_until(_all_at(net, 2))
    assert net.apps[0].chain[1].block.events == (b"event-3",)


def test_a_proposer_restarted_while_its_block_fills_waits_from_its_restart() -> None:
    net = MemoryNetwork(4, timeouts={"block_time_ms": 200})
    proposer, began = net.config.proposer(1, 0), net.now
    net.submit(b"event")
    net.advance_to(began + 100)
    net.crash(proposer)
    net.restart(proposer)
    assert net.run_until(_all_at(net, 1))
    header = net.apps[0].chain[0].block.header
    assert (header.round, header.time_ms) == (0, began + 300), "round 0 still ends the height"


def test_later_rounds_do_not_wait_for_a_block_to_fill() -> None:
    firsts = []
    for block_time_ms in (0, 200):
        net = MemoryNetwork(4, timeouts={"block_time_ms": block_time_ms})
        net.crash(1)  # the proposer of height 1, round 0
        net.submit(b"event")
        assert net.run_until(_all_at(net, 1, [0, 2, 3]))
        firsts.append(net.apps[0].chain[0].block.header)
    assert firsts[0].round == firsts[1].round == 1
    assert firsts[1].time_ms == firsts[0].time_ms, "the round-1 proposer must propose at once"


def test_a_clock_stepped_back_cannot_stretch_the_fill_wait() -> None:
    net = MemoryNetwork(4, timeouts={"block_time_ms": 200})
    proposer = net.config.proposer(1, 0)
    net.apps[proposer].pending.append(b"event")
    actions = net.cores[proposer].on_events_available(net.now - 60_000)
    fills = [a for a in actions if isinstance(a, ScheduleTimeout) and a.timeout.step is Step.FILL]
    assert [a.delay_ms for a in fills] == [200]


@pytest.mark.parametrize("block_time_ms", [-1, 501, 1000])
def test_a_block_time_peers_would_take_for_silence_is_refused(block_time_ms: int) -> None:
    with pytest.raises(ValueError, match="half of timeout_propose_ms"):
        ConsensusConfig("c", (b"k",), timeout_propose_ms=1000, block_time_ms=block_time_ms)
    with pytest.raises(ValueError, match="half of timeout_propose_ms"):
        ConsortiumConfig(timeout_propose_ms=1000, block_time_ms=block_time_ms)


def test_a_block_must_hold_an_event() -> None:
    with pytest.raises(ValueError, match="at least 1 event"):
        ConsortiumConfig(max_block_events=0)


def test_dead_proposer_round_changes_and_next_proposer_commits() -> None:
    net = MemoryNetwork(4)
    proposer = net.config.proposer(1, 0)
    net.crash(proposer)
    net.submit(b"event")
    live = [i for i in range(4) if i != proposer]
    assert net.run_until(_all_at(net, 1, live), max_ms=20_000)
    committed = net.apps[live[0]].chain[0]
    assert committed.block.header.round >= 1
    assert committed.block.header.proposer != proposer
    _assert_same_chain(net, live)


def test_quorum_lost_then_regained_commits() -> None:
    net = MemoryNetwork(4)
    net.crash(2)
    net.crash(3)
    net.submit(b"event", to=(0, 1))
    net.run_until(lambda: False, max_ms=10_000)
    assert net.heights()[:2] == [0, 0]
    net.restart(2)
    net.submit(b"event", to=(2,))
    assert net.run_until(_all_at(net, 1, [0, 1, 2]), max_ms=60_000)
    _assert_same_chain(net, [0, 1, 2])


def test_lagging_validator_catches_up_from_peers() -> None:
    net = MemoryNetwork(4)
    net.crash(3)
    for k in range(150):
        net.submit(f"e{k}".encode(), to=(0, 1, 2))
        assert net.run_until(_all_at(net, k + 1, [0, 1, 2]))
    net.restart(3)
    net.submit(b"after-restart", to=(0, 1, 2))
    assert net.run_until(_all_at(net, 151), max_ms=60_000)
    _assert_same_chain(net, [0, 1, 2, 3])


def test_restarted_validator_learns_it_is_behind_while_peers_are_idle() -> None:
    net = MemoryNetwork(4)
    net.crash(1)
    for k in range(3):
        net.submit(f"e{k}".encode(), to=(0, 2, 3))
        assert net.run_until(_all_at(net, k + 1, [0, 2, 3]))
    net.restart(1)
    assert net.run_until(_all_at(net, 3, [1]), max_ms=10_000)
    _assert_same_chain(net, [0, 1, 2, 3])


def test_restarted_validator_catches_up_though_its_first_status_was_lost() -> None:
    """Peers that answered the previous incarnation moments ago rate-limit their answer to the
    restart's Status; losing the exchange must only delay catch-up, even with nothing to decide."""
    net = MemoryNetwork(4)
    net.crash(1)
    for k in range(3):
        net.submit(f"e{k}".encode(), to=(0, 2, 3))
        assert net.run_until(_all_at(net, k + 1, [0, 2, 3]))
    net.link_ok = lambda a, b: 1 not in (a, b)
    net.restart(1)
    net.run_until(lambda: False, max_ms=2_000)
    assert net.heights() == [3, 0, 3, 3]
    net.link_ok = lambda a, b: True
    assert net.run_until(_all_at(net, 3, [1]), max_ms=10_000)
    _assert_same_chain(net, [0, 1, 2, 3])


def test_partitioned_minority_does_not_commit_and_heals() -> None:
    net = MemoryNetwork(4)
    side = {0}
    net.link_ok = lambda a, b: (a in side) == (b in side)
    net.submit(b"x")
    assert net.run_until(_all_at(net, 1, [1, 2, 3]), max_ms=30_000)
    assert net.heights()[0] == 0
    net.link_ok = lambda a, b: True
    net.submit(b"y")
    assert net.run_until(_all_at(net, 2), max_ms=60_000)
    _assert_same_chain(net, [0, 1, 2, 3])


def test_seven_validators_tolerate_two_crashes() -> None:
    net = MemoryNetwork(7)
    net.crash(5)
    net.crash(6)
    live = [0, 1, 2, 3, 4]
    for k in range(10):
        net.submit(f"e{k}".encode(), to=tuple(live))
        assert net.run_until(_all_at(net, k + 1, live), max_ms=60_000)
    _assert_same_chain(net, live)


def test_timeouts_grow_with_rounds() -> None:
    net = MemoryNetwork(4)
    config = net.config
    assert config.timeout_ms(config.timeout_propose_ms, 3) > config.timeout_ms(
        config.timeout_propose_ms, 0
    )
