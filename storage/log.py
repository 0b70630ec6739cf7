"""One validator's append-only event log in an LMDB environment.

Named databases: ``headers`` and ``blocks`` (height -> record), ``ids`` (event id -> height and
position), ``state`` and ``tables`` (the committed state's rows and table hashes, see
``storage.state_rows``), ``intake`` (the most recent events refused before consensus), ``meta``
(the format, genesis, the state's height, record counts), and ``signed`` (what this validator
signed per height and round, so a restart never signs a conflicting vote). Heights are
big-endian so ``append=True`` keeps writes at the end of the B-tree; every ``append`` result is
checked, because LMDB answers an out-of-order key with False, not an exception. A committed
block, with the state it leaves, is one write transaction, durable by default.

Every value is framed by ``storage.records`` (a checksum over database, key and value), and
opening checks the whole log's structure before anything is served: the file's size against
its LMDB meta page (``storage.lmdb_file``), the meta keys, every header (checksum, height, hash
chain), every block record's checksum and the head block against its header, every event id
record (checksum, a location inside the log, the count in ``meta``) and every signing record.
Any damage there is a ``LogCorruptError``. A damaged stored state (a row, a table record, the
state's height) is not an error: ``stored_state`` reports no usable state and the validator
rebuilds it from the log. Damaged refusal records are dropped, since they are forensics only.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import lmdb

from consortium.events.block import CommittedBlock, event_leaves, header_hash
from consortium.events.codec import encode
from consortium.events.genesis import Genesis, decode_genesis
from consortium.events.logs import get_logger
from consortium.events.merkle import root_from_leaf_hashes
from consortium.events.results import EventResult
from consortium.storage.errors import (
    LogCorruptError,
    LogFormatError,
    StateCorruptError,
    StorageError,
)
from consortium.storage.key_filter import DEFAULT_BITS, KeyFilter
from consortium.storage.lmdb_file import check_data_file
from consortium.storage.records import (
    BLOCK_DECODER,
    HEADER_DECODER,
    INTAKE_DECODER,
    IntakeRejection,
    StoredBlock,
    frame,
    intact,
    unframe,
)
from consortium.storage.state_rows import (
    StoredRow,
    StoredRows,
    read_table_record,
    state_problem,
    stored_rows,
    table_record,
)

log = get_logger(__name__)

FORMAT = b"consortium-log/5"
_FORMAT_NAME = b"consortium-log/"
_DATABASES = (b"meta", b"headers", b"blocks", b"ids", b"state", b"tables", b"intake", b"signed")
SIGNED_HEIGHTS_KEPT = 16
INTAKE_KEPT = 10_000
"""Refusal records kept by default: the most recent, the oldest pruned as new ones come."""
INTAKE_PENDING = 1_000
"""Refusals gathered in memory before they are written in a transaction of their own; fewer are
written with the next block's transaction (or at close), so refusals never cost a sync each."""
FORMAT_KEY = b"format"
GENESIS_KEY = b"genesis"
STATE_HEIGHT_KEY = b"state_height"
ID_COUNT_KEY = b"event_ids"
SIGNED_COUNT_KEY = b"signed_records"
CREATED_KEY = b"created_ms"
META_KEYS = frozenset(
    {FORMAT_KEY, GENESIS_KEY, STATE_HEIGHT_KEY, ID_COUNT_KEY, SIGNED_COUNT_KEY, CREATED_KEY}
)
"""Every key ``meta`` may hold; any other is damage. ``event_ids`` and ``signed_records`` count
the records of ``ids`` and ``signed``, each a big-endian u64; ``created_ms`` is when the
validator first started on this log, by its clock (``mark_created``)."""
_LOCATION_BYTES = 12  # height (8) and index in the block (4)
ZERO_HASH = bytes(32)

# LMDB forbids opening one environment twice in a process; this set makes that a clear error.
_OPEN_PATHS: set[Path] = set()
_OPEN_LOCK = threading.Lock()


def _lock_writer(path: Path) -> int:
    """Hold an exclusive lock on the directory's ``writer.lock``: one writing process only.

    LMDB lets several processes open one environment; two validators appending to one log would
    each extend a head the other has moved. The lock makes the second one fail at once.
    """
    fd = os.open(path / "writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StorageError(
            f"{path} is in use by another process; stop it first, or copy the directory and "
            "open the copy"
        ) from None
    return fd


def _key(n: int) -> bytes:
    return n.to_bytes(8, "big")


def _block_record(height: int, record: bytes) -> StoredBlock:
    """The stored block under ``height``, checked: its checksum covers the key, so a record
    moved under another height's key fails it; the height inside must match too."""
    payload = unframe(b"blocks", _key(height), record)
    if payload is None:
        raise LogCorruptError(height, "block record fails its checksum")
    stored = BLOCK_DECODER.decode(payload)
    if stored.committed.block.header.height != height:
        raise LogCorruptError(height, "block record is stored under another height's key")
    return stored


@dataclass(frozen=True, slots=True)
class StoredState:
    """What the log says of its stored state: at which height, with which table hashes."""

    height: int
    table_lanes: dict[str, bytes]


@dataclass(frozen=True, slots=True)
class EventLocation:
    height: int
    index: int


class EventLog:
    def __init__(
        self,
        path: Path | str,
        genesis: Genesis | None = None,
        *,
        durable: bool = True,
        readonly: bool = False,
        map_size: int = 64 << 20,
        intake_kept: int = INTAKE_KEPT,
    ) -> None:
        self.path = Path(path).resolve()
        self._writer_lock: int | None = None
        self._readonly = readonly
        if readonly and not (self.path / "data.mdb").exists():
            raise StorageError(
                f"{self.path} is not a consortium data directory (no data.mdb); "
                "pass the directory of one validator"
            )
        with _OPEN_LOCK:
            if self.path in _OPEN_PATHS:
                raise StorageError(f"{self.path} is already open in this process; close it first")
            _OPEN_PATHS.add(self.path)
        try:
            self._env = self._open(readonly, durable, map_size)
        except Exception:
            self._release()
            raise
        try:
            self._db = self._open_databases(readonly)
            self._state_readers: list[StoredRows] = []
            self.genesis = self._init_genesis(genesis, readonly)
            self._head_height, self._head_hash, self._head_time, counts = self._verify_chain()
            self._verify_blocks()
            if self._head_height:
                self._check_block_record(self._head_height, self._head_hash)
            self._committed = self._verify_ids(counts, readonly)
            self._verify_signed()
            self.intake_kept = intake_kept
            self._intake_pending: list[IntakeRejection] = []
            self._intake_next = self._verify_intake(readonly)
        except BaseException as exc:
            self._env.close()
            self._release()
            if isinstance(exc, lmdb.Error):  # a damaged B-tree page, met walking the databases
                raise LogCorruptError(None, f"LMDB cannot read the file: {exc}") from exc
            raise
        self._signed_kept_from = -SIGNED_HEIGHTS_KEPT  # the first record prunes what a run left

    def _open(self, readonly: bool, durable: bool, map_size: int) -> lmdb.Environment:
        if not readonly:
            self.path.mkdir(parents=True, exist_ok=True)
            self._writer_lock = _lock_writer(self.path)
        if (self.path / "data.mdb").exists():
            check_data_file(self.path)
        try:
            return lmdb.open(
                str(self.path),
                map_size=map_size,
                max_dbs=len(_DATABASES),
                readonly=readonly,
                lock=not readonly,
                sync=durable,
                metasync=durable,
                writemap=False,
            )
        except lmdb.Error as exc:
            raise StorageError(f"cannot open the log in {self.path}: {exc}") from exc

    def _open_databases(self, readonly: bool) -> dict[str, lmdb._Database]:
        """The named databases; opening one read-only that is not there is a damaged log."""
        found = {}
        for name in _DATABASES:
            try:
                found[name.decode()] = self._env.open_db(name, create=not readonly)
            except lmdb.Error as exc:
                raise LogCorruptError(None, f"database {name.decode()!r}: {exc}") from exc
        return found

    def _meta(self, key: bytes) -> bytes | None:
        with self._env.begin(db=self._db["meta"]) as txn:
            record = txn.get(key)
        if record is None:
            return None
        payload = unframe(b"meta", key, record)
        if payload is None:
            raise LogCorruptError(None, f"the meta record {key.decode()!r} fails its checksum")
        return payload

    def _init_genesis(self, genesis: Genesis | None, readonly: bool) -> Genesis:
        with self._env.begin() as txn:
            meta_keys = {bytes(k) for k in txn.cursor(db=self._db["meta"]).iternext(values=False)}
            empty = not meta_keys and all(
                txn.stat(self._db[name])["entries"] == 0 for name in self._db
            )
            raw_format = txn.get(FORMAT_KEY, db=self._db["meta"])
        if empty:
            if genesis is None or readonly:
                raise StorageError(
                    f"{self.path} holds no consortium log; pass a genesis to create one"
                )
            with self._env.begin(write=True, db=self._db["meta"]) as txn:
                txn.put(FORMAT_KEY, frame(b"meta", FORMAT_KEY, FORMAT))
                txn.put(GENESIS_KEY, frame(b"meta", GENESIS_KEY, encode(genesis)))
            return genesis
        self._check_format(raw_format)
        unexpected = sorted(meta_keys - META_KEYS)
        if unexpected:
            raise LogCorruptError(None, f"the meta database holds an unknown key {unexpected[0]!r}")
        payload = self._meta(GENESIS_KEY)
        if payload is None:
            raise LogCorruptError(None, "the genesis record is missing")
        found = decode_genesis(payload)
        if genesis is not None and found.hash != genesis.hash:
            raise StorageError(
                f"{self.path} belongs to chain {found.chain_id!r} with another genesis; "
                "use a fresh directory for a new consortium"
            )
        return found

    def _check_format(self, raw: bytes | None) -> None:
        """A log of another format is a ``LogFormatError`` (format 4 and before stored the name
        without a checksum); a format record that is neither is damage."""
        if raw is None:
            raise LogCorruptError(None, "the format record is missing")
        payload = unframe(b"meta", FORMAT_KEY, raw)
        if payload == FORMAT:
            return
        for name in (payload, bytes(raw)):
            if name and name.startswith(_FORMAT_NAME) and name[len(_FORMAT_NAME) :].isdigit():
                raise LogFormatError(self.path, name, FORMAT)
        raise LogCorruptError(None, "the format record fails its checksum")

    # ---------------------------------------------------------------- reading

    @property
    def intake_kept(self) -> int:
        """Refusal records kept, the most recent; a ``LedgerNode`` sets it from its settings."""
        return self._intake_kept

    @intake_kept.setter
    def intake_kept(self, kept: int) -> None:
        if kept < 1:
            raise ValueError(f"at least one refusal record must be kept, not {kept}")
        self._intake_kept = kept

    @property
    def head_height(self) -> int:
        return self._head_height

    @property
    def head_hash(self) -> bytes:
        return self._head_hash

    @property
    def head_time_ms(self) -> int:
        return self._head_time

    def _verify_chain(self) -> tuple[int, bytes, int, list[int]]:
        """Walk every header: checksums, consecutive heights, each linked to the one before.
        Also the event count of each height, for the check of the id index."""
        height, prev_hash, time_ms = 0, ZERO_HASH, self.genesis.genesis_time_ms
        counts: list[int] = []
        with self._env.begin(db=self._db["headers"]) as txn:
            for key, record in txn.cursor():
                expected = height + 1
                if key != _key(expected):
                    raise LogCorruptError(expected, f"found a header under the key {key.hex()}")
                payload = unframe(b"headers", key, record)
                if payload is None:
                    raise LogCorruptError(expected, "header fails its checksum")
                header = HEADER_DECODER.decode(payload)
                if header.height != expected or header.prev_hash != prev_hash:
                    raise LogCorruptError(expected, "header does not link to the previous block")
                height, prev_hash, time_ms = expected, header_hash(header), header.time_ms
                counts.append(header.event_count)
        return height, prev_hash, time_ms, counts

    def _verify_blocks(self) -> None:
        """One block record per height up to the head, each passing its checksum. The records
        are checked through LMDB's buffers, without a copy: a pass over the file's blocks."""
        expected = 0
        with self._env.begin(db=self._db["blocks"], buffers=True) as txn:
            for key, record in txn.cursor():
                expected += 1
                if bytes(key) != _key(expected):
                    what = f"found a block record under the key {bytes(key).hex()}"
                    raise LogCorruptError(expected, what)
                if not intact(b"blocks", _key(expected), record):
                    raise LogCorruptError(expected, "block record fails its checksum")
        if expected != self._head_height:
            raise LogCorruptError(expected + 1, "block record is missing")

    def _check_block_record(self, height: int, expected_hash: bytes) -> None:
        """The head's block record, decoded, against its header: its hash and events root."""
        stored = self.stored_block(height)
        if stored.committed.block.hash != expected_hash:
            raise LogCorruptError(height, "block record does not match its header")
        block = stored.committed.block
        if root_from_leaf_hashes(event_leaves(block.events)) != block.header.events_root:
            raise LogCorruptError(height, "events do not match the header's events root")

    def _verify_ids(self, event_counts: Sequence[int], readonly: bool) -> KeyFilter:
        """Check every event id record (checksum, a location inside the log) and their number,
        and return the filter of committed ids, filled in the same pass. A read-only log cannot
        see what its writer appends later, so its filter answers "maybe" to everything."""
        db = self._db["ids"]
        committed = KeyFilter.answering_maybe() if readonly else KeyFilter()
        with self._env.begin(db=db) as txn:
            entries: int = txn.stat(db)["entries"]
            if entries > committed.capacity:
                committed.saturate()
            filling = not committed.saturated
            for eid, record in txn.cursor():
                payload = unframe(b"ids", eid, record)
                if payload is None or len(payload) != _LOCATION_BYTES:
                    raise LogCorruptError(None, f"the id record of {eid.hex()[:16]}… is damaged")
                height = int.from_bytes(payload[:8], "big")
                if not 1 <= height <= len(event_counts) or (
                    int.from_bytes(payload[8:], "big") >= event_counts[height - 1]
                ):
                    raise LogCorruptError(
                        None, f"the id record of {eid.hex()[:16]}… points outside the log"
                    )
                if filling:
                    committed.add(eid)
        expected = self._stored_count(ID_COUNT_KEY)
        if entries != expected:
            raise LogCorruptError(
                None, f"the id index holds {entries} event ids where the log says {expected}"
            )
        return committed

    def _stored_count(self, name: bytes) -> int:
        """A record count kept in ``meta`` (0 before the first record), which no checksum of
        the counted records can replace: it is how a deleted record is noticed."""
        stored = self._meta(name)
        return 0 if stored is None else int.from_bytes(stored, "big")

    def _verify_signed(self) -> None:
        """Every record of what this validator signed must be whole: one it cannot read could
        hide a vote, and signing again at that height could conflict with it."""
        db = self._db["signed"]
        with self._env.begin(db=db) as txn:
            entries: int = txn.stat(db)["entries"]
            for key, record in txn.cursor():
                if len(key) < 8 or not intact(b"signed", key, record):
                    raise LogCorruptError(
                        int.from_bytes(key[:8], "big") if len(key) >= 8 else None,
                        "a record of what this validator signed is damaged",
                    )
        expected = self._stored_count(SIGNED_COUNT_KEY)
        if entries != expected:
            raise LogCorruptError(
                None,
                f"{entries} records of what this validator signed where the log says {expected}",
            )

    def _verify_intake(self, readonly: bool) -> int:
        """Drop damaged refusal records (forensics only: not worth refusing to start over) and
        return the sequence number of the next one."""
        db = self._db["intake"]
        damaged: list[bytes] = []
        last = 0
        with self._env.begin(db=db) as txn:
            for key, record in txn.cursor():
                if len(key) == 8 and intact(b"intake", key, record):
                    last = int.from_bytes(key, "big")
                else:
                    damaged.append(bytes(key))
        if damaged:
            log.warning(
                "%s: %d damaged records of refused events%s",
                self.path,
                len(damaged),
                "" if readonly else "; dropped",
            )
            if not readonly:
                with self._env.begin(write=True, db=db) as txn:
                    for key in damaged:
                        txn.delete(key)
        return last + 1

    def stored_block(self, height: int) -> StoredBlock:
        with self._env.begin(db=self._db["blocks"]) as txn:
            record = txn.get(_key(height))
        if record is None:
            raise KeyError(f"no block at height {height} (head is {self._head_height})")
        return _block_record(height, record)

    def stored_blocks(
        self, from_height: int = 1, to_height: int | None = None
    ) -> Iterator[StoredBlock]:
        """Blocks in height order, each checksum-verified, in one read transaction."""
        last = self._head_height if to_height is None else min(to_height, self._head_height)
        with self._env.begin(db=self._db["blocks"]) as txn:
            cursor = txn.cursor()
            if not cursor.set_range(_key(from_height)):
                return
            for key, record in cursor:
                height = int.from_bytes(key, "big")
                if height > last:
                    return
                yield _block_record(height, record)

    def locate(self, eid: bytes) -> EventLocation | None:
        with self._env.begin(db=self._db["ids"]) as txn:
            record = txn.get(eid)
        if record is None:
            return None
        value = unframe(b"ids", eid, record)
        if value is None or len(value) != _LOCATION_BYTES:
            raise LogCorruptError(None, f"the id record of {eid.hex()[:16]}… is damaged")
        return EventLocation(int.from_bytes(value[:8], "big"), int.from_bytes(value[8:], "big"))

    def committed_ids(self, ids: Sequence[bytes]) -> set[bytes]:
        """Which of ``ids`` are in the log: asked of every arriving event, and answered without
        LMDB for those the filter has never seen (nearly all), in one read transaction for the
        rest. Each LMDB call releases the GIL, and a validator thread that releases it while
        others are busy waits to get it back."""
        maybe = [eid for eid in ids if self._committed.may_contain(eid)]
        if not maybe:
            return set()
        with self._env.begin(db=self._db["ids"]) as txn:
            return {eid for eid in maybe if txn.get(eid) is not None}

    def stored_state(self) -> StoredState | None:
        """The stored state's height and table hashes, once every row, table record and the
        height record pass their checks; None if no state was stored, or the stored one is
        damaged (said in a warning): either way the validator rebuilds it from the log."""
        try:
            with self._env.begin() as txn:
                found = self._read_stored_state(txn)
        except lmdb.Error as exc:  # a damaged page of the state's databases
            found = f"LMDB cannot read it: {exc}"
        if isinstance(found, str):
            log.warning("%s: the stored state is damaged (%s); rebuilding it", self.path, found)
            return None
        return found

    def _read_stored_state(self, txn: lmdb.Transaction) -> StoredState | str | None:
        """The stored state, what is wrong with it, or None if none was stored."""
        record = txn.get(STATE_HEIGHT_KEY, db=self._db["meta"])
        if record is None:
            return None
        height = unframe(b"meta", STATE_HEIGHT_KEY, record)
        if height is None:
            return "its height record fails its checksum"
        lanes: dict[str, bytes] = {}
        counts: dict[str, int] = {}
        for name, table in txn.cursor(db=self._db["tables"]):
            parsed = read_table_record(bytes(name), bytes(table))
            if parsed is None:
                return f"the record of table {bytes(name)!r} fails its checksum"
            counts[bytes(name).decode()], lanes[bytes(name).decode()] = parsed
        problem = state_problem(txn, self._db["state"], counts)
        return problem or StoredState(int.from_bytes(height, "big"), lanes)

    def state_rows(
        self, schema: Mapping[str, type], cache_rows: int, filter_bits: int = DEFAULT_BITS
    ) -> StoredRows:
        """A reader of the stored state's rows, for the validator's thread only."""
        reader = StoredRows(
            self._env, self._db["state"], schema, cache_rows, self.mark_state_stale, filter_bits
        )
        self._state_readers.append(reader)
        return reader

    def release_state_rows(self, reader: object) -> None:
        """Close a reader of a state that was replaced (rebuilt after damage) and forget it:
        its snapshot would otherwise keep LMDB from reusing any page freed after it."""
        if isinstance(reader, StoredRows) and reader in self._state_readers:
            self._state_readers.remove(reader)
            reader.close()

    def intake_rejections(self) -> list[IntakeRejection]:
        """The refusals kept, oldest first: those stored and those not written yet."""
        with self._env.begin(db=self._db["intake"]) as txn:
            stored = [
                INTAKE_DECODER.decode(payload)
                for key, record in txn.cursor()
                if (payload := unframe(b"intake", key, record)) is not None
            ]
        return (stored + self._intake_pending)[-self.intake_kept :]

    # ---------------------------------------------------------------- writing

    def append(
        self,
        committed: CommittedBlock,
        results: Sequence[EventResult],
        log_frontier: Sequence[bytes],
        event_ids: Sequence[bytes],
        state_writes: Mapping[str, Mapping[bytes, bytes | None]],
        table_lanes: Mapping[str, bytes],
    ) -> None:
        """Store one committed block in one durable transaction; it must extend the head.

        ``state_writes`` (the block's changed rows, encoded; None for a removed row) and
        ``table_lanes`` (the new hashes of the tables it changed) go into the same transaction,
        so the stored state moves with the head. So do the refusals noted since the last write.
        """
        header = committed.block.header
        if header.height != self._head_height + 1 or header.prev_hash != self._head_hash:
            raise StorageError(
                f"block {header.height} does not extend the head {self._head_height}"
            )
        key = _key(header.height)
        block = encode(StoredBlock(committed, tuple(results), tuple(log_frontier)))
        block_record = frame(b"blocks", key, block)
        header_record = frame(b"headers", key, encode(header))
        id_rows = [
            (eid, frame(b"ids", eid, key + i.to_bytes(4, "big"))) for i, eid in enumerate(event_ids)
        ]
        state_rows = list(stored_rows(state_writes))
        refusals = list(self._intake_pending)

        def write(txn: lmdb.Transaction) -> None:
            self._put_append(txn, "headers", key, header_record)
            self._put_append(txn, "blocks", key, block_record)
            ids = self._db["ids"]
            added = sum(txn.put(eid, record, db=ids, overwrite=False) for eid, record in id_rows)
            self._add_to_count(txn, ID_COUNT_KEY, added)
            self._write_state(txn, header.height, state_rows, table_lanes)
            self._write_intake(txn, refusals)

        self._write(write)
        self._intake_written(len(refusals))
        for eid in event_ids:
            self._committed.add(eid)
        self._head_height = header.height
        self._head_hash = committed.block.hash
        self._head_time = header.time_ms

    def _add_to_count(self, txn: lmdb.Transaction, name: bytes, delta: int) -> None:
        """Add ``delta`` to the record count ``name`` in ``meta``, which the open checks."""
        if not delta:
            return
        meta = self._db["meta"]
        record = txn.get(name, db=meta)
        count = 0
        if record is not None:
            payload = unframe(b"meta", name, record)
            if payload is None:
                raise LogCorruptError(None, f"the meta record {name.decode()!r} fails its checksum")
            count = int.from_bytes(payload, "big")
        txn.put(name, frame(b"meta", name, _key(count + delta)), db=meta)

    def _write_state(
        self,
        txn: lmdb.Transaction,
        height: int,
        rows: Iterable[StoredRow],
        table_lanes: Mapping[str, bytes],
    ) -> None:
        """Write rows and table records; each table's record keeps its row count, as rows are
        added or removed."""
        state = self._db["state"]
        added: dict[str, int] = {}
        for table, stored_key, record in rows:
            if record is None:
                if txn.delete(stored_key, db=state):
                    added[table] = added.get(table, 0) - 1
            elif txn.replace(stored_key, record, db=state) is None:
                added[table] = added.get(table, 0) + 1
        tables = self._db["tables"]
        for name in sorted(added.keys() | table_lanes.keys()):
            old = txn.get(name.encode(), db=tables)
            count, lanes = (0, b"") if old is None else self._table_record(name, bytes(old))
            new = table_record(name, count + added.get(name, 0), table_lanes.get(name, lanes))
            txn.put(name.encode(), new, db=tables)
        txn.put(
            STATE_HEIGHT_KEY, frame(b"meta", STATE_HEIGHT_KEY, _key(height)), db=self._db["meta"]
        )

    @staticmethod
    def _table_record(name: str, record: bytes) -> tuple[int, bytes]:
        parsed = read_table_record(name.encode(), record)
        if parsed is None:
            raise StateCorruptError(name, b"", "(the table's record) fails its checksum")
        return parsed

    def replace_state(
        self,
        height: int,
        rows: Mapping[str, Mapping[bytes, bytes | None]],
        table_lanes: Mapping[str, bytes],
    ) -> None:
        """Store a whole state (its rows encoded, by table), rebuilt at ``height`` (the head), in
        place of the stored one."""
        if height != self._head_height:
            raise StorageError(f"a state at {height} is not the head's ({self._head_height})")
        encoded = list(stored_rows(rows))

        def write(txn: lmdb.Transaction) -> None:
            txn.drop(self._db["state"], delete=False)
            txn.drop(self._db["tables"], delete=False)
            self._write_state(txn, height, encoded, table_lanes)

        self._write(write)

    def created_ms(self) -> int | None:
        """When the validator first started on this log (None: never recorded)."""
        payload = self._meta(CREATED_KEY)
        if payload is None:
            return None
        if len(payload) != 8:
            raise LogCorruptError(None, "the meta record 'created_ms' is not 8 bytes")
        return int.from_bytes(payload, "big")

    def mark_created(self, time_ms: int) -> None:
        """Record, once, when the validator first started on this log: a log that is new when
        block 1 is, was there from the chain's start; one newer than block 1 replaced a lost
        one (the double-sign check, docs/consensus.md rule 11)."""

        def write(txn: lmdb.Transaction) -> None:
            if txn.get(CREATED_KEY, db=self._db["meta"]) is None:
                record = frame(b"meta", CREATED_KEY, max(0, time_ms).to_bytes(8, "big"))
                txn.put(CREATED_KEY, record, db=self._db["meta"])

        self._write(write)

    def mark_state_stale(self) -> None:
        """Make the next open rebuild the state from the log (a stored row failed its check)."""

        def write(txn: lmdb.Transaction) -> None:
            txn.delete(STATE_HEIGHT_KEY, db=self._db["meta"])

        self._write(write)

    def record_intake_rejections(self, rejections: Sequence[IntakeRejection]) -> None:
        """Note events refused before consensus, for forensics: they are written with the next
        block's transaction, in one of their own once ``INTAKE_PENDING`` have gathered, or at
        close, so a flood of junk costs neither a sync nor a transaction per event. Only the
        most recent ``intake_kept`` are kept; a crash may lose the unwritten ones."""
        self._intake_pending.extend(rejections)
        if len(self._intake_pending) >= INTAKE_PENDING:
            self._flush_intake()

    def _flush_intake(self) -> None:
        """Write the pending refusals in a transaction of their own, with the state readers'
        snapshots closed meanwhile (the state does not change): LMDB reuses a page freed by
        earlier pruning only when no reader's snapshot is as old, and an idle validator, which
        commits nothing, would never renew them; the file would grow with every flush."""
        refusals = list(self._intake_pending)
        with self._readers_closed():
            self._write(lambda txn: self._write_intake(txn, refusals))
        self._intake_written(len(refusals))

    @contextmanager
    def _readers_closed(self) -> Iterator[None]:
        """The state readers' snapshots closed meanwhile, and renewed after for those that were
        open (a reader closed between uses, like the scrubber's, stays closed)."""
        open_readers = [reader for reader in self._state_readers if reader.is_open]
        for reader in open_readers:
            reader.close()
        try:
            yield
        finally:
            for reader in open_readers:
                reader.reopen()

    def _write_intake(self, txn: lmdb.Transaction, refusals: Sequence[IntakeRejection]) -> None:
        """Prune the oldest refusals past the bound, then write ``refusals`` after the last one
        stored (those of them that are kept)."""
        if not refusals:
            return
        first_kept = _key(max(0, self._intake_next + len(refusals) - self.intake_kept))
        cursor = txn.cursor(db=self._db["intake"])
        while cursor.first() and bytes(cursor.key()) < first_kept:
            cursor.delete()
        for n, refusal in enumerate(refusals, self._intake_next):
            if _key(n) >= first_kept:
                record = frame(b"intake", _key(n), encode(refusal))
                self._put_append(txn, "intake", _key(n), record)

    def _intake_written(self, count: int) -> None:
        self._intake_next += count
        del self._intake_pending[:count]

    def signed_records(self, height: int) -> list[tuple[bytes, bytes]]:
        """Every (slot, record) this validator noted at ``height``."""
        prefix = _key(height)
        with self._env.begin(db=self._db["signed"]) as txn:
            cursor = txn.cursor()
            if not cursor.set_range(prefix):
                return []
            found = []
            for key, record in cursor:
                if not bytes(key).startswith(prefix):
                    break
                payload = unframe(b"signed", key, record)
                if payload is None:
                    raise LogCorruptError(
                        height, "a record of what this validator signed is damaged"
                    )
                found.append((bytes(key[len(prefix) :]), payload))
        return found

    def record_signed(self, records: Sequence[tuple[int, bytes, bytes]]) -> None:
        """Durably note (height, slot, record) signatures, in one transaction, before any of them
        is released; forget heights long decided.

        Heights are forgotten in steps of ``SIGNED_HEIGHTS_KEPT``, so between that many and twice
        as many are kept: a validator records twice per height, and pruning on every call cost
        a few LMDB calls each time, every one of them a release of the GIL."""
        if not records:
            return
        oldest_kept = max(0, max(height for height, _, _ in records) - SIGNED_HEIGHTS_KEPT)
        prune = oldest_kept >= self._signed_kept_from + SIGNED_HEIGHTS_KEPT

        def write(txn: lmdb.Transaction) -> None:
            db = self._db["signed"]
            added = 0
            for height, slot, record in records:
                key = _key(height) + slot
                added += txn.replace(key, frame(b"signed", key, record), db=db) is None
            if prune:
                first_kept = _key(oldest_kept)
                cursor = txn.cursor(db=db)
                while cursor.first() and bytes(cursor.key()) < first_kept:
                    cursor.delete()
                    added -= 1
            self._add_to_count(txn, SIGNED_COUNT_KEY, added)

        self._write(write)
        if prune:
            self._signed_kept_from = oldest_kept

    def _put_append(self, txn: lmdb.Transaction, db: str, key: bytes, value: bytes) -> None:
        if not txn.put(key, value, db=self._db[db], append=True):
            raise StorageError(f"{db}: key {key.hex()} is not after the last key; log not extended")

    def _write(self, write: Callable[[lmdb.Transaction], None]) -> None:
        """Run ``write`` in one transaction, growing the map and retrying when it is full."""
        while True:
            try:
                with self._env.begin(write=True) as txn:
                    write(txn)
                return
            except lmdb.MapFullError:
                new_size = self._env.info()["map_size"] * 2
                log.info("%s: growing the LMDB map to %d MiB", self.path, new_size >> 20)
                with self._readers_closed():  # LMDB remaps only with no transaction open
                    self._env.set_mapsize(new_size)
            except lmdb.Error as exc:
                raise StorageError(
                    f"{self.path}: LMDB could not write ({exc}). If the disk is full, free space "
                    "and restart; otherwise the file is damaged: restore this validator's "
                    "directory from a backup, or start it on an empty directory and let it "
                    "resync from its peers"
                ) from exc

    def close(self) -> None:
        """Write the refusals not written yet, then close; failing to write them (they are
        forensics) is a warning, not a reason to leave the environment open."""
        try:
            if self._intake_pending and not self._readonly:
                self._flush_intake()
        except (StorageError, lmdb.Error) as exc:
            log.warning(
                "%s: %d refusal records not written: %s", self.path, len(self._intake_pending), exc
            )
        finally:
            self._env.close()
            self._release()

    def _release(self) -> None:
        if self._writer_lock is not None:
            os.close(self._writer_lock)  # closing the descriptor drops the flock
            self._writer_lock = None
        with _OPEN_LOCK:
            _OPEN_PATHS.discard(self.path)

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
