"""Consent-gated personal data: the platform multicasts, releases need a live consent, and an
erased record can be opened by nothing that is left, the immutable log included."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec
import nacl.exceptions
import pytest

from consortium import extraction
from consortium.api import Consortium, ParticipantHandle
from consortium.audit.verify import audit
from consortium.data_platform import DataPlatform, DataRequestTimeout, PlatformBusy
from consortium.data_sources import DataSource, SQLiteSource
from consortium.demo.common import admin, identity
from consortium.events import sealing
from consortium.events.body import EventBody
from consortium.events.errors import ConsortiumStopped
from consortium.events.identity import Identity
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
from consortium.events.sealing import unseal
from consortium.extraction import ExtractionSubsystem, RecordErased, open_delivery
from consortium.rules.private_data import access_report
from consortium.storage.blobs import BlobStore, KeyStore
from tests.consortium_fixtures import start

SECRET_NAME, SECRET_INCOME = "Zhang Wei-Secretname", "987654321"
WAIT_S = 10


@dataclass
class World:
    c: Consortium
    owner: Identity
    fi: Identity
    extractor: Identity
    platform: DataPlatform
    custody: Path
    keys_made: list[bytes]
    bodies: list[EventBody]  # every committed event body, as a subscriber sees the log
    handles: dict[bytes, ParticipantHandle]

    def as_(self, who: Identity) -> ParticipantHandle:
        """One handle per identity, so their sequence numbers follow on."""
        if who.public_key not in self.handles:
            self.handles[who.public_key] = self.c.participant(who)
        return self.handles[who.public_key]


def _source(path: Path, owner: Identity | None) -> SQLiteSource:
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE people (owner_key TEXT, name TEXT, income TEXT, city TEXT)")
        if owner is not None:
            con.execute(
                "INSERT INTO people VALUES (?, ?, ?, ?)",
                (owner.public_key.hex(), SECRET_NAME, SECRET_INCOME, "Hangzhou"),
            )
    return SQLiteSource(path)


def _subsystem(
    c: Consortium, who: Identity, source: DataSource, custody: Path
) -> ExtractionSubsystem:
    return ExtractionSubsystem(
        who, c.participant(who), [source], BlobStore(custody / "blobs"), KeyStore(custody / "keys")
    )


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    made: list[bytes] = []
    real = sealing.new_data_key

    def recorded_key() -> bytes:
        made.append(real())
        return made[-1]

    monkeypatch.setattr(extraction, "new_data_key", recorded_key)
    c = start(tmp_path / "ledger")
    owner, fi, extractor = identity("owner"), identity("lender"), identity("extractor")
    other, rogue = identity("other-extractor"), identity("rogue-extractor")
    org = c.participant(admin("north-bank"))
    roles = ((owner, "individual"), (fi, "fi"), (extractor, "extractor"), (other, "extractor"))
    for who, role in roles:
        body = RegisterParticipant(participant=who.public_key, name=who.name, role=role)
        assert org.submit(body).result(WAIT_S).accepted
    bodies: list[EventBody] = []
    subscription = c.subscribe(lambda n: bodies.extend(e.body for e in n.events))
    subsystems = [
        _subsystem(c, extractor, _source(tmp_path / "a.sqlite", owner), tmp_path / "custody"),
        _subsystem(c, other, _source(tmp_path / "b.sqlite", None), tmp_path / "custody-other"),
        # holds the person but is no registered extractor: the rules refuse what it stores
        _subsystem(c, rogue, _source(tmp_path / "c.sqlite", owner), tmp_path / "custody-rogue"),
    ]
    platform = DataPlatform(c, subsystems, timeout_s=WAIT_S)
    yield World(c, owner, fi, extractor, platform, tmp_path, made, bodies, {})
    platform.stop()
    subscription.close()
    c.stop()


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file())


def _stored_record(w: World) -> bytes:
    body = RequestData(
        owner=w.owner.public_key, fields=("income", "name"), purpose="loan", format="json"
    )
    request = w.as_(w.fi).submit(body).result(WAIT_S)
    assert request.accepted
    found = w.platform.lookup(request.event_id).result(WAIT_S)
    assert found.record is not None
    return found.record


def _consent(w: World, record: bytes, expires_ms: int) -> bytes:
    """The owner signs; the FI forwards the signed consent to the ledger."""
    body = GrantConsent(
        fi=w.fi.public_key, record=record, fields=("income",), purpose="loan", expires_ms=expires_ms
    )
    receipt = w.as_(w.fi).submit_signed(w.as_(w.owner).sign(body)).result(WAIT_S)
    assert receipt.accepted
    return receipt.event_id


def _release(w: World, consent: bytes, record: bytes) -> extraction.Released:
    return w.platform.release(record, consent, w.fi.public_key, ("income",), "json").result(WAIT_S)


def test_the_platform_multicasts_to_every_subsystem_and_every_lookup_resolves(world: World) -> None:
    w = world
    body = RequestData(owner=w.owner.public_key, fields=("income",), purpose="loan", format="json")
    request = w.as_(w.fi).submit(body).result(WAIT_S)
    found = w.platform.lookup(request.event_id).result(WAIT_S)
    assert found.no_source == ("other-extractor",)  # asked, holds nothing about the person
    by_author = {r.accepted for r in found.stored}
    assert by_author == {True, False}  # the extractor's store accepted, the rogue's refused
    record = found.record
    assert record is not None
    custodian = w.c.inspect(lambda n: n.state.get("data_records", record)).custodian
    assert custodian == w.extractor.public_key
    assert _files(w.custody / "custody-rogue") == []  # a refused store leaves nothing behind
    quick = DataPlatform(w.c, [], timeout_s=0.2)
    try:
        with pytest.raises(DataRequestTimeout, match="has not committed"):
            quick.lookup(b"\x01" * 32).result(WAIT_S)
    finally:
        quick.stop()


def test_release_under_consent_then_refused_after_revocation(world: World) -> None:
    w = world
    fi_handle = w.as_(w.fi)
    record = _stored_record(w)
    custody = w.custody / "custody"
    before = _files(custody)
    missing = _release(w, b"\x00" * 32, record)
    assert missing.receipt.result.code is Code.NOT_FOUND and missing.delivery is None
    assert _files(custody) == before  # a refused release leaves no blob behind
    consent = _consent(w, record, expires_ms=int(time.time() * 1000) + 60_000)
    released = _release(w, consent, record)
    assert released.receipt.accepted and released.delivery is not None
    row = w.c.inspect(lambda n: n.state.get("data_releases", released.receipt.event_id))
    data = json.loads(open_delivery(w.fi, released.delivery, row.blob))
    assert data == {"income": SECRET_INCOME}  # only the consented field
    assert _files(custody) == before  # the delivery went to the FI, nothing more is kept
    assert fi_handle.submit(RecordUse(consent=consent, purpose="loan")).result(WAIT_S).accepted
    misuse = fi_handle.submit(RecordUse(consent=consent, purpose="marketing")).result(WAIT_S)
    assert misuse.result.code is Code.WRONG_ROLE
    assert w.as_(w.owner).submit(RevokeConsent(consent=consent)).result(WAIT_S).accepted
    assert _release(w, consent, record).receipt.result.code is Code.WRONG_STATE
    actions = [a.action for a in w.c.inspect(lambda n: access_report(n.state, w.owner.public_key))]
    assert actions[:3] == ["requested", "stored", "consented"]
    assert "released" in actions and "used" in actions and actions[-1] == "revoked"


def test_expired_consent_counts_as_revoked(world: World) -> None:
    w = world
    record = _stored_record(w)
    head = w.c.head()
    assert head is not None
    consent = _consent(w, record, expires_ms=head.time_ms + 1_500)
    tick = RequestData(owner=w.owner.public_key, fields=("city",), purpose="tick", format="csv")
    while (now := w.c.head()) is not None and now.time_ms < head.time_ms + 1_500:
        time.sleep(0.2)
        w.as_(w.fi).submit(tick).result(WAIT_S)
    assert _release(w, consent, record).receipt.result.code is Code.DEADLINE


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _opens_with_a_party_key(value: bytes, parties: list[Identity]) -> bool:
    for party in parties:
        try:
            unseal(party, value)
        except (nacl.exceptions.CryptoError, ValueError, TypeError):
            continue
        return True
    return False


def test_erasure_shreds_everything_and_the_log_still_audits(world: World) -> None:
    w = world
    record = _stored_record(w)
    consent = _consent(w, record, expires_ms=int(time.time() * 1000) + 60_000)
    assert _release(w, consent, record).receipt.accepted
    blob = w.c.inspect(lambda n: n.state.get("data_records", record)).blob
    assert w.as_(w.owner).submit(EraseRecord(record=record)).result(WAIT_S).accepted
    custody = w.custody / "custody"
    _wait_for(lambda: _files(custody) == [], "the custodian erases on commit, unasked")
    with pytest.raises(RecordErased):  # the custodian no longer has the data
        _release(w, consent, record)
    direct = ReleaseData(consent=consent, blob=blob, fields=("income",))
    refused = w.c.participant(w.extractor).submit(direct).result(WAIT_S)
    assert refused.result.code is Code.WRONG_STATE  # and the rules refuse an erased record
    parties = [w.owner, w.fi, w.extractor]
    for body in w.bodies:  # no key that survives erasure can open anything the log holds
        for value in msgspec.structs.asdict(body).values():
            if isinstance(value, bytes) and len(value) > 32:
                assert not _opens_with_a_party_key(value, parties), type(body).__name__
    w.platform.stop()
    w.c.stop()
    secrets = [SECRET_NAME.encode(), SECRET_INCOME.encode(), *w.keys_made]
    stored = _files(w.custody / "ledger") + _files(w.custody / "custody")
    assert any(p.name == "data.mdb" for p in stored)
    for path in stored:
        content = path.read_bytes()
        assert not any(s in content for s in secrets), path
    for validator in range(4):
        report = audit(w.custody / "ledger" / f"validator-{validator}", workers=1)
        assert report.ok, report.divergence


class _SlowSource:
    """Holds nobody, and answers only once the test lets it."""

    name = "slow"

    def __init__(self) -> None:
        self.go = threading.Event()

    def fetch(self, owner: bytes, fields: Sequence[str]) -> dict[str, str] | None:
        self.go.wait(WAIT_S)
        return None


class _BrokenSource:
    name = "broken"

    def fetch(self, owner: bytes, fields: Sequence[str]) -> dict[str, str] | None:
        raise RuntimeError("the source's database is down")


def test_a_slow_or_broken_subsystem_cannot_leave_a_lookup_unresolved(world: World) -> None:
    w = world
    slow_source = _SlowSource()
    slow = _subsystem(w.c, identity("slow-extractor"), slow_source, w.custody / "slow")
    broken = _subsystem(w.c, identity("broken-extractor"), _BrokenSource(), w.custody / "broken")
    body = RequestData(owner=w.owner.public_key, fields=("income",), purpose="loan", format="json")
    with DataPlatform(w.c, [slow, broken], timeout_s=0.5) as platform:
        first = w.as_(w.fi).submit(body).result(WAIT_S)
        with pytest.raises(DataRequestTimeout, match=r"no answer from slow-extractor$"):
            platform.lookup(first.event_id).result(WAIT_S)
        slow_source.go.set()
    with DataPlatform(w.c, [slow, broken], timeout_s=WAIT_S) as platform:
        second = w.as_(w.fi).submit(body).result(WAIT_S)
        found = platform.lookup(second.event_id).result(WAIT_S)
    assert found.stored == () and found.no_source == ("slow-extractor",)
    assert found.failed == (("broken-extractor", "RuntimeError: the source's database is down"),)


def test_lookups_beyond_capacity_are_refused_and_stopping_resolves_the_rest(world: World) -> None:
    platform = DataPlatform(world.c, [], timeout_s=WAIT_S, capacity=1)
    waiting = platform.lookup(b"\x02" * 32)  # a request that never commits
    with pytest.raises(PlatformBusy):
        platform.lookup(b"\x03" * 32).result(WAIT_S)
    platform.stop()
    with pytest.raises(ConsortiumStopped):
        waiting.result(WAIT_S)


def test_a_platform_started_after_an_erasure_still_erases(world: World) -> None:
    w = world
    record = _stored_record(w)
    w.platform.stop()  # the platform is down when the erasure commits
    assert w.as_(w.owner).submit(EraseRecord(record=record)).result(WAIT_S).accepted
    custody = w.custody / "custody"
    assert _files(custody) != []
    subsystem = _subsystem(w.c, w.extractor, _source(w.custody / "again.sqlite", None), custody)
    w.platform = DataPlatform(w.c, [subsystem])
    _wait_for(lambda: _files(custody) == [], "a restarted platform erases what was erased")
