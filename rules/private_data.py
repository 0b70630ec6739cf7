"""Rules of consent-gated personal data sharing (CN113672983A).

A release needs a live consent of the record's owner at ledger time (not revoked, not expired),
for fields it covers, to the FI it names; an erased record can never be released. Every request,
storage, consent, release and use is a row of ``data_access``, so the owner's question "who saw
which of my data, when, for what purpose" is answered from the projections alone.

Keys: a record's data key is on the ledger only wrapped under the record's key-encryption key
(KEK), which the custodian keeps off the log and destroys when the record is erased; a release
carries no key at all (the FI's copy of the key travels off the log). So nothing the log keeps
can open an erased record.
"""

from __future__ import annotations

from typing import Any

import msgspec

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
from consortium.rules import bounds
from consortium.rules.context import EventContext
from consortium.rules.engine import BlockHook, FunctionRule
from consortium.rules.tables import Order, StatusChange

INDIVIDUAL, FI, PLATFORM, EXTRACTOR = "individual", "fi", "platform", "extractor"
FORMATS = ("json", "csv")
WRAPPED_KEY_SIZE = 24 + 16 + 32
"""A 32-byte data key in a SecretBox: nonce, MAC, key. Any other length is not a wrapped key
(a bare or sealed key would be one that erasure cannot destroy)."""


class DataRequest(msgspec.Struct, frozen=True, gc=False, array_like=True):
    fi: bytes
    owner: bytes
    fields: tuple[str, ...]
    purpose: str
    format: str


class DataRecord(msgspec.Struct, frozen=True, gc=False, array_like=True):
    request: bytes
    owner: bytes
    custodian: bytes
    blob: bytes
    fields: tuple[str, ...]
    wrapped_key: bytes  # b"" once erased
    status: str = "stored"  # stored -> erased


class Consent(msgspec.Struct, frozen=True, gc=False, array_like=True):
    owner: bytes
    fi: bytes
    record: bytes
    fields: tuple[str, ...]
    purpose: str
    expires_ms: int
    revoked: bool = False


class Release(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """What was released to whom: the FI checks its off-log delivery against ``blob``."""

    consent: bytes
    fi: bytes
    blob: bytes
    fields: tuple[str, ...]


class Access(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """One entry of the usage trail."""

    owner: bytes
    party: bytes
    action: str  # requested, stored, consented, revoked, released, used, erased
    record: bytes
    fields: tuple[str, ...]
    purpose: str
    time_ms: int


ROLES = frozenset({INDIVIDUAL, FI, PLATFORM, EXTRACTOR})
TABLES: dict[str, Any] = {
    "data_requests": DataRequest,
    "data_records": DataRecord,
    "data_consents": Consent,
    "data_access": Access,
    "data_releases": Release,
}
BLOCK_HOOKS: tuple[BlockHook, ...] = ()


def _log(
    ctx: EventContext,
    owner: bytes,
    action: str,
    record: bytes,
    fields: tuple[str, ...],
    purpose: str,
) -> None:
    ctx.state.put(
        "data_access",
        ctx.event_id,
        Access(owner, ctx.author_key, action, record, fields, purpose, ctx.time_ms),
    )


def _order_status(ctx: EventContext, request: bytes, status: str) -> None:
    order = ctx.state.get("orders", request)
    ctx.state.put(
        "orders",
        request,
        msgspec.structs.replace(
            order,
            status=status,
            history=(*order.history, StatusChange(status, ctx.height, ctx.time_ms)),
        ),
    )


def _check_request(ctx: EventContext, body: RequestData) -> None:
    ctx.require_role(FI)
    owner = ctx.participant(body.owner, "data owner")
    ctx.require(owner.role == INDIVIDUAL, Code.INVALID, "data is requested about an individual")
    ctx.require(bool(body.fields), Code.INVALID, "name the fields asked for")
    ctx.require(body.format in FORMATS, Code.INVALID, f"format must be one of {FORMATS}")


def _apply_request(ctx: EventContext, body: RequestData) -> None:
    ctx.state.put(
        "data_requests",
        ctx.event_id,
        DataRequest(body.author, body.owner, tuple(sorted(body.fields)), body.purpose, body.format),
    )
    ctx.state.put(
        "orders",
        ctx.event_id,
        Order(
            "data.request",
            (body.author, body.owner),
            "",
            0,
            "requested",
            (StatusChange("requested", ctx.height, ctx.time_ms),),
        ),
    )
    _log(ctx, body.owner, "requested", b"", tuple(sorted(body.fields)), body.purpose)


def _check_store(ctx: EventContext, body: StoreRecord) -> None:
    ctx.require_role(EXTRACTOR, PLATFORM)
    ctx.existing("data_requests", body.request, "no such data request")
    ctx.require(len(body.blob) == 32, Code.INVALID, "blob is a SHA-256")
    ctx.require(
        len(body.wrapped_key) == WRAPPED_KEY_SIZE,
        Code.INVALID,
        f"the data key goes on the ledger only wrapped under the record's key-encryption key "
        f"({WRAPPED_KEY_SIZE} bytes), never bare or sealed to a long-lived key",
    )


def _apply_store(ctx: EventContext, body: StoreRecord) -> None:
    request = ctx.state.get("data_requests", body.request)
    ctx.state.put(
        "data_records",
        ctx.event_id,
        DataRecord(
            body.request,
            request.owner,
            body.author,
            body.blob,
            tuple(sorted(body.fields)),
            body.wrapped_key,
        ),
    )
    _order_status(ctx, body.request, "stored")
    _log(ctx, request.owner, "stored", ctx.event_id, tuple(sorted(body.fields)), request.purpose)


def _record(ctx: EventContext, record_id: bytes) -> DataRecord:
    record: DataRecord = ctx.existing("data_records", record_id, "no such record")
    return record


def _check_consent(ctx: EventContext, body: GrantConsent) -> None:
    record = _record(ctx, body.record)
    ctx.require(body.author == record.owner, Code.WRONG_ROLE, "only the data's owner consents")
    ctx.require(record.status == "stored", Code.WRONG_STATE, f"the record is {record.status}")
    ctx.require(
        set(body.fields) <= set(record.fields),
        Code.INVALID,
        "consent names fields the record does not hold",
    )
    fi = ctx.participant(body.fi, "financial institution")
    ctx.require(fi.role == FI, Code.INVALID, "consent is given to a financial institution")
    bounds.in_range(body.expires_ms, "GrantConsent.expires_ms")
    ctx.require(body.expires_ms > ctx.time_ms, Code.DEADLINE, "the consent is already expired")


def _apply_consent(ctx: EventContext, body: GrantConsent) -> None:
    fields = tuple(sorted(body.fields))
    ctx.state.put(
        "data_consents",
        ctx.event_id,
        Consent(body.author, body.fi, body.record, fields, body.purpose, body.expires_ms),
    )
    _log(ctx, body.author, "consented", body.record, fields, body.purpose)


def _consent(ctx: EventContext, consent_id: bytes) -> Consent:
    consent: Consent = ctx.existing("data_consents", consent_id, "no such consent")
    return consent


def _require_live(ctx: EventContext, consent: Consent) -> None:
    ctx.require(not consent.revoked, Code.WRONG_STATE, "the consent was revoked")
    ctx.require(
        ctx.time_ms < consent.expires_ms, Code.DEADLINE, "the consent expired (ledger time)"
    )


def _check_revoke(ctx: EventContext, body: RevokeConsent) -> None:
    consent = _consent(ctx, body.consent)
    ctx.require(body.author == consent.owner, Code.WRONG_ROLE, "only the owner revokes")
    ctx.require(not consent.revoked, Code.ALREADY_EXISTS, "already revoked")


def _apply_revoke(ctx: EventContext, body: RevokeConsent) -> None:
    consent = ctx.state.get("data_consents", body.consent)
    ctx.state.put("data_consents", body.consent, msgspec.structs.replace(consent, revoked=True))
    _log(ctx, consent.owner, "revoked", consent.record, consent.fields, consent.purpose)


def _check_release(ctx: EventContext, body: ReleaseData) -> None:
    consent = _consent(ctx, body.consent)
    record = _record(ctx, consent.record)
    ctx.require(
        body.author == record.custodian, Code.WRONG_ROLE, "only the record's custodian releases it"
    )
    ctx.require(record.status == "stored", Code.WRONG_STATE, f"the record is {record.status}")
    _require_live(ctx, consent)
    ctx.require(
        set(body.fields) <= set(consent.fields),
        Code.WRONG_ROLE,
        "the release includes fields the owner did not consent to",
    )
    ctx.require(len(body.blob) == 32, Code.INVALID, "a release names its blob's SHA-256")


def _apply_release(ctx: EventContext, body: ReleaseData) -> None:
    consent = ctx.state.get("data_consents", body.consent)
    record = ctx.state.get("data_records", consent.record)
    ctx.state.put(
        "data_releases",
        ctx.event_id,
        Release(body.consent, consent.fi, body.blob, tuple(sorted(body.fields))),
    )
    _order_status(ctx, record.request, "released")
    _log(
        ctx, consent.owner, "released", consent.record, tuple(sorted(body.fields)), consent.purpose
    )


def _check_use(ctx: EventContext, body: RecordUse) -> None:
    consent = _consent(ctx, body.consent)
    ctx.require(body.author == consent.fi, Code.WRONG_ROLE, "only the consented FI uses it")
    _require_live(ctx, consent)
    ctx.require(
        body.purpose == consent.purpose,
        Code.WRONG_ROLE,
        f"consent covers {consent.purpose!r}, not {body.purpose!r}",
    )


def _apply_use(ctx: EventContext, body: RecordUse) -> None:
    consent = ctx.state.get("data_consents", body.consent)
    _log(ctx, consent.owner, "used", consent.record, consent.fields, body.purpose)


def _check_erase(ctx: EventContext, body: EraseRecord) -> None:
    record = _record(ctx, body.record)
    ctx.require(body.author == record.owner, Code.WRONG_ROLE, "only the owner erases")
    ctx.require(record.status != "erased", Code.ALREADY_EXISTS, "already erased")


def _apply_erase(ctx: EventContext, body: EraseRecord) -> None:
    record = ctx.state.get("data_records", body.record)
    # The wrapped key leaves the projection too (the log's copy opens nothing once the
    # custodian destroys the KEK): only the hash remains as proof that the record existed.
    ctx.state.put(
        "data_records",
        body.record,
        msgspec.structs.replace(record, status="erased", wrapped_key=b""),
    )
    _order_status(ctx, record.request, "erased")
    _log(ctx, record.owner, "erased", body.record, record.fields, "")


def access_report(state: Any, owner: bytes) -> list[Access]:
    """Who did what with ``owner``'s data, oldest first, from the projections alone."""
    return sorted(
        (a for _, a in state.rows("data_access") if a.owner == owner),
        key=lambda a: (a.time_ms, a.action),
    )


RULES = {
    RequestData: FunctionRule(_check_request, _apply_request),
    StoreRecord: FunctionRule(_check_store, _apply_store),
    GrantConsent: FunctionRule(_check_consent, _apply_consent),
    RevokeConsent: FunctionRule(_check_revoke, _apply_revoke),
    ReleaseData: FunctionRule(_check_release, _apply_release),
    RecordUse: FunctionRule(_check_use, _apply_use),
    EraseRecord: FunctionRule(_check_erase, _apply_erase),
}
