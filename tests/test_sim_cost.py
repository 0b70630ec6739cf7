"""The simulator's cost report (``python -m tests.sim.cost``) counts what consensus must send.

One short healthy run of four validators: every committed height needs a proposal to each peer,
and prevotes and precommits from at least a quorum of validators, each broadcast to every
peer, so the counts can be held against those floors (not against n - 1 votes from each: a
validator that falls behind on latency alone catches up from a peer's blocks and skips a
height's votes); and the counts, unlike the CPU figure, depend on nothing but the seed.
"""

from __future__ import annotations

import pytest

from tests.sim.cost import KINDS, Cost, measure, table

N = 4


def _run() -> Cost:
    return measure(N, seed=3, users=2, load_ms=0)


@pytest.fixture(scope="module")
def cost() -> Cost:
    return _run()


def test_every_height_costs_at_least_the_votes_and_proposal_tendermint_needs(cost: Cost) -> None:
    assert cost.heights >= 5 and cost.events >= cost.heights
    quorum = 2 * (N - 1) // 3 + 1
    for kind in ("prevote", "precommit"):
        assert cost.messages[kind] >= quorum * (N - 1) * cost.heights, kind
        assert cost.per_height_per_validator(cost.messages, kind) >= quorum * (N - 1) / N
    assert cost.messages["proposal"] >= (N - 1) * cost.heights
    assert cost.messages["gossip"] > 0  # the validator taking an event in forwards it
    assert set(cost.messages) <= set(KINDS)
    assert all(cost.bytes[k] > cost.messages[k] for k in cost.messages)
    # A proposal carries its block, so it outweighs a vote.
    assert cost.bytes["proposal"] / cost.messages["proposal"] > 2 * (
        cost.bytes["prevote"] / cost.messages["prevote"]
    )
    lines = table([cost])
    assert any(line.startswith(f"{N:>3} ") for line in lines)


def test_counts_depend_on_the_seed_only(cost: Cost) -> None:
    again = _run()
    assert (again.heights, again.events) == (cost.heights, cost.events)
    assert again.messages == cost.messages and again.bytes == cost.bytes
