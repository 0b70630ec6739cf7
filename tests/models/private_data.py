"""A reference model of consent-gated personal data: requests, records, consents, releases,
uses and erasures, with the usage trail the owner's access report reads.

Each method takes the block time and returns the code the ledger must give (``Code.OK`` when it
accepts), applying the event if accepted. Checks run in the order the README documents, so the
first broken rule names the code. The model knows nothing of keys or blobs: the rules only see
a blob's hash and a wrapped key's length, and so does the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from consortium.events.results import Code

WRAPPED_KEY_SIZE = 72  # a 32-byte key in a SecretBox (24-byte nonce, 16-byte MAC)


@dataclass
class Record:
    request: bytes
    owner: bytes
    custodian: bytes
    fields: tuple[str, ...]
    erased: bool = False


@dataclass
class Consent:
    owner: bytes
    fi: bytes
    record: bytes
    fields: tuple[str, ...]
    purpose: str
    expires_ms: int
    revoked: bool = False


Trail = tuple[bytes, bytes, str, bytes, tuple[str, ...], str, int]
"""owner, party, action, record, fields, purpose, time: one ``data_access`` row."""


@dataclass
class PrivateDataModel:
    roles: dict[bytes, str]
    requests: dict[bytes, tuple[bytes, str]] = field(default_factory=dict)
    """request id -> (owner, purpose)."""
    order_status: dict[bytes, str] = field(default_factory=dict)
    records: dict[bytes, Record] = field(default_factory=dict)
    consents: dict[bytes, Consent] = field(default_factory=dict)
    releases: dict[bytes, tuple[bytes, tuple[str, ...]]] = field(default_factory=dict)
    """release id -> (consent, fields)."""
    trail: dict[bytes, Trail] = field(default_factory=dict)

    def request(
        self, eid: bytes, fi: bytes, owner: bytes, fields: tuple[str, ...], fmt: str, t: int
    ) -> Code:
        if self.roles.get(fi) != "fi":
            return Code.WRONG_ROLE
        if owner not in self.roles:
            return Code.NOT_FOUND
        if self.roles[owner] != "individual" or not fields or fmt not in ("json", "csv"):
            return Code.INVALID
        self.requests[eid] = (owner, "loan")
        self.order_status[eid] = "requested"
        self.trail[eid] = (owner, fi, "requested", b"", tuple(sorted(fields)), "loan", t)
        return Code.OK

    def store(
        self,
        eid: bytes,
        author: bytes,
        request: bytes,
        fields: tuple[str, ...],
        key_len: int,
        t: int,
    ) -> Code:
        if self.roles.get(author) not in ("extractor", "platform"):
            return Code.WRONG_ROLE
        if request not in self.requests:
            return Code.NOT_FOUND
        if key_len != WRAPPED_KEY_SIZE:
            return Code.INVALID
        owner, purpose = self.requests[request]
        self.records[eid] = Record(request, owner, author, tuple(sorted(fields)))
        self.order_status[request] = "stored"
        self.trail[eid] = (owner, author, "stored", eid, tuple(sorted(fields)), purpose, t)
        return Code.OK

    def consent(
        self,
        eid: bytes,
        author: bytes,
        fi: bytes,
        record_id: bytes,
        fields: tuple[str, ...],
        expires_ms: int,
        t: int,
    ) -> Code:
        record = self.records.get(record_id)
        if record is None:
            return Code.NOT_FOUND
        if author != record.owner:
            return Code.WRONG_ROLE
        if record.erased:
            return Code.WRONG_STATE
        if not set(fields) <= set(record.fields):
            return Code.INVALID
        if fi not in self.roles:
            return Code.NOT_FOUND
        if self.roles[fi] != "fi":
            return Code.INVALID
        if expires_ms <= t:
            return Code.DEADLINE
        chosen = tuple(sorted(fields))
        self.consents[eid] = Consent(author, fi, record_id, chosen, "loan", expires_ms)
        self.trail[eid] = (author, author, "consented", record_id, chosen, "loan", t)
        return Code.OK

    def revoke(self, eid: bytes, author: bytes, consent_id: bytes, t: int) -> Code:
        consent = self.consents.get(consent_id)
        if consent is None:
            return Code.NOT_FOUND
        if author != consent.owner:
            return Code.WRONG_ROLE
        if consent.revoked:
            return Code.ALREADY_EXISTS
        consent.revoked = True
        self.trail[eid] = (
            consent.owner,
            author,
            "revoked",
            consent.record,
            consent.fields,
            consent.purpose,
            t,
        )
        return Code.OK

    def _live(self, consent: Consent, t: int) -> Code:
        if consent.revoked:
            return Code.WRONG_STATE
        return Code.OK if t < consent.expires_ms else Code.DEADLINE

    def release(
        self, eid: bytes, author: bytes, consent_id: bytes, fields: tuple[str, ...], t: int
    ) -> Code:
        consent = self.consents.get(consent_id)
        if consent is None:
            return Code.NOT_FOUND
        record = self.records[consent.record]
        if author != record.custodian:
            return Code.WRONG_ROLE
        if record.erased:
            return Code.WRONG_STATE
        if (live := self._live(consent, t)) is not Code.OK:
            return live
        if not set(fields) <= set(consent.fields):
            return Code.WRONG_ROLE
        chosen = tuple(sorted(fields))
        self.releases[eid] = (consent_id, chosen)
        self.order_status[record.request] = "released"
        self.trail[eid] = (
            consent.owner,
            author,
            "released",
            consent.record,
            chosen,
            consent.purpose,
            t,
        )
        return Code.OK

    def use(self, eid: bytes, author: bytes, consent_id: bytes, purpose: str, t: int) -> Code:
        consent = self.consents.get(consent_id)
        if consent is None:
            return Code.NOT_FOUND
        if author != consent.fi:
            return Code.WRONG_ROLE
        if (live := self._live(consent, t)) is not Code.OK:
            return live
        if purpose != consent.purpose:
            return Code.WRONG_ROLE
        self.trail[eid] = (
            consent.owner,
            author,
            "used",
            consent.record,
            consent.fields,
            purpose,
            t,
        )
        return Code.OK

    def erase(self, eid: bytes, author: bytes, record_id: bytes, t: int) -> Code:
        record = self.records.get(record_id)
        if record is None:
            return Code.NOT_FOUND
        if author != record.owner:
            return Code.WRONG_ROLE
        if record.erased:
            return Code.ALREADY_EXISTS
        record.erased = True
        self.order_status[record.request] = "erased"
        self.trail[eid] = (record.owner, author, "erased", record_id, record.fields, "", t)
        return Code.OK
