"""Read-only access to a validator's data directory that reports damage instead of raising.

The validator's own ``EventLog`` refuses a damaged log on open; an auditor needs to walk it
anyway and say exactly where it breaks, so this reader yields records one by one and leaves the
judging to the caller.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import lmdb
import msgspec

from consortium.events.block import BlockHeader
from consortium.events.errors import ConsortiumError, MalformedError
from consortium.events.genesis import Genesis, decode_genesis
from consortium.storage.records import BLOCK_DECODER, HEADER_DECODER, StoredBlock, unframe


class AuditSourceError(ConsortiumError):
    """The directory cannot be audited at all (missing, not a consortium log, unreadable)."""


@dataclass(frozen=True, slots=True)
class BlockRecord:
    """One stored block as found: ``stored`` is None when the record could not be read."""

    key_height: int
    stored: StoredBlock | None
    problem: str | None
    header_record: BlockHeader | None


class LogSource:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise AuditSourceError(f"{self.path} does not exist or is not a directory")
        if not (self.path / "data.mdb").exists():
            raise AuditSourceError(
                f"{self.path} is not a consortium data directory (no data.mdb); pass the "
                "directory of one validator, e.g. DATA/validator-0"
            )
        try:
            self._env = lmdb.open(str(self.path), readonly=True, lock=False, max_dbs=8, subdir=True)
            self._headers = self._env.open_db(b"headers", create=False)
            self._blocks = self._env.open_db(b"blocks", create=False)
            self._ids = self._env.open_db(b"ids", create=False)
            meta = self._env.open_db(b"meta", create=False)
        except lmdb.Error as exc:
            raise AuditSourceError(f"cannot read {self.path} as a consortium log: {exc}") from exc
        with self._env.begin(db=meta) as txn:
            record = txn.get(b"genesis")
        payload = unframe(record) if record is not None else None
        if payload is None:
            raise AuditSourceError(f"{self.path}: the stored genesis is missing or damaged")
        self.genesis: Genesis = decode_genesis(payload)

    def block_count(self) -> int:
        with self._env.begin(db=self._blocks) as txn:
            return int(txn.stat(self._blocks)["entries"])

    def claimed_events(self) -> int | None:
        """How many events the last header record says the log holds, None if it cannot be read.

        A claim, not a fact: good for sizing work before the audit, never for judging the log.
        """
        with self._env.begin(db=self._headers) as txn:
            cursor = txn.cursor()
            if not cursor.last():
                return 0
            header = _decode_header(cursor.value())
        return header.log_size if header is not None else None

    def claimed_event_counts(self) -> Iterator[tuple[int, int]]:
        """(height, event count) for every header record in key order, 0 for an unreadable one.

        Claims again, for planning: the blocks themselves are read and judged elsewhere.
        """
        with self._env.begin(db=self._headers) as txn:
            for key, record in txn.cursor():
                header = _decode_header(record)
                yield int.from_bytes(key, "big"), header.event_count if header is not None else 0

    def records(self, from_height: int = 1) -> Iterator[BlockRecord]:
        """Every stored block from ``from_height`` in key order, with its header record."""
        with self._env.begin() as txn:
            cursor = txn.cursor(db=self._blocks)
            if not cursor.set_range(from_height.to_bytes(8, "big")):
                return
            for key, record in cursor:
                height = int.from_bytes(key, "big")
                header = self._header(txn, key)
                payload = unframe(record)
                if payload is None:
                    yield BlockRecord(height, None, "block record fails its checksum", header)
                    continue
                try:
                    yield BlockRecord(height, BLOCK_DECODER.decode(payload), None, header)
                except msgspec.DecodeError as exc:
                    yield BlockRecord(height, None, f"block record does not decode: {exc}", header)

    def _header(self, txn: lmdb.Transaction[bytes], key: bytes) -> BlockHeader | None:
        return _decode_header(txn.get(key, db=self._headers))

    def locate(self, eid: bytes) -> tuple[int, int] | None:
        with self._env.begin(db=self._ids) as txn:
            value = txn.get(eid)
        if value is None:
            return None
        return int.from_bytes(value[:8], "big"), int.from_bytes(value[8:], "big")

    def close(self) -> None:
        self._env.close()

    def __enter__(self) -> LogSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _decode_header(record: bytes | None) -> BlockHeader | None:
    payload = unframe(record) if record is not None else None
    if payload is None:
        return None
    try:
        return HEADER_DECODER.decode(payload)
    except (msgspec.DecodeError, MalformedError):
        return None
