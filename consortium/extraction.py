"""The data extraction subsystem: pulls a record from whichever plugged-in source holds it,
stores it encrypted, releases consented fields re-encrypted for the requesting FI, and erases.

It acts on the ledger only through its participant handle (its events are checked by the rules
like any other), and it never puts personal data, or a key that survives erasure, on the ledger:
the blob store gets the ciphertext, the key store the record's key-encryption key (KEK), the
ledger the blob's hash and the data key wrapped under the KEK. A release goes to the FI off the
log, as a ``Delivery`` (ciphertext plus its key sealed to the FI); the ledger records its hash.
The subsystem is called by the data platform (``consortium.data_platform``), not by the host.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from consortium.actors.messages import Receipt
from consortium.actors.receipts import ReceiptFuture
from consortium.data_sources import DataSource
from consortium.events.body import EventBody
from consortium.events.errors import ConsortiumError
from consortium.events.identity import Identity
from consortium.events.private_data import ReleaseData, StoreRecord
from consortium.events.sealing import decrypt, encrypt, new_data_key, seal_to, unseal
from consortium.storage.blobs import BlobStore, KeyStore

WAIT_S = 60.0


class RecordErased(ConsortiumError, LookupError):
    """The custodian no longer holds the record's blob or KEK: it was erased (or never here)."""


class Submitter(Protocol):
    """What the subsystem needs of its participant handle."""

    def submit(self, body: EventBody) -> ReceiptFuture: ...


@dataclass(frozen=True, slots=True)
class Delivery:
    """A release as the FI receives it, off the log: ``open_delivery`` reads it."""

    ciphertext: bytes
    sealed_key: bytes  # the release key, sealed to the FI's identity


@dataclass(frozen=True, slots=True)
class Released:
    """The ledger's verdict on a release, and the delivery only if the rules accepted it."""

    receipt: Receipt
    delivery: Delivery | None


class ExtractionSubsystem:
    def __init__(
        self,
        identity: Identity,
        handle: Submitter,
        sources: Sequence[DataSource],
        blobs: BlobStore,
        keys: KeyStore,
    ) -> None:
        self.identity = identity
        self._handle = handle
        self._sources = list(sources)
        self._blobs = blobs
        self._keys = keys

    @property
    def name(self) -> str:
        return self.identity.name

    def serve_request(
        self, request_id: bytes, owner: bytes, fields: Sequence[str]
    ) -> Receipt | None:
        """Pull and store the record if a source holds it; None if none of ours does. A
        ``StoreRecord`` the rules refuse leaves neither blob nor KEK behind."""
        record = next((r for s in self._sources if (r := s.fetch(owner, fields)) is not None), None)
        if record is None:
            return None
        data_key, kek = new_data_key(), new_data_key()
        blob = self._blobs.put(encrypt(data_key, json.dumps(record, sort_keys=True).encode()))
        self._keys.put(blob, kek)
        body = StoreRecord(
            request=request_id,
            blob=blob,
            fields=tuple(sorted(record)),
            wrapped_key=encrypt(kek, data_key),
        )
        try:
            receipt = self._handle.submit(body).result(WAIT_S)
        except BaseException:
            self.erase(blob)  # not on the ledger as far as we can tell: keep nothing
            raise
        if not receipt.accepted:
            self.erase(blob)
        return receipt

    def release(
        self,
        consent_id: bytes,
        fi: bytes,
        blob: bytes,
        wrapped_key: bytes,
        fields: Sequence[str],
        fmt: str,
    ) -> Released:
        """Re-encrypt the consented ``fields`` in the FI's format under a fresh key; the rules
        refuse the release unless the owner's consent is live, and only an accepted release
        yields a delivery. Nothing is stored for a release, accepted or not."""
        kek, ciphertext = self._keys.get(blob), self._blobs.get(blob)
        if kek is None or ciphertext is None:
            raise RecordErased(f"record blob {blob.hex()[:16]}… is not held here (erased?)")
        record = json.loads(decrypt(decrypt(kek, wrapped_key), ciphertext))
        chosen = {f: record[f] for f in sorted(fields) if f in record}
        release_key = new_data_key()
        payload = encrypt(release_key, render(chosen, fmt))
        body = ReleaseData(
            consent=consent_id, blob=hashlib.sha256(payload).digest(), fields=tuple(sorted(chosen))
        )
        receipt = self._handle.submit(body).result(WAIT_S)
        if not receipt.accepted:
            return Released(receipt, None)
        return Released(receipt, Delivery(payload, seal_to(fi, release_key)))

    def erase(self, blob: bytes) -> bool:
        """Destroy the record's KEK and delete its blob; True if either was here."""
        destroyed = self._keys.destroy(blob)
        return self._blobs.delete(blob) or destroyed


def render(record: dict[str, str], fmt: str) -> bytes:
    """The record in the format the FI asked for."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(record.keys())
        writer.writerow(record.values())
        return out.getvalue().encode()
    return json.dumps(record, sort_keys=True).encode()


def open_delivery(reader: Identity, delivery: Delivery, blob: bytes) -> bytes:
    """What the FI does with a delivery: check it is the release the ledger recorded
    (``blob`` of its ``data_releases`` row), unseal the key, decrypt."""
    if hashlib.sha256(delivery.ciphertext).digest() != blob:
        raise ValueError("the delivery is not the release the ledger recorded")
    return decrypt(unseal(reader, delivery.sealed_key), delivery.ciphertext)
