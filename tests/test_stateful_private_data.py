"""Random interleavings of personal-data events, several per block, with clock jumps that
expire consents, against the rules core and the reference model; every event's code must match
and, after every block, the records, consents, releases, request orders and the usage trail
must agree. Each run ends by replaying its blocks from the genesis."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from consortium.events.body import EventBody
from consortium.events.envelope import event_id
from consortium.events.identity import Identity
from consortium.events.payments import RegisterParticipant
from consortium.events.private_data import (
    EraseRecord,
    GrantConsent,
    RecordUse,
    ReleaseData,
    RequestData,
    RevokeConsent,
    StoreRecord,
)
from consortium.events.results import Code
from tests.ledger_fixtures import ADMIN, Ledger, ident, rules_ledger, same_projections
from tests.models.private_data import WRAPPED_KEY_SIZE, PrivateDataModel
from tests.stateful import SETTINGS, Block

P1, P2, FI1, FI2, X1, X2 = (ident(n) for n in ("p1", "p2", "fi1", "fi2", "x1", "x2"))
ROLES = {P1: "individual", P2: "individual", FI1: "fi", FI2: "fi", X1: "extractor", X2: "extractor"}
FIELDS = ("city", "income", "name")
anyone = st.sampled_from(list(ROLES))
fis, people, extractors = (
    st.sampled_from([FI1, FI2, P1]),
    st.sampled_from([P1, P2]),
    st.sampled_from([X1, X2, FI1]),
)
field_sets = st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3, unique=True).map(tuple)
picks = st.integers(0, 50)
honest = st.booleans()
"""True: the event's author (and fields) are the ones the rules want, so that accepted
consents, releases and erasures are common; False: anyone, anything."""
BY_KEY = {w.public_key: w for w in ROLES}


def _pick(queued: list[bytes], accepted: Iterable[bytes], pick: int, fair: bool) -> bytes:
    """An id of an event queued so far (accepted or not), or when ``fair`` of one the model
    accepted; an id nobody made (``not_found``) when there is none."""
    items = [i for i in queued if i in set(accepted)] if fair else queued
    return items[pick % len(items)] if items else bytes(32)


def _step(method: Callable[..., Code], *arguments: object) -> Callable[[bytes, int], Code]:
    """The model's ``method(event_id, *arguments, time)`` as a step of the block."""
    return lambda eid, t: method(eid, *arguments, t)


class PrivateDataMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ledger: Ledger = rules_ledger()
        self.ledger.run(
            *[
                self.ledger.sign(
                    ADMIN, RegisterParticipant(participant=w.public_key, name=w.name, role=r)
                )
                for w, r in ROLES.items()
            ],
            time_ms=1_000,
        )
        self.model = PrivateDataModel({w.public_key: r for w, r in ROLES.items()})
        self.time = 2_000
        self.block = Block()
        self.requests: list[bytes] = []
        self.records: list[bytes] = []
        self.consents: list[bytes] = []
        self._seed()

    def _seed(self) -> None:
        """A stored record of each person and a consent to each, one that expires soon and one
        that lasts, so that short runs release, use, revoke and expire too."""
        for fi, owner in ((FI1, P1), (FI2, P2)):
            ask = RequestData(owner=owner.public_key, fields=FIELDS, purpose="loan", format="csv")
            model = _step(self.model.request, fi.public_key, owner.public_key, FIELDS, "csv")
            self.requests.append(self._queue(fi, ask, model))
        self.block.run(self.ledger, self.time, lambda t: None)
        for custodian, request in zip((X1, X2), self.requests, strict=True):
            key = bytes(WRAPPED_KEY_SIZE)
            store = StoreRecord(request=request, blob=request, fields=FIELDS, wrapped_key=key)
            model = _step(self.model.store, custodian.public_key, request, FIELDS, len(key))
            self.records.append(self._queue(custodian, store, model))
        self.time += 1
        self.block.run(self.ledger, self.time, lambda t: None)
        seeds = ((P1, FI1, self.records[0], 3_000), (P2, FI2, self.records[1], 100_000))
        for owner, fi, record, validity in seeds:
            expires = self.time + validity
            grant = GrantConsent(
                fi=fi.public_key, record=record, fields=FIELDS, purpose="loan", expires_ms=expires
            )
            model = _step(
                self.model.consent, owner.public_key, fi.public_key, record, FIELDS, expires
            )
            self.consents.append(self._queue(owner, grant, model))
        self.time += 1
        self.block.run(self.ledger, self.time, lambda t: None)

    def _queue(
        self, author: Identity, body: EventBody, step: Callable[[bytes, int], Code]
    ) -> bytes:
        envelope = self.ledger.sign(author, body)
        eid = event_id(envelope)
        self.block.add(envelope, lambda t: step(eid, t))
        return eid

    @rule(fi=fis, owner=people, fields=field_sets, fmt=st.sampled_from(["json", "csv", "xml"]))
    def request(self, fi: Identity, owner: Identity, fields: tuple[str, ...], fmt: str) -> None:
        body = RequestData(owner=owner.public_key, fields=fields, purpose="loan", format=fmt)
        self.requests.append(
            self._queue(
                fi,
                body,
                lambda e, t: self.model.request(e, fi.public_key, owner.public_key, fields, fmt, t),
            )
        )

    @rule(
        author=extractors,
        pick=picks,
        fields=field_sets,
        key_len=st.sampled_from([WRAPPED_KEY_SIZE, 32, 80]),
        fair=honest,
    )
    def store(
        self, author: Identity, pick: int, fields: tuple[str, ...], key_len: int, fair: bool
    ) -> None:
        request = _pick(self.requests, self.model.requests, pick, fair)
        if fair:
            author, key_len = (X1 if pick % 2 else X2), WRAPPED_KEY_SIZE
        body = StoreRecord(
            request=request,
            blob=bytes(31) + bytes([pick]),
            fields=fields,
            wrapped_key=bytes(key_len),
        )
        self.records.append(
            self._queue(
                author,
                body,
                lambda e, t: self.model.store(e, author.public_key, request, fields, key_len, t),
            )
        )

    @rule(
        author=people,
        fi=st.sampled_from([FI1, FI2, X1]),
        pick=picks,
        fields=field_sets,
        validity=st.sampled_from([-100, 0, 1, 10, 500, 2_000, 2_500, 6_000, 50_000]),
        fair=honest,
    )
    def consent(
        self,
        author: Identity,
        fi: Identity,
        pick: int,
        fields: tuple[str, ...],
        validity: int,
        fair: bool,
    ) -> None:
        record = _pick(self.records, self.model.records, pick, fair)
        expires = max(0, self.time + validity)
        if fair and (held := self.model.records.get(record)) is not None:
            author = BY_KEY[held.owner]
            fields = tuple(f for f in fields if f in held.fields) or held.fields
        body = GrantConsent(
            fi=fi.public_key, record=record, fields=fields, purpose="loan", expires_ms=expires
        )
        self.consents.append(
            self._queue(
                author,
                body,
                lambda e, t: self.model.consent(
                    e, author.public_key, fi.public_key, record, fields, expires, t
                ),
            )
        )

    @rule(author=people, pick=picks, fair=honest)
    def revoke(self, author: Identity, pick: int, fair: bool) -> None:
        consent = _pick(self.consents, self.model.consents, pick, fair)
        if fair and (given := self.model.consents.get(consent)) is not None:
            author = BY_KEY[given.owner]
        self._queue(
            author,
            RevokeConsent(consent=consent),
            lambda e, t: self.model.revoke(e, author.public_key, consent, t),
        )

    @rule(author=extractors, pick=picks, fields=field_sets, fair=honest)
    def release(self, author: Identity, pick: int, fields: tuple[str, ...], fair: bool) -> None:
        consent = _pick(self.consents, self.model.consents, pick, fair)
        if fair and (given := self.model.consents.get(consent)) is not None:
            author = BY_KEY[self.model.records[given.record].custodian]
            fields = tuple(f for f in fields if f in given.fields) or given.fields
        body = ReleaseData(consent=consent, blob=bytes(32), fields=fields)
        self._queue(
            author, body, lambda e, t: self.model.release(e, author.public_key, consent, fields, t)
        )

    @rule(
        author=st.sampled_from([FI1, FI2]),
        pick=picks,
        purpose=st.sampled_from(["loan", "ads"]),
        fair=honest,
    )
    def use(self, author: Identity, pick: int, purpose: str, fair: bool) -> None:
        consent = _pick(self.consents, self.model.consents, pick, fair)
        if fair and (given := self.model.consents.get(consent)) is not None:
            author = BY_KEY[given.fi]
        self._queue(
            author,
            RecordUse(consent=consent, purpose=purpose),
            lambda e, t: self.model.use(e, author.public_key, consent, purpose, t),
        )

    @rule(author=anyone, pick=picks, fair=honest)
    def erase(self, author: Identity, pick: int, fair: bool) -> None:
        fair = fair and pick % 4 == 0  # erasure is final: a fair one, rarer, leaves runs more
        record = _pick(self.records, self.model.records, pick, fair)
        if fair and (held := self.model.records.get(record)) is not None:
            author = BY_KEY[held.owner]
        self._queue(
            author,
            EraseRecord(record=record),
            lambda e, t: self.model.erase(e, author.public_key, record, t),
        )

    @rule(jump=st.sampled_from([1, 10, 100, 500, 2_000, 6_000]))
    def close_block(self, jump: int) -> None:
        self.time += jump
        self.block.run(self.ledger, self.time, lambda t: None)

    @rule()
    def close_block_at_an_expiry(self) -> None:
        """Close the block exactly when a consent expires: the boundary is ``time < expiry``."""
        due = [c.expires_ms for c in self.model.consents.values() if c.expires_ms > self.time]
        self.time = min(due, default=self.time + 1)
        self.block.run(self.ledger, self.time, lambda t: None)

    @invariant()
    def projections_agree(self) -> None:
        state = self.ledger.state
        for rid, record in self.model.records.items():
            row = state.get("data_records", rid)
            assert (row.owner, row.custodian, row.fields) == (
                record.owner,
                record.custodian,
                record.fields,
            )
            assert row.status == ("erased" if record.erased else "stored")
            assert len(row.wrapped_key) == (0 if record.erased else WRAPPED_KEY_SIZE)
        assert len(list(state.rows("data_records"))) == len(self.model.records)
        consents = {
            cid: (c.owner, c.fi, c.record, c.fields, c.expires_ms, c.revoked)
            for cid, c in state.rows("data_consents")
        }
        assert consents == {
            cid: (c.owner, c.fi, c.record, c.fields, c.expires_ms, c.revoked)
            for cid, c in self.model.consents.items()
        }
        releases = {rid: (r.consent, r.fields) for rid, r in state.rows("data_releases")}
        assert releases == self.model.releases
        for request, status in self.model.order_status.items():
            order = state.get("orders", request)
            assert order.status == status == order.history[-1].status
        trail = {
            eid: (a.owner, a.party, a.action, a.record, a.fields, a.purpose, a.time_ms)
            for eid, a in state.rows("data_access")
        }
        assert trail == self.model.trail

    def teardown(self) -> None:
        assert same_projections(self.ledger.replayed(), self.ledger.state)


PrivateDataMachine.TestCase.settings = SETTINGS
test_private_data_against_the_model = PrivateDataMachine.TestCase
