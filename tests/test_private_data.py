"""Consent-gated personal data: encrypted at rest, released only under a live consent."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from consortium.audit.verify import audit
from consortium.data_sources import SQLiteSource
from consortium.demo.common import admin, identity
from consortium.events.payments import RegisterParticipant
from consortium.events.private_data import (
    EraseRecord,
    GrantConsent,
    RecordUse,
    ReleaseData,
    RequestData,
    RevokeConsent,
)
from consortium.events.results import Code
from consortium.extraction import ExtractionSubsystem, open_release
from consortium.rules.private_data import access_report
from consortium.storage.blobs import BlobStore
from tests.consortium_fixtures import start

SECRET_NAME, SECRET_INCOME = "Zhang Wei-Secretname", "987654321"


@pytest.fixture
def world(tmp_path: Path):
    c = start(tmp_path / "ledger")
    owner, fi, extractor = identity("owner"), identity("lender"), identity("extractor")
    org = c.participant(admin("north-bank"))
    for who, role in ((owner, "individual"), (fi, "fi"), (extractor, "extractor")):
        assert (
            org.submit(RegisterParticipant(participant=who.public_key, name=who.name, role=role))
            .result(10)
            .accepted
        )
    db = tmp_path / "public-data.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE people (owner_key TEXT, name TEXT, income TEXT, city TEXT)")
        con.execute(
            "INSERT INTO people VALUES (?, ?, ?, ?)",
            (owner.public_key.hex(), SECRET_NAME, SECRET_INCOME, "Hangzhou"),
        )
    blobs = BlobStore(tmp_path / "blobs")
    subsystem = ExtractionSubsystem(extractor, c.participant(extractor), [SQLiteSource(db)], blobs)
    yield c, owner, fi, subsystem, blobs, tmp_path
    c.stop()


def _stored_record(c, fi_handle, owner, subsystem):
    request = fi_handle.submit(
        RequestData(
            owner=owner.public_key, fields=("income", "name"), purpose="loan", format="json"
        )
    ).result(10)
    assert request.accepted
    stored = subsystem.serve_request(request.event_id, owner.public_key, ("income", "name"))
    assert stored is not None and stored.accepted
    return stored.event_id


def _consent(c, owner, fi_handle, record, expires_ms):
    """The owner signs; the FI forwards the signed consent to the ledger."""
    signed = c.participant(owner).sign(
        GrantConsent(
            fi=fi_handle.public_key,
            record=record,
            fields=("income",),
            purpose="loan",
            expires_ms=expires_ms,
        )
    )
    receipt = fi_handle.submit_signed(signed).result(10)
    assert receipt.accepted
    return receipt.event_id


def _release(c, subsystem, consent, record, fi):
    row = c.inspect(lambda n: n.state.get("data_records", record))
    return subsystem.release(
        consent, fi.public_key, row.blob, row.sealed_for_custodian, ("income",), "json"
    )


def test_release_under_consent_then_refused_after_revocation(world) -> None:
    c, owner, fi, subsystem, blobs, _ = world
    fi_handle = c.participant(fi)
    record = _stored_record(c, fi_handle, owner, subsystem)
    missing = subsystem.release(
        b"\x00" * 32,
        fi.public_key,
        c.inspect(lambda n: n.state.get("data_records", record)).blob,
        c.inspect(lambda n: n.state.get("data_records", record)).sealed_for_custodian,
        ("income",),
        "json",
    )
    assert missing.result.code is Code.NOT_FOUND  # no release without a consent
    consent = _consent(c, owner, fi_handle, record, expires_ms=int(time.time() * 1000) + 60_000)
    released = _release(c, subsystem, consent, record, fi)
    assert released.accepted
    row = c.inspect(lambda n: n.state.get("data_releases", released.event_id))
    data = json.loads(open_release(fi, blobs, row.blob, row.sealed_for_fi))
    assert data == {"income": SECRET_INCOME}  # only the consented field
    assert fi_handle.submit(RecordUse(consent=consent, purpose="loan")).result(10).accepted
    assert (
        fi_handle.submit(RecordUse(consent=consent, purpose="marketing")).result(10).result.code
        is Code.WRONG_ROLE
    )
    assert c.participant(owner).submit(RevokeConsent(consent=consent)).result(10).accepted
    assert _release(c, subsystem, consent, record, fi).result.code is Code.WRONG_STATE
    report = c.inspect(lambda n: access_report(n.state, owner.public_key))
    actions = [a.action for a in report]
    assert actions[:3] == ["requested", "stored", "consented"]
    assert "released" in actions and "used" in actions and actions[-1] == "revoked"


def test_expired_consent_counts_as_revoked(world) -> None:
    c, owner, fi, subsystem, _, _ = world
    fi_handle = c.participant(fi)
    record = _stored_record(c, fi_handle, owner, subsystem)
    head = c.head()
    consent = _consent(c, owner, fi_handle, record, expires_ms=head.time_ms + 1_500)
    while c.head().time_ms < head.time_ms + 1_500:
        time.sleep(0.2)
        fi_handle.submit(
            RequestData(owner=owner.public_key, fields=("city",), purpose="tick", format="csv")
        ).result(10)
    assert _release(c, subsystem, consent, record, fi).result.code is Code.DEADLINE


def test_no_plaintext_in_validator_storage_and_erasure_keeps_the_log_verifiable(world) -> None:
    c, owner, fi, subsystem, blobs, tmp_path = world
    fi_handle = c.participant(fi)
    record = _stored_record(c, fi_handle, owner, subsystem)
    consent = _consent(c, owner, fi_handle, record, expires_ms=int(time.time() * 1000) + 60_000)
    assert _release(c, subsystem, consent, record, fi).accepted
    blob = c.inspect(lambda n: n.state.get("data_records", record)).blob
    assert c.participant(owner).submit(EraseRecord(record=record)).result(10).accepted
    assert blobs.delete(blob)
    with pytest.raises(LookupError):
        _release(c, subsystem, consent, record, fi)  # the custodian no longer has the data
    direct = (
        c.participant(subsystem.identity)
        .submit(ReleaseData(consent=consent, blob=blob, fields=("income",), sealed_for_fi=b"x"))
        .result(10)
    )
    assert direct.result.code is Code.WRONG_STATE  # and the rules refuse an erased record
    c.stop()
    for validator in range(4):
        for f in (tmp_path / "ledger" / f"validator-{validator}").iterdir():
            content = f.read_bytes()
            assert SECRET_NAME.encode() not in content and SECRET_INCOME.encode() not in content
    report = audit(tmp_path / "ledger" / "validator-0")
    assert report.ok, report.divergence
