"""Read-only access to a validator's data directory that reports damage instead of raising.

The validator's own ``EventLog`` refuses a damaged log on open; an auditor needs to walk it
anyway and say exactly where it breaks, so this reader yields records one by one and leaves the
judging to the caller. A file too short for what its LMDB header says it holds is refused before
it is mapped (``storage.lmdb_file``: reading a page past the end of a mapped file is a SIGBUS,
not an error), and an error LMDB raises while reading is an ``AuditSourceError`` naming the
directory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import lmdb
import msgspec

from consortium.events.block import BlockHeader
from consortium.events.errors import ConsortiumError, MalformedError
from consortium.events.genesis import Genesis, decode_genesis
from consortium.storage.errors import LogFileError
from consortium.storage.lmdb_file import check_data_file
from consortium.storage.log import FORMAT
from consortium.storage.records import BLOCK_DECODER, HEADER_DECODER, StoredBlock, unframe

DATABASES = ("meta", "headers", "blocks", "ids", "state", "tables", "intake", "signed")
"""The named databases of a log (``storage.log``); any other is reported by the audit."""


class AuditSourceError(ConsortiumError):
    """The directory cannot be audited at all (missing, not a consortium log, unreadable)."""


@dataclass(frozen=True, slots=True)
class BlockRecord:
    """One stored block as found: ``stored`` is None when the record could not be read."""

    key_height: int
    stored: StoredBlock | None
    problem: str | None
    header_record: BlockHeader | None


def payload(db: str, key: bytes, record: bytes) -> bytes | None:
    """The payload of a record framed by ``storage.records``, None if its checksum fails."""
    return unframe(db.encode(), key, record)


class LogSource:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise AuditSourceError(f"{self.path} does not exist or is not a directory")
        if not (self.path / "data.mdb").is_file():
            raise AuditSourceError(
                f"{self.path} is not a consortium data directory (no data.mdb); pass the "
                "directory of one validator, e.g. DATA/validator-0"
            )
        try:
            check_data_file(self.path)
        except LogFileError as exc:
            raise AuditSourceError(
                f"{exc.what}, so it cannot be audited: copy the directory again from the "
                "validator, or restore it from a backup"
            ) from exc
        try:
            self._env = lmdb.open(
                str(self.path), readonly=True, lock=False, max_dbs=len(DATABASES), subdir=True
            )
        except lmdb.Error as exc:
            raise AuditSourceError(f"cannot read {self.path} as a consortium log: {exc}") from exc
        try:
            self._dbs = {name: self._open_db(name) for name in DATABASES}
            for name in ("meta", "headers", "blocks", "ids"):
                if self._dbs[name] is None:
                    raise AuditSourceError(
                        f"{self.path} is not a consortium log: it has no {name!r} database"
                    )
            self._refuse_other_format()  # every reader of the log, before any record
            self.genesis: Genesis = self._stored_genesis()
        except BaseException:
            self._env.close()
            raise

    def _stored_genesis(self) -> Genesis:
        record = self.get("meta", b"genesis")
        found = payload("meta", b"genesis", record) if record is not None else None
        if found is None:
            self._refuse_other_format()
        try:
            if found is None:
                raise MalformedError("missing or fails its checksum")
            return decode_genesis(found)
        except MalformedError as exc:
            raise AuditSourceError(f"{self.path}: the stored genesis is damaged ({exc})") from exc

    def _refuse_other_format(self) -> None:
        """An ``AuditSourceError`` naming the format of a log written by another version (whose
        records this version cannot check), if that is why the genesis does not read."""
        raw = self.get("meta", b"format")
        if raw is None:
            return
        name = payload("meta", b"format", raw) or raw
        if name != FORMAT and name.startswith(b"consortium-log/") and name[15:].isdigit():
            raise AuditSourceError(
                f"{self.path} holds a log of format {name.decode()!r}; this version reads "
                f"{FORMAT.decode()!r}. Read it with the version of consortium that wrote it"
            )

    def _open_db(self, name: str) -> lmdb._Database | None:
        try:
            return self._env.open_db(name.encode(), create=False)
        except lmdb.NotFoundError:
            return None
        except lmdb.Error as exc:
            raise AuditSourceError(f"cannot read {self.path} as a consortium log: {exc}") from exc

    def has_database(self, name: str) -> bool:
        return self._dbs[name] is not None

    def database_names(self) -> list[bytes]:
        """The names of every named database in the file (the keys of LMDB's main database)."""
        try:
            with self._env.begin() as txn:
                return [bytes(key) for key in txn.cursor().iternext(values=False)]
        except lmdb.Error as exc:
            raise self._unreadable("main", exc) from exc

    def _db(self, name: str) -> lmdb._Database:
        db = self._dbs[name]
        assert db is not None, name
        return db

    def get(self, db: str, key: bytes) -> bytes | None:
        """The raw record under ``key`` in ``db`` (None when absent or no such database)."""
        if self._dbs[db] is None:
            return None
        try:
            with self._env.begin(db=self._db(db)) as txn:
                value = txn.get(key)
        except lmdb.Error as exc:
            raise self._unreadable(db, exc) from exc
        return None if value is None else bytes(value)

    def get_many(self, db: str, keys: Iterable[bytes]) -> list[bytes | None]:
        """The raw records under ``keys`` in ``db``, in one read transaction."""
        if self._dbs[db] is None:
            return [None for _ in keys]
        try:
            with self._env.begin(db=self._db(db)) as txn:
                return [None if (v := txn.get(key)) is None else bytes(v) for key in keys]
        except lmdb.Error as exc:
            raise self._unreadable(db, exc) from exc

    def entries(self, db: str) -> Iterator[tuple[bytes, bytes]]:
        """Every raw (key, record) of ``db`` in key order, none for a missing database."""
        if self._dbs[db] is None:
            return
        try:
            with self._env.begin(db=self._db(db)) as txn:
                for key, value in txn.cursor():
                    yield bytes(key), bytes(value)
        except lmdb.Error as exc:
            raise self._unreadable(db, exc) from exc

    def count(self, db: str) -> int:
        if self._dbs[db] is None:
            return 0
        try:
            with self._env.begin(db=self._db(db)) as txn:
                return int(txn.stat(self._db(db))["entries"])
        except lmdb.Error as exc:
            raise self._unreadable(db, exc) from exc

    def _unreadable(self, db: str, exc: lmdb.Error) -> AuditSourceError:
        return AuditSourceError(
            f"{self.path}: the {db!r} database cannot be read ({exc}); the file is damaged. "
            "Restore this validator's directory from a backup or let it resync from its peers"
        )

    def block_count(self) -> int:
        return self.count("blocks")

    def claimed_events(self) -> int | None:
        """How many events the last header record says the log holds, None if it cannot be read.

        A claim, not a fact: good for sizing work before the audit, never for judging the log.
        """
        last = None
        try:
            with self._env.begin(db=self._db("headers")) as txn:
                cursor = txn.cursor()
                if not cursor.last():
                    return 0
                last = bytes(cursor.key()), bytes(cursor.value())
        except lmdb.Error as exc:
            raise self._unreadable("headers", exc) from exc
        header = _decode_header(*last)
        return header.log_size if header is not None else None

    def claimed_event_counts(self) -> Iterator[tuple[int, int]]:
        """(height, event count) for every header record in key order, 0 for an unreadable one.

        Claims again, for planning: the blocks themselves are read and judged elsewhere.
        """
        for key, record in self.entries("headers"):
            header = _decode_header(key, record)
            yield int.from_bytes(key, "big"), header.event_count if header is not None else 0

    def records(self, from_height: int = 1) -> Iterator[BlockRecord]:
        """Every stored block from ``from_height`` in key order, with its header record."""
        try:
            with self._env.begin() as txn:
                cursor = txn.cursor(db=self._db("blocks"))
                if not cursor.set_range(from_height.to_bytes(8, "big")):
                    return
                for raw_key, raw in cursor:
                    key, record = bytes(raw_key), bytes(raw)
                    header_record = txn.get(key, db=self._db("headers"))
                    header = None if header_record is None else _decode_header(key, header_record)
                    yield _block_record(key, record, header)
        except lmdb.Error as exc:
            raise self._unreadable("blocks", exc) from exc

    def locate(self, eid: bytes) -> tuple[int, int] | None:
        record = self.get("ids", eid)
        value = None if record is None else payload("ids", eid, record)
        if value is None or len(value) != 12:
            return None
        return int.from_bytes(value[:8], "big"), int.from_bytes(value[8:], "big")

    def close(self) -> None:
        self._env.close()

    def __enter__(self) -> LogSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _block_record(key: bytes, record: bytes, header: BlockHeader | None) -> BlockRecord:
    height = int.from_bytes(key, "big")
    if len(key) != 8:
        return BlockRecord(height, None, f"a block record under a {len(key)}-byte key", header)
    found = payload("blocks", key, record)
    if found is None:
        return BlockRecord(height, None, "block record fails its checksum", header)
    try:
        return BlockRecord(height, BLOCK_DECODER.decode(found), None, header)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return BlockRecord(height, None, f"block record does not decode: {exc}", header)


def _decode_header(key: bytes, record: bytes) -> BlockHeader | None:
    found = payload("headers", key, record)
    if found is None:
        return None
    try:
        return HEADER_DECODER.decode(found)
    except (msgspec.DecodeError, UnicodeDecodeError, MalformedError):
        return None
