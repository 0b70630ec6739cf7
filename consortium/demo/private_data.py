"""Demo section: consent-gated sharing of personal data, with the owner's access report.

The demo creates a small "public data platform" SQLite database under the data directory; the
extraction subsystem reads it through the SQLite plugin.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from consortium.api import Consortium
from consortium.data_platform import DataPlatform
from consortium.data_sources import SQLiteSource
from consortium.demo.common import WAIT_S, Say, admin, identity, ledger_time_ms, state_row
from consortium.events.identity import Identity
from consortium.events.payments import RegisterParticipant
from consortium.events.private_data import (
    EraseRecord,
    GrantConsent,
    RecordUse,
    RequestData,
    RevokeConsent,
)
from consortium.events.workflow import WorkflowSpec
from consortium.extraction import ExtractionSubsystem, open_delivery
from consortium.rules.private_data import access_report
from consortium.storage.blobs import BlobStore, KeyStore

TITLE = "Consent-gated sharing of personal data"
ORGANISATIONS = ("data-platform",)
TOKENS: tuple[tuple[str, str], ...] = ()
WORKFLOWS: tuple[WorkflowSpec, ...] = ()
CONSENT_MS = 24 * 3600 * 1000


def _sample_database(path: Path, owner: bytes) -> None:
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS people "
            "(owner_key TEXT PRIMARY KEY, name TEXT, income TEXT, employer TEXT)"
        )
        db.execute(
            "INSERT OR REPLACE INTO people VALUES (?, ?, ?, ?)",
            (owner.hex(), "Li Na", "240000", "West Lake Textiles"),
        )


def run(consortium: Consortium, say: Say, events: int) -> None:
    run_id = consortium.height()
    owner_id, fi_id = identity(f"li-na-{run_id}"), identity(f"lender@bank-{run_id}")
    extractor_id = identity(f"extractor@platform-{run_id}")
    platform = consortium.participant(admin("data-platform"))
    for who, role in ((owner_id, "individual"), (fi_id, "fi"), (extractor_id, "extractor")):
        platform.submit(
            RegisterParticipant(participant=who.public_key, name=who.name, role=role)
        ).result(WAIT_S)
    base = consortium.data_dir
    _sample_database(base / "public-data.sqlite", owner_id.public_key)
    custody = base / f"custody-{run_id}"
    blobs, keys = BlobStore(custody / "blobs"), KeyStore(custody / "keys")
    extractor = ExtractionSubsystem(
        extractor_id,
        consortium.participant(extractor_id),
        [SQLiteSource(base / "public-data.sqlite")],
        blobs,
        keys,
    )
    with DataPlatform(consortium, [extractor]) as data_platform:
        _flow(consortium, say, data_platform, owner_id, fi_id, blobs)


def _flow(
    consortium: Consortium,
    say: Say,
    data_platform: DataPlatform,
    owner_id: Identity,
    fi_id: Identity,
    blobs: BlobStore,
) -> None:
    owner, fi = consortium.participant(owner_id), consortium.participant(fi_id)
    request = fi.submit(
        RequestData(
            owner=owner.public_key,
            fields=("employer", "income", "name"),
            purpose="loan assessment",
            format="csv",
        )
    ).result(WAIT_S)
    lookup = data_platform.lookup(request.event_id).result(WAIT_S)
    record = lookup.record
    assert record is not None
    row = state_row(consortium, "data_records", record)
    say(
        f"  FI requests Li Na's data; the platform multicasts it; the extractor holding her "
        f"stores it encrypted as blob {row.blob.hex()[:16]}… (key wrapped, KEK off the log)"
    )
    fields = ("employer", "income")
    refused = data_platform.release(record, b"\x00" * 32, fi.public_key, fields, "csv")
    say(f"  release without consent: {refused.result(WAIT_S).receipt.result.code}, nothing kept")
    now = ledger_time_ms(consortium)
    consent = fi.submit_signed(
        owner.sign(
            GrantConsent(
                fi=fi.public_key,
                record=record,
                fields=fields,
                purpose="loan assessment",
                expires_ms=now + CONSENT_MS,
            )
        )
    ).result(WAIT_S)
    say(
        f"  Li Na consents (employer, income; loan assessment; 24 h), forwarded by the FI: "
        f"{consent.result.code}"
    )
    released = data_platform.release(record, consent.event_id, fi.public_key, fields, "csv")
    outcome = released.result(WAIT_S)
    assert outcome.delivery is not None
    release_row = state_row(consortium, "data_releases", outcome.receipt.event_id)
    plaintext = open_delivery(fi_id, outcome.delivery, release_row.blob)
    say(
        f"  release: {outcome.receipt.result.code}; the FI decrypts its delivery: "
        f"{plaintext.decode().strip().replace(chr(13), '').replace(chr(10), ' | ')}"
    )
    fi.submit(RecordUse(consent=consent.event_id, purpose="loan assessment")).result(WAIT_S)
    owner.submit(RevokeConsent(consent=consent.event_id)).result(WAIT_S)
    again = data_platform.release(record, consent.event_id, fi.public_key, ("income",), "csv")
    say(f"  after revocation, another release: {again.result(WAIT_S).receipt.result.code}")
    owner.submit(EraseRecord(record=record)).result(WAIT_S)
    say(
        "  Li Na erases the record: on commit the custodian deletes the blob and destroys its "
        "key; the hash stays as proof"
    )
    say("  Li Na's access report (from the projections):")
    for entry in consortium.inspect(lambda n: access_report(n.state, owner.public_key)):
        party = state_row(consortium, "participants", entry.party)
        fields_text = ",".join(entry.fields) or "-"
        say(
            f"    {entry.action:<10} by {party.name.split('-')[0]:<10} fields {fields_text:<22} "
            f"purpose {entry.purpose or '-'}"
        )
