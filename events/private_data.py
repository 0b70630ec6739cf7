"""Event bodies of consent-gated sharing of personal data (CN113672983A).

No personal data is ever in a body: records are referenced by the SHA-256 of an encrypted blob,
and the key that decrypts a blob appears only sealed (X25519 sealed box) to a named reader.
"""

from __future__ import annotations

from consortium.events.body import EventBody


class RequestData(EventBody, frozen=True, tag="data.request"):
    """A financial institution (author) asks for an individual's data assets."""

    owner: bytes
    fields: tuple[str, ...]
    purpose: str
    format: str  # "json" or "csv": how the FI wants the release assembled


class StoreRecord(EventBody, frozen=True, tag="data.store"):
    """An extraction subsystem (author) pulled the record and stored it encrypted."""

    request: bytes
    blob: bytes  # SHA-256 of the ciphertext in the blob store
    fields: tuple[str, ...]
    sealed_for_owner: bytes
    sealed_for_custodian: bytes


class GrantConsent(EventBody, frozen=True, tag="data.consent"):
    """The owner (author) authorises an FI; the FI forwards the signed consent to the ledger."""

    fi: bytes
    record: bytes
    fields: tuple[str, ...]
    purpose: str
    expires_ms: int


class RevokeConsent(EventBody, frozen=True, tag="data.revoke"):
    consent: bytes


class ReleaseData(EventBody, frozen=True, tag="data.release"):
    """The custodian (author) releases the consented fields to the FI, re-encrypted for it."""

    consent: bytes
    blob: bytes
    fields: tuple[str, ...]
    sealed_for_fi: bytes


class RecordUse(EventBody, frozen=True, tag="data.use"):
    """The FI (author) records a use of released data."""

    consent: bytes
    purpose: str


class EraseRecord(EventBody, frozen=True, tag="data.erase"):
    """The owner (author) has the record erased: its blob and keys are destroyed off-ledger."""

    record: bytes


BODIES = (
    RequestData,
    StoreRecord,
    GrantConsent,
    RevokeConsent,
    ReleaseData,
    RecordUse,
    EraseRecord,
)
