"""Event bodies of consent-gated sharing of personal data (CN113672983A).

No personal data is ever in a body: records are referenced by the SHA-256 of an encrypted blob.
No key that can open a record once it is erased is ever in a body either (crypto-shredding): a
record's data key appears only wrapped under the record's key-encryption key, which lives in the
custodian's key store, off the log, and is destroyed when ``EraseRecord`` commits. A release is
delivered to the FI off the log; the log records its hash and fields.
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
    blob: bytes  # SHA-256 of the ciphertext in the custodian's blob store
    fields: tuple[str, ...]
    wrapped_key: bytes  # the data key in a SecretBox under the record's KEK (72 bytes)


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
    """The custodian (author) released the consented fields to the FI, re-encrypted under a
    fresh key that only the off-log delivery to the FI carries (sealed to the FI)."""

    consent: bytes
    blob: bytes  # SHA-256 of the delivered ciphertext, so FI and auditor can match it
    fields: tuple[str, ...]


class RecordUse(EventBody, frozen=True, tag="data.use"):
    """The FI (author) records a use of released data."""

    consent: bytes
    purpose: str


class EraseRecord(EventBody, frozen=True, tag="data.erase"):
    """The owner (author) has the record erased: once it commits, the custodian deletes the
    blob and destroys the record's KEK, so the wrapped key in the log opens nothing."""

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
