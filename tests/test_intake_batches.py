"""Intake of a batch of events: each event gets its own verdict, as if admitted one by one."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from consortium.events.codec import encode
from consortium.events.envelope import Envelope, Signature, decode_envelope, event_id
from consortium.events.payments import IssueTokens, Transfer
from consortium.events.results import Code, EventResult
from consortium.ledger.node import LedgerNode, NodeSettings
from consortium.rules.rulebook import RULESET
from consortium.storage.log import EventLog
from tests.consortium_fixtures import funded_users, start
from tests.ledger_fixtures import ADMIN, ALICE, GENESIS, Ledger


def _forged(envelope_bytes: bytes) -> bytes:
    envelope = decode_envelope(envelope_bytes)
    return encode(Envelope(envelope.body, (Signature(ADMIN.public_key, bytes(64)),)))


def test_a_batch_at_intake_gets_each_event_its_own_verdict(tmp_path: Path) -> None:
    signer = Ledger()
    good = [
        signer.sign(ADMIN, IssueTokens(token="EUR", to=ALICE.public_key, amount=n + 1))
        for n in range(30)
    ]
    forged = _forged(good[5])
    batch = [*good[:20], good[2], forged, b"\x01\x02", *good[20:]]
    settings = NodeSettings(mempool_capacity=25)
    with EventLog(tmp_path, GENESIS, durable=False) as log:
        node = LedgerNode(0, GENESIS, RULESET, log, settings)
        outcomes = node.admit_many(batch, [event_id(e) for e in batch])
        codes = [None if o is None else o.code for o in outcomes]
        assert codes[:20] == [None] * 20
        assert codes[20] is Code.DUPLICATE  # the same event earlier in the batch
        assert codes[21] is Code.BAD_SIGNATURE
        assert ADMIN.public_key.hex()[:16] in outcomes[21].detail
        assert codes[22] is Code.MALFORMED
        # The forged and malformed events took room while screened: 25 - 22 = 3 more fit.
        assert codes[23:] == [None] * 3 + [Code.OVERLOADED] * 7
        assert len(node.mempool) == 23
        recorded = [r.code for r in log.intake_rejections()]
        assert recorded == ["duplicate", "bad_signature", "malformed"] + ["overloaded"] * 7
        again = node.admit_many(good[:2], [event_id(e) for e in good[:2]])
        assert [o.code for o in again if o is not None] == [Code.DUPLICATE] * 2


def _fail_first_admission(monkeypatch: pytest.MonkeyPatch, *, after_pooling: bool) -> None:
    """The next ``admit_many`` raises: before it pools anything, or after its events are in."""
    original = LedgerNode.admit_many
    failures = iter([True])

    def fail_once(
        self: LedgerNode, envelopes: Sequence[bytes], ids: Sequence[bytes]
    ) -> list[EventResult | None]:
        failing = next(failures, False)
        if failing and not after_pooling:
            raise RuntimeError("injected failure before pooling")
        outcomes = original(self, envelopes, ids)
        if failing:
            raise RuntimeError("injected failure after pooling")
        return outcomes

    monkeypatch.setattr(LedgerNode, "admit_many", fail_once)


def test_a_failure_while_admitting_a_batch_leaves_the_validator_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Submissions are admitted after the inbox drains, outside the message handler; a failure
    there is logged like a handler's, must not stop the actor, and is answered at once with a
    typed rejection the submitter can retry on."""
    c = start(tmp_path)
    try:
        alice, bob = funded_users(c, 2)
        _fail_first_admission(monkeypatch, after_pooling=False)
        refused = alice.submit(Transfer(token="NORTH", to=bob.public_key, amount=1)).result(5)
        assert refused.result.code is Code.OVERLOADED and refused.height is None
        assert "failed while admitting" in refused.result.detail
        assert all(ref.is_alive() for ref in c._validators.values())
        later = alice.submit(Transfer(token="NORTH", to=bob.public_key, amount=2)).result(10)
        assert later.accepted
    finally:
        c.stop()


def test_an_event_pooled_before_admission_failed_is_committed_and_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after an event entered the mempool must not tell its submitter to retry (the
    retry would be a duplicate): the event goes on to a block, and the receipt says so."""
    c = start(tmp_path)
    try:
        alice, bob = funded_users(c, 2)
        _fail_first_admission(monkeypatch, after_pooling=True)
        receipt = alice.submit(Transfer(token="NORTH", to=bob.public_key, amount=1)).result(10)
        assert receipt.accepted and receipt.height is not None
        assert all(ref.is_alive() for ref in c._validators.values())
    finally:
        c.stop()
