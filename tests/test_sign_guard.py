"""SignGuard: a validator never signs two different votes for one slot, across restarts."""

from __future__ import annotations

from pathlib import Path

from actors.sign_guard import SignGuard
from events.codec import encode
from events.identity import Identity
from events.signing import Domain
from events.wire import Proposal, Vote, VoteKind
from storage.log import EventLog
from tests.ledger_fixtures import CHAIN, GENESIS, VALIDATORS


def _vote(kind: VoteKind, round_: int, block: bytes) -> bytes:
    return encode(Vote(kind, 1, round_, block, 0))


def test_a_restarted_validator_repeats_its_earlier_vote(tmp_path: Path) -> None:
    key: Identity = VALIDATORS[0]
    with EventLog(tmp_path, GENESIS, durable=False) as log:
        first = SignGuard(key, CHAIN, log).sign(
            Domain.PREVOTE, _vote(VoteKind.PREVOTE, 0, b"A" * 32)
        )
    with EventLog(tmp_path, GENESIS, durable=False) as log:
        guard = SignGuard(key, CHAIN, log)
        again = guard.sign(Domain.PREVOTE, _vote(VoteKind.PREVOTE, 0, b"B" * 32))
        other_round = guard.sign(Domain.PREVOTE, _vote(VoteKind.PREVOTE, 1, b"B" * 32))
    assert again == first
    assert other_round is not None and other_round[0] == _vote(VoteKind.PREVOTE, 1, b"B" * 32)


def test_the_lock_is_the_latest_precommit_for_a_block(tmp_path: Path) -> None:
    with EventLog(tmp_path, GENESIS, durable=False) as log:
        guard = SignGuard(VALIDATORS[0], CHAIN, log)
        assert guard.lock_at(1) is None
        guard.sign(Domain.PRECOMMIT, _vote(VoteKind.PRECOMMIT, 0, b"A" * 32))
        guard.sign(Domain.PRECOMMIT, _vote(VoteKind.PRECOMMIT, 2, b"C" * 32))
        guard.sign(Domain.PRECOMMIT, _vote(VoteKind.PRECOMMIT, 3, b""))
        assert guard.lock_at(1) == (2, b"C" * 32)
        assert guard.lock_at(2) is None


def test_a_second_different_proposal_is_refused(tmp_path: Path) -> None:
    from events.block import Block
    from tests.core_harness import MemoryApp

    app = MemoryApp(CHAIN)
    app.pending = [b"x"]
    block = app.build_block(1, 0, 0, 5_000, False)
    assert block is not None
    other = Block(block.header, (b"y",))
    with EventLog(tmp_path, GENESIS, durable=False) as log:
        guard = SignGuard(VALIDATORS[0], CHAIN, log)
        body = encode(Proposal(1, 0, -1, block))
        assert guard.sign(Domain.PROPOSAL, body) is not None
        assert guard.sign(Domain.PROPOSAL, body) is not None  # the same one again is fine
        assert guard.sign(Domain.PROPOSAL, encode(Proposal(1, 0, -1, other))) is None
