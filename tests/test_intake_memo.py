"""Shared intake: an event verified by one validator of a process is taken in by the others as
it decoded it; refused events are judged by each validator itself."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from consortium.events.codec import encode
from consortium.events.envelope import (
    Envelope,
    Signature,
    decode_envelope,
    decode_event,
    event_id,
)
from consortium.events.payments import IssueTokens, Transfer
from consortium.events.results import Code
from consortium.events.signing import Domain, verify_signature
from consortium.ledger.intake_memo import IntakeMemo
from consortium.ledger.node import LedgerNode, NodeSettings
from consortium.ledger.process_shares import ProcessShares
from consortium.rules.rulebook import RULESET
from consortium.storage.log import EventLog
from tests.consortium_fixtures import FAST, funded_users, start
from tests.ledger_fixtures import ADMIN, ALICE, GENESIS, Ledger


class CountingVerifier:
    """``verify_signature``, counting the signatures it was asked to check."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(
        self, public_key: bytes, signature: bytes, domain: Domain, chain_id: str, body: bytes
    ) -> bool:
        self.calls += 1
        return verify_signature(public_key, signature, domain, chain_id, body)


def _forged(envelope_bytes: bytes) -> bytes:
    envelope = decode_envelope(envelope_bytes)
    return encode(Envelope(envelope.body, (Signature(ADMIN.public_key, bytes(64)),)))


def test_the_memo_keeps_the_newest_events_up_to_its_capacity() -> None:
    memo = IntakeMemo(capacity=2)
    signer = Ledger()
    envelopes = [
        signer.sign(ADMIN, IssueTokens(token="EUR", to=ALICE.public_key, amount=n))
        for n in (1, 2, 3)
    ]
    events = [decode_event(e)[1] for e in envelopes]
    for envelope, decoded in zip(envelopes, events, strict=True):
        memo.put(envelope, decoded)
    assert len(memo) == 2
    assert memo.get(envelopes[0]) is None  # the oldest left
    assert memo.get(bytes(bytearray(envelopes[2]))) is events[2]  # equal bytes, another object
    assert memo.get(_forged(envelopes[2])) is None
    assert memo.hits == 1
    with pytest.raises(ValueError, match="at least 1"):
        IntakeMemo(capacity=0)


def test_a_second_validator_takes_verified_events_and_judges_refused_ones_itself(
    tmp_path: Path,
) -> None:
    signer = Ledger()
    good = [
        signer.sign(ADMIN, IssueTokens(token="EUR", to=ALICE.public_key, amount=n + 1))
        for n in range(5)
    ]
    forged = _forged(good[0])
    batch = [*good, forged, b"\x01\x02"]
    ids = [event_id(e) for e in batch]
    memo = IntakeMemo()
    logs = [EventLog(tmp_path / str(i), GENESIS, durable=False) for i in range(3)]
    try:
        verifiers = [CountingVerifier() for _ in logs]
        nodes = [
            LedgerNode(
                i, GENESIS, RULESET, log, NodeSettings(), verifiers[i], ProcessShares(intake=memo)
            )
            for i, log in enumerate(logs)
        ]
        first = nodes[0].admit_many(batch, ids)
        assert len(memo) == len(good)  # neither the forged nor the malformed event is kept
        assert verifiers[0].calls == len(good) + 1

        second = nodes[1].admit_many(batch, ids)
        assert [o and o.code for o in second] == [o and o.code for o in first]
        assert [o and o.code for o in second][-2:] == [Code.BAD_SIGNATURE, Code.MALFORMED]
        assert verifiers[1].calls == 1  # only the forged signature: the rest came from the memo
        assert [r.code for r in logs[1].intake_rejections()] == ["bad_signature", "malformed"]
        assert memo.hits == len(good)

        # An id given with other bytes finds nothing: the forged copy of good[1], under good[1]'s
        # id, is decoded and verified, and refused.
        forged_copy = _forged(good[1])
        outcome = nodes[2].admit(forged_copy, ids[1])
        assert outcome is not None and outcome.code is Code.BAD_SIGNATURE
        assert verifiers[2].calls == 1
        verifiers[2].calls = 0

        # A block check takes unseen events from the memo too, and executes them alike.
        block = nodes[0].build_block(1, 0, 0, GENESIS.genesis_time_ms + 1, False)
        assert block is not None and len(block.events) == len(good)
        assert nodes[2].check_block(block) is None
        assert verifiers[2].calls == 0
    finally:
        for log in logs:
            log.close()


def test_validators_of_one_process_share_intake_only_when_they_share_verifications(
    tmp_path: Path,
) -> None:
    for shared in (True, False):
        config = dataclasses.replace(FAST, share_verifications=shared)
        c = start(tmp_path / str(shared), config)
        try:
            alice, bob = funded_users(c, 2)
            futures = [
                alice.submit(Transfer(token="NORTH", to=bob.public_key, amount=1))
                for _ in range(20)
            ]
            assert all(f.result(20).accepted for f in futures)
            if shared:
                assert c._shared.intake is not None and c._shared.intake.hits > 0
            else:
                assert c._shared.intake is None
        finally:
            c.stop()
