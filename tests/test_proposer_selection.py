"""Proposer selection with one validator down: round 0 skips it once the chain shows it absent
(docs/consensus.md, "Proposer selection"), on the pure core harness in virtual time."""

from __future__ import annotations

from tests.core_harness import MemoryNetwork

LIVE = (0, 1, 2)
DOWN = 3
PROBATION = {"reputation_probation_heights": 100}


def _commit_sequentially(net: MemoryNetwork, count: int, live: tuple[int, ...] = LIVE) -> int:
    """Commit ``count`` events one by one, checking at each height that the live validators
    agree on the round-0 proposer; the virtual time it took."""
    elapsed = 0
    for _ in range(count):
        elapsed += net.commit_in_turn(1, live)
        assert len({net.cores[i].proposer(0) for i in live}) == 1, "proposer disagreement"
    return elapsed


def _late_rounds(net: MemoryNetwork, from_height: int) -> list[int]:
    """Heights from ``from_height`` on whose block was not proposed in round 0."""
    chain = net.apps[0].chain
    return [c.block.header.height for c in chain[from_height - 1 :] if c.block.header.round > 0]


def test_a_crashed_validator_costs_a_propose_timeout_only_in_probation_heights() -> None:
    net = MemoryNetwork(4, timeouts=PROBATION)
    net.crash(DOWN)
    _commit_sequentially(net, 250)
    probation = net.config.reputation_probation_heights
    # Plain round robin would wait at every height 3 (mod 4); only the first turn and the
    # probation turns (h mod P < n) wait now.
    assert _late_rounds(net, 1) == [3] + [h for h in range(4, 251) if h % probation == DOWN]


def test_plain_round_robin_waits_at_every_turn_of_the_crashed_validator() -> None:
    net = MemoryNetwork(4, timeouts={"reputation_turns": 0})
    net.crash(DOWN)
    _commit_sequentially(net, 20)
    assert _late_rounds(net, 1) == [h for h in range(1, 21) if h % 4 == DOWN]


def test_one_validator_down_at_most_doubles_sequential_commit_latency() -> None:
    """With the default parameters: its first turn waits, later ones go to the next validator
    (round robin: 50 of the 200 heights would wait a propose timeout)."""
    healthy = _commit_sequentially(MemoryNetwork(4), 200, live=(0, 1, 2, 3))
    net = MemoryNetwork(4)
    net.crash(DOWN)
    degraded = _commit_sequentially(net, 200)
    assert degraded <= 2 * healthy, (healthy, degraded)


def test_a_validator_back_from_a_crash_is_readmitted_by_probation() -> None:
    net = MemoryNetwork(4, timeouts=PROBATION)
    net.crash(DOWN)
    _commit_sequentially(net, 40)
    net.restart(DOWN)
    assert net.run_until(lambda: net.heights()[DOWN] == net.heights()[0])
    everyone = (0, 1, 2, 3)
    _commit_sequentially(net, 100 - 40, live=everyone)  # up to the next probation heights
    proposers = [c.block.header.proposer for c in net.apps[0].chain]
    assert DOWN not in proposers[40:99], "skipped until probation"
    _commit_sequentially(net, 12, live=everyone)
    later = net.apps[0].chain[100:]
    assert [c.block.header.round for c in later] == [0] * len(later)
    # Back in the window: it keeps its round-0 turns (h = 3 mod 4) after probation too.
    assert [c.block.header.proposer for c in later] == [h % 4 for h in range(101, 113)]


def test_a_restarted_validator_reads_the_window_back_from_its_chain() -> None:
    net = MemoryNetwork(4)
    net.crash(DOWN)
    _commit_sequentially(net, 10)
    expected = net.cores[0].proposer(0)
    assert expected == 0, "height 11 is validator 3's turn, which goes to validator 0"
    net.crash(1)
    net.restart(1)
    assert net.cores[1].proposer(0) == expected
    assert [net.cores[1].proposer(r) for r in (1, 2, 3)] == [0, 1, 2]
