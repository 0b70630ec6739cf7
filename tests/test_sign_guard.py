"""SignGuard: a validator never signs two different votes for one slot, across restarts, and
keeps the lock proof of its precommits so a restart can restore the lock."""

from __future__ import annotations

from pathlib import Path

from actors.sign_guard import SignGuard
from events.block import Block, VoteSignature
from events.codec import encode
from events.identity import Identity
from events.signing import Domain
from events.wire import LockProof, Proposal, Vote, VoteKind
from storage.log import EventLog
from tests.core_harness import MemoryApp
from tests.ledger_fixtures import CHAIN, GENESIS, VALIDATORS


def _vote(kind: VoteKind, round_: int, block: bytes) -> bytes:
    return encode(Vote(kind, 1, round_, block, 0))


def _block(event: bytes) -> Block:
    app = MemoryApp(CHAIN)
    app.pending = [event]
    block = app.build_block(1, 0, 0, 5_000, False)
    assert block is not None
    return block


def test_a_restarted_validator_repeats_its_earlier_vote(tmp_path: Path) -> None:
    key: Identity = VALIDATORS[0]
    a, b = _vote(VoteKind.PREVOTE, 0, b"A" * 32), _vote(VoteKind.PREVOTE, 0, b"B" * 32)
    with EventLog(tmp_path, GENESIS, durable=False) as log:
        first = SignGuard(key, CHAIN, log).sign(Domain.PREVOTE, a, b"")
    with EventLog(tmp_path, GENESIS, durable=False) as log:
        guard = SignGuard(key, CHAIN, log)
        again = guard.sign(Domain.PREVOTE, b, b"")
        later = _vote(VoteKind.PREVOTE, 1, b"B" * 32)
        other_round = guard.sign(Domain.PREVOTE, later, b"")
    assert again == first and first is not None and first[0] == a
    assert other_round is not None and other_round[0] == later


def test_the_lock_is_the_latest_precommit_for_a_block_with_its_proof(tmp_path: Path) -> None:
    early, late = _block(b"x"), _block(b"y")
    prevotes = (VoteSignature(1, b"s" * 64), VoteSignature(2, b"t" * 64))
    with EventLog(tmp_path, GENESIS, durable=False) as log:
        guard = SignGuard(VALIDATORS[0], CHAIN, log)
        assert guard.lock_at(1) is None
        for round_, block in ((0, early), (2, late)):
            proof = encode(LockProof(round_, block, prevotes))
            guard.sign(Domain.PRECOMMIT, _vote(VoteKind.PRECOMMIT, round_, block.hash), proof)
        guard.sign(Domain.PRECOMMIT, _vote(VoteKind.PRECOMMIT, 3, b""), b"")
    with EventLog(tmp_path, GENESIS, durable=False) as log:
        lock = SignGuard(VALIDATORS[0], CHAIN, log).lock_at(1)
        assert lock == LockProof(2, late, prevotes)
        assert SignGuard(VALIDATORS[0], CHAIN, log).lock_at(2) is None


def test_a_second_different_proposal_is_refused(tmp_path: Path) -> None:
    block = _block(b"x")
    other = Block(block.header, (b"y",))
    with EventLog(tmp_path, GENESIS, durable=False) as log:
        guard = SignGuard(VALIDATORS[0], CHAIN, log)
        body = encode(Proposal(1, 0, -1, block))
        assert guard.sign(Domain.PROPOSAL, body, b"") is not None
        assert guard.sign(Domain.PROPOSAL, body, b"") is not None  # the same one again is fine
        assert guard.sign(Domain.PROPOSAL, encode(Proposal(1, 0, -1, other)), b"") is None
