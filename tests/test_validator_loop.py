"""The validator loop on its own: a fake outbox, fake timers and a hand-set clock, no actors.

A one-validator genesis commits within a single ``flush``; the four-validator genesis of the
ledger fixtures never commits alone, so its events stay pending.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from consortium.actors.messages import Receipt
from consortium.consensus.actions import Timeout
from consortium.consensus.config import ConsensusConfig
from consortium.events.codec import encode
from consortium.events.envelope import Envelope, Signature, decode_envelope, event_id
from consortium.events.genesis import Genesis
from consortium.events.payments import IssueTokens
from consortium.events.results import Code, EventResult
from consortium.events.wire import EventGossip, decode_peer_message
from consortium.ledger.node import NodeSettings
from consortium.ledger.validator_loop import ADMISSION_FAILED, GOSSIP_BATCH, ValidatorLoop
from consortium.rules.rulebook import RULESET
from consortium.storage.log import EventLog
from tests.ledger_fixtures import ADMIN, ALICE, GENESIS, VALIDATORS, Ledger

ALONE = msgspec.structs.replace(GENESIS, validators=GENESIS.validators[:1])


class FakeOutbox:
    def __init__(self) -> None:
        self.sent: list[tuple[int | None, bytes]] = []

    def broadcast(self, payload: bytes) -> None:
        self.sent.append((None, payload))

    def send(self, recipient: int, payload: bytes) -> None:
        self.sent.append((recipient, payload))

    def gossiped(self) -> list[bytes]:
        """Every envelope sent in gossip, in order."""
        envelopes: list[bytes] = []
        for _, payload in self.sent:
            message = decode_peer_message(payload)
            if isinstance(message, EventGossip):
                envelopes.extend(message.envelopes)
        return envelopes


class FakeTimers:
    def __init__(self) -> None:
        self.due: list[tuple[int, Timeout]] = []

    def schedule(self, delay_ms: int, timeout: Timeout) -> None:
        self.due.append((delay_ms, timeout))


class Harness:
    def __init__(
        self, path: Path, genesis: Genesis, block_time_ms: int = 0, **settings: int
    ) -> None:
        self.now = 2_000
        self.outbox = FakeOutbox()
        self.timers = FakeTimers()
        self.receipts: list[Receipt] = []
        self.loop = ValidatorLoop(
            0,
            VALIDATORS[0],
            genesis,
            EventLog(path, genesis, durable=False),
            RULESET,
            ConsensusConfig(genesis.chain_id, genesis.validator_keys, block_time_ms=block_time_ms),
            NodeSettings(**settings),
            self.outbox,
            self.timers,
            lambda: self.now,
        )
        self.loop.start()

    def submit(self, *envelopes: bytes, inbox_empty: bool = True) -> None:
        for envelope in envelopes:
            self.loop.submit(envelope, self.receipts.append)
        self.loop.flush(inbox_empty=inbox_empty)


@pytest.fixture
def signer() -> Ledger:
    return Ledger()


@pytest.fixture
def pending(tmp_path: Path) -> Iterator[Harness]:
    """One of four validators: nothing it pools commits."""
    harness = Harness(tmp_path, GENESIS)
    yield harness
    harness.loop.close()


@pytest.fixture
def alone(tmp_path: Path) -> Iterator[Harness]:
    """The only validator: a flush that pools events commits them."""
    harness = Harness(tmp_path, ALONE)
    yield harness
    harness.loop.close()


def _issue(signer: Ledger, amount: int) -> bytes:
    return signer.sign(ADMIN, IssueTokens(token="EUR", to=ALICE.public_key, amount=amount))


def _forged(envelope_bytes: bytes) -> bytes:
    envelope = decode_envelope(envelope_bytes)
    return encode(Envelope(envelope.body, (Signature(ADMIN.public_key, bytes(64)),)))


def test_a_batch_with_a_duplicate_pools_it_once_and_answers_only_the_refused(
    pending: Harness, signer: Ledger
) -> None:
    good, other = _issue(signer, 1), _issue(signer, 2)
    forged = _forged(other)
    pending.submit(good, forged, good)
    assert [r.result.code for r in pending.receipts] == [Code.BAD_SIGNATURE]
    assert pending.receipts[0].height is None
    assert pending.outbox.gossiped() == [good]  # the copy was not gossiped again
    assert len(pending.loop.node.mempool) == 1


def test_flush_waits_for_an_empty_inbox_unless_a_backlog_built_up(
    pending: Harness, signer: Ledger
) -> None:
    first = _issue(signer, 1)
    pending.submit(first, inbox_empty=False)
    assert len(pending.loop.node.mempool) == 0 and pending.outbox.gossiped() == []
    pending.loop.flush(inbox_empty=True)
    assert pending.outbox.gossiped() == [first]
    backlog = [_issue(signer, n + 2) for n in range(GOSSIP_BATCH)]
    pending.submit(*backlog[:-1], inbox_empty=False)
    assert pending.outbox.gossiped() == [first]
    pending.submit(backlog[-1], inbox_empty=False)  # the backlog reaches GOSSIP_BATCH
    assert pending.outbox.gossiped() == [first, *backlog]


def test_a_committed_event_submitted_again_gets_its_result_and_height(
    alone: Harness, signer: Ledger
) -> None:
    issued = _issue(signer, 5)
    by_a_user = signer.sign(ALICE, IssueTokens(token="EUR", to=ALICE.public_key, amount=5))
    alone.submit(issued, by_a_user)
    first = list(alone.receipts)
    assert [r.height for r in first] == [1, 1]
    assert first[0].accepted and first[1].result.code is Code.WRONG_ROLE
    alone.receipts.clear()
    alone.submit(by_a_user, issued)
    assert alone.receipts == [first[1], first[0]]
    assert alone.loop.log.head_height == 1  # nothing ran again


def test_a_pending_event_submitted_again_is_answered_when_it_commits(
    tmp_path: Path, signer: Ledger
) -> None:
    harness = Harness(tmp_path, ALONE, block_time_ms=100, max_block_events=2)
    try:
        # A full block commits at once; the third event waits for its block to fill.
        a, b, c = (_issue(signer, n) for n in (1, 2, 3))
        harness.submit(a, b, c)
        assert [r.event_id for r in harness.receipts] == [event_id(a), event_id(b)]
        harness.receipts.clear()
        harness.submit(c)
        assert harness.receipts == [] and event_id(c) in harness.loop.node.mempool
        harness.now += 1_000
        for _, timeout in list(harness.timers.due):
            harness.loop.on_timeout(timeout)
            harness.loop.flush(inbox_empty=True)
        assert [(r.event_id, r.height) for r in harness.receipts] == [(event_id(c), 2)] * 2
    finally:
        harness.loop.close()


def test_a_copy_of_a_refused_event_in_one_batch_gets_the_same_refusal(
    tmp_path: Path, signer: Ledger
) -> None:
    harness = Harness(tmp_path, GENESIS, mempool_capacity=1)
    try:
        first, second = _issue(signer, 1), _issue(signer, 2)
        harness.submit(first, second, second)
        assert [r.result.code for r in harness.receipts] == [Code.OVERLOADED] * 2
    finally:
        harness.loop.close()


def test_a_failure_while_admitting_answers_overloaded_and_is_raised(
    pending: Harness, signer: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*_: object) -> list[EventResult | None]:
        raise RuntimeError("injected")

    monkeypatch.setattr(pending.loop.node, "admit_many", fail)
    envelope = _issue(signer, 1)
    with pytest.raises(RuntimeError, match="injected"):
        pending.submit(envelope)
    assert pending.receipts == [Receipt(event_id(envelope), ADMISSION_FAILED, None, 0)]
    monkeypatch.undo()
    pending.submit(envelope)  # the retry is admitted
    assert event_id(envelope) in pending.loop.node.mempool


def test_an_event_pooled_before_admission_failed_waits_for_its_commit(
    pending: Harness, signer: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    admit = pending.loop.node.admit_many

    def pool_then_fail(envelopes: list[bytes], ids: list[bytes]) -> list[EventResult | None]:
        admit(envelopes, ids)
        raise RuntimeError("injected after pooling")

    monkeypatch.setattr(pending.loop.node, "admit_many", pool_then_fail)
    envelope = _issue(signer, 1)
    with pytest.raises(RuntimeError):
        pending.submit(envelope)
    assert pending.receipts == []  # no "retry later" for an event that will commit
    assert event_id(envelope) in pending.loop.node.mempool


def test_a_validator_started_without_its_signing_record_watches_before_it_signs(
    tmp_path: Path, signer: Ledger
) -> None:
    """The record is lost with the whole log (the log counts its signing records, so losing
    them alone is corruption): on an empty log the loop watches, which at height 1 holds
    nothing back until block 1 shows how old the chain is (tests/test_double_sign_check.py)."""
    fresh = Harness(tmp_path, GENESIS)
    assert fresh.loop.core.watching
    fresh.submit(_issue(signer, 1))
    for _, timeout in list(fresh.timers.due):  # the propose timeout: a nil prevote, recorded
        fresh.loop.on_timeout(timeout)
    assert fresh.loop.sign_guard.has_signing_record(0), "height 1 is not held back"
    fresh.loop.close()
    again = Harness(tmp_path, GENESIS)
    assert not again.loop.core.watching, "its record is there: it signs at once"
    again.loop.close()


def test_a_lone_validator_never_watches_for_no_block_commits_without_it(
    tmp_path: Path, signer: Ledger
) -> None:
    alone = Harness(tmp_path, ALONE)
    assert not alone.loop.core.watching
    alone.submit(_issue(signer, 1))
    assert [r.result.code for r in alone.receipts] == [Code.OK]
    alone.loop.close()
