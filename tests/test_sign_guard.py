"""SignGuard: a validator never signs two different votes for one slot, across restarts, and
keeps the lock proof of its precommits so a restart can restore the lock."""

from __future__ import annotations

from pathlib import Path

from consortium.consensus.actions import Broadcast
from consortium.events.block import Block, VoteSignature
from consortium.events.codec import encode
from consortium.events.identity import Identity
from consortium.events.signing import Domain
from consortium.events.wire import LockProof, Proposal, Vote, VoteKind
from consortium.ledger.sign_guard import SignGuard
from consortium.storage.log import EventLog
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
        guard = SignGuard(key, CHAIN, log)
        first = guard.sign(Domain.PREVOTE, a, b"")
        guard.released([])
    with EventLog(tmp_path, GENESIS, durable=False) as log:
        guard = SignGuard(key, CHAIN, log)
        again = guard.sign(Domain.PREVOTE, b, b"")
        later = _vote(VoteKind.PREVOTE, 1, b"B" * 32)
        other_round = guard.sign(Domain.PREVOTE, later, b"")
    assert again == first and first is not None and first[0] == a
    assert other_round is not None and other_round[0] == later


def test_the_log_is_read_once_per_height_and_recorded_votes_still_bind(tmp_path: Path) -> None:
    """The guard reads a height's records once and keeps what it records after that: a vote
    recorded in an earlier step of the same height binds, as one recorded before a crash does."""
    a, b = _vote(VoteKind.PREVOTE, 0, b"A" * 32), _vote(VoteKind.PREVOTE, 0, b"B" * 32)
    c = encode(Vote(VoteKind.PRECOMMIT, 1, 0, b"B" * 32, 0))
    with EventLog(tmp_path, GENESIS, durable=False) as log:
        reads: list[int] = []
        signed_records = log.signed_records
        log.signed_records = lambda height: (reads.append(height), signed_records(height))[1]
        guard = SignGuard(VALIDATORS[0], CHAIN, log)
        first = guard.sign(Domain.PREVOTE, a, b"")
        guard.released([])
        assert guard.sign(Domain.PREVOTE, b, b"") == first, "a recorded vote binds in later steps"
        precommitted = guard.sign(Domain.PRECOMMIT, c, b"")
        guard.released([])
        nil = encode(Vote(VoteKind.PRECOMMIT, 1, 0, b"", 0))
        assert precommitted is not None and guard.sign(Domain.PRECOMMIT, nil, b"") == precommitted
        assert reads == [1]
        assert guard.sign(Domain.PREVOTE, encode(Vote(VoteKind.PREVOTE, 2, 0, b"", 0)), b"")
        assert reads == [1, 2]
    with EventLog(tmp_path, GENESIS, durable=False) as log:
        assert SignGuard(VALIDATORS[0], CHAIN, log).sign(Domain.PREVOTE, b, b"") == first


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
        guard.released([])
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


def test_records_wait_for_the_release_of_actions_and_then_go_in_one_write(tmp_path: Path) -> None:
    block = _block(b"x")
    a, b = _vote(VoteKind.PREVOTE, 0, block.hash), _vote(VoteKind.PREVOTE, 0, b"B" * 32)
    with EventLog(tmp_path, GENESIS, durable=False) as log:
        writes: list[int] = []
        record_signed = log.record_signed
        log.record_signed = lambda records: (writes.append(len(records)), record_signed(records))
        guard = SignGuard(VALIDATORS[0], CHAIN, log)
        assert guard.sign(Domain.PROPOSAL, encode(Proposal(1, 0, -1, block)), b"") is not None
        first = guard.sign(Domain.PREVOTE, a, b"")
        assert guard.sign(Domain.PREVOTE, b, b"") == first, "an unwritten vote still binds"
        assert writes == [] and log.signed_records(1) == []
        actions = [Broadcast(b"the step's messages")]
        assert guard.released(actions) == actions
        guard.released([])
        assert writes == [2], "the proposal and its prevote are recorded in one transaction"
        assert [slot[:1] for slot, _ in log.signed_records(1)] == [b"P", b"V"]


def test_a_signature_never_made_durable_is_forgotten_with_its_messages(tmp_path: Path) -> None:
    a, b = _vote(VoteKind.PREVOTE, 0, b"A" * 32), _vote(VoteKind.PREVOTE, 0, b"B" * 32)
    with EventLog(tmp_path, GENESIS, durable=False) as log:
        SignGuard(VALIDATORS[0], CHAIN, log).sign(Domain.PREVOTE, a, b"")
    with EventLog(tmp_path, GENESIS, durable=False) as log:
        again = SignGuard(VALIDATORS[0], CHAIN, log).sign(Domain.PREVOTE, b, b"")
    assert again is not None and again[0] == b


def test_a_log_without_recent_signing_records_says_so(tmp_path: Path) -> None:
    """The shell starts the core watching (docs/consensus.md, rule 11) when this is False."""
    with EventLog(tmp_path, GENESIS, durable=False) as log:
        guard = SignGuard(VALIDATORS[0], CHAIN, log)
        assert not guard.has_signing_record(0), "an empty log"
        guard.sign(Domain.PREVOTE, _vote(VoteKind.PREVOTE, 0, b"A" * 32), b"")
        assert not guard.has_signing_record(0), "nothing is recorded before it is released"
        guard.released([])
    with EventLog(tmp_path, GENESIS, durable=False) as log:
        guard = SignGuard(VALIDATORS[0], CHAIN, log)
        assert guard.has_signing_record(0)
        assert guard.has_signing_record(20), "a record within the heights the log keeps"
        assert not guard.has_signing_record(100), "only records far below the head"
