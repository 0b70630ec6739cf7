"""Block time bounded on both sides: a fresh proposal dated too far ahead of, or behind, a
voter's clock gets a nil prevote (docs/consensus.md, "Block time")."""

from __future__ import annotations

import pytest

from consortium.consensus.actions import Broadcast
from consortium.consensus.config import ConsensusConfig
from consortium.events.codec import encode
from consortium.events.signing import Domain
from consortium.events.wire import (
    Proposal,
    SignedProposal,
    SignedVote,
    VoteKind,
    decode_peer_message,
    decode_vote,
)
from tests.core_harness import MemoryNetwork

DRIFT, DELAY = 5_000, 2_000
VOTER = 2


def _prevote_for(time_ms: int) -> bool:
    """Whether the voter prevotes a fresh height-1 proposal dated ``time_ms``, or nil."""
    net = MemoryNetwork(4, timeouts={"max_clock_drift_ms": DRIFT, "message_delay_ms": DELAY})
    proposer = net.cores[VOTER].proposer(0)
    block = net.apps[proposer].build_block(1, 0, proposer, time_ms, True)
    assert block is not None
    body = encode(Proposal(1, 0, -1, block))
    signed = SignedProposal(body, net.identities[proposer].sign(Domain.PROPOSAL, "core-test", body))
    actions = net.cores[VOTER].on_message(proposer, signed, net.now)
    prevotes = [
        decode_vote(m.body)
        for a in actions
        if isinstance(a, Broadcast)
        and isinstance(m := decode_peer_message(a.payload), SignedVote)
        and decode_vote(m.body).kind is VoteKind.PREVOTE
    ]
    assert len(prevotes) == 1
    return prevotes[0].block_hash == block.hash


NOW = 1_000_000  # the harness's clock at start


@pytest.mark.parametrize(
    ("time_ms", "accepted"),
    [
        (NOW, True),
        (NOW + DRIFT, True),
        (NOW + DRIFT + 1, False),
        (NOW - DRIFT - DELAY, True),
        (NOW - DRIFT - DELAY - 1, False),
    ],
)
def test_a_fresh_block_time_outside_either_bound_gets_a_nil_prevote(
    time_ms: int, accepted: bool
) -> None:
    assert _prevote_for(time_ms) is accepted


def test_the_lower_bound_widens_per_round_and_the_upper_bound_does_not() -> None:
    config = ConsensusConfig("c", (b"k",), max_clock_drift_ms=DRIFT, message_delay_ms=DELAY)
    earliest_round_2 = NOW - DRIFT - DELAY - 2 * config.timeout_delta_ms
    assert not config.timely(earliest_round_2, NOW, 1)
    assert config.timely(earliest_round_2, NOW, 2)
    assert not config.timely(NOW + DRIFT + 1, NOW, 5)


def test_negative_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="message_delay_ms"):
        ConsensusConfig("c", (b"k",), message_delay_ms=-1)
