"""The data extraction subsystem: pulls a record from whichever plugged-in source holds it,
stores it encrypted, and releases consented fields re-encrypted for the requesting FI.

It acts on the ledger only through its participant handle (its events are checked by the rules
like any other), and it never puts personal data on the ledger: the blob store gets ciphertext,
the ledger its hash and the data key sealed to named readers.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Protocol

from consortium.actors.messages import Receipt
from consortium.actors.receipts import ReceiptFuture
from consortium.data_sources import DataSource
from consortium.events.body import EventBody
from consortium.events.identity import Identity
from consortium.events.private_data import ReleaseData, StoreRecord
from consortium.events.sealing import decrypt, encrypt, new_data_key, seal_to, unseal
from consortium.storage.blobs import BlobStore

WAIT_S = 60.0


class Submitter(Protocol):
    """What the subsystem needs of its participant handle."""

    def submit(self, body: EventBody) -> ReceiptFuture: ...


class ExtractionSubsystem:
    def __init__(
        self,
        identity: Identity,
        handle: Submitter,
        sources: Sequence[DataSource],
        blobs: BlobStore,
    ) -> None:
        self.identity = identity
        self._handle = handle
        self._sources = list(sources)
        self._blobs = blobs

    def serve_request(
        self, request_id: bytes, owner: bytes, fields: Sequence[str]
    ) -> Receipt | None:
        """Pull and store the record if a source holds it; None if none of ours does."""
        record = next((r for s in self._sources if (r := s.fetch(owner, fields)) is not None), None)
        if record is None:
            return None
        data_key = new_data_key()
        blob = self._blobs.put(encrypt(data_key, json.dumps(record, sort_keys=True).encode()))
        body = StoreRecord(
            request=request_id,
            blob=blob,
            fields=tuple(sorted(record)),
            sealed_for_owner=seal_to(owner, data_key),
            sealed_for_custodian=seal_to(self.identity.public_key, data_key),
        )
        return self._handle.submit(body).result(WAIT_S)

    def release(
        self,
        consent_id: bytes,
        fi: bytes,
        blob: bytes,
        sealed_for_custodian: bytes,
        fields: Sequence[str],
        fmt: str,
    ) -> Receipt:
        """Re-encrypt the consented ``fields`` in the FI's format, sealed to the FI; the rules
        refuse the release unless the owner's consent is live."""
        ciphertext = self._blobs.get(blob)
        if ciphertext is None:
            raise LookupError("the record's blob is gone (erased)")
        record = json.loads(decrypt(unseal(self.identity, sealed_for_custodian), ciphertext))
        chosen = {f: record[f] for f in sorted(fields) if f in record}
        release_key = new_data_key()
        released = self._blobs.put(encrypt(release_key, render(chosen, fmt)))
        body = ReleaseData(
            consent=consent_id,
            blob=released,
            fields=tuple(sorted(chosen)),
            sealed_for_fi=seal_to(fi, release_key),
        )
        return self._handle.submit(body).result(WAIT_S)


def render(record: dict[str, str], fmt: str) -> bytes:
    """The record in the format the FI asked for."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(record.keys())
        writer.writerow(record.values())
        return out.getvalue().encode()
    return json.dumps(record, sort_keys=True).encode()


def open_release(reader: Identity, blobs: BlobStore, blob: bytes, sealed: bytes) -> bytes:
    """What the FI does with a release: fetch the blob, unseal the key, decrypt."""
    ciphertext = blobs.get(blob)
    if ciphertext is None:
        raise LookupError("the released blob is gone")
    return decrypt(unseal(reader, sealed), ciphertext)
