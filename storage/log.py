"""One validator's append-only event log in an LMDB environment.

Named databases: ``headers`` and ``blocks`` (height -> record), ``ids`` (event id -> height and
position), ``state`` and ``tables`` (the committed state's rows and table hashes, see
``storage.state_rows``), ``intake`` (events refused before consensus), ``meta`` (genesis, the
state's height), and ``signed`` (what this validator signed per height and round, so a restart
never signs a conflicting vote). Heights are big-endian so ``append=True`` keeps writes
at the end of the B-tree; every ``append`` result is checked, because LMDB answers an
out-of-order key with False, not an exception. A committed block, with the state it leaves, is one
write transaction, durable by default.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import lmdb

from consortium.events.block import CommittedBlock, event_leaves, header_hash
from consortium.events.codec import encode
from consortium.events.genesis import Genesis, decode_genesis
from consortium.events.logs import get_logger
from consortium.events.merkle import root_from_leaf_hashes
from consortium.events.results import EventResult
from consortium.storage.errors import LogCorruptError, StorageError
from consortium.storage.key_filter import DEFAULT_BITS, KeyFilter
from consortium.storage.records import (
    BLOCK_DECODER,
    HEADER_DECODER,
    INTAKE_DECODER,
    IntakeRejection,
    StoredBlock,
    frame,
    unframe,
)
from consortium.storage.state_rows import StoredRow, StoredRows, stored_rows

log = get_logger(__name__)

FORMAT = b"consortium-log/4"
_DATABASES = (b"meta", b"headers", b"blocks", b"ids", b"state", b"tables", b"intake", b"signed")
SIGNED_HEIGHTS_KEPT = 16
_STATE_HEIGHT = b"state_height"
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
    """The stored block under ``height``, checked: a record with a valid checksum may still sit
    under another height's key (found by the simulator's wrong-key fault)."""
    payload = unframe(record)
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
    ) -> None:
        self.path = Path(path).resolve()
        self._writer_lock: int | None = None
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
        self._db = {
            name.decode(): self._env.open_db(name, create=not readonly) for name in _DATABASES
        }
        self._state_readers: list[StoredRows] = []
        self.genesis = self._init_genesis(genesis, readonly)
        self._head_height, self._head_hash, self._head_time = self._verify_chain()
        self._committed = self._committed_ids_filter(readonly)
        self._signed_kept_from = -SIGNED_HEIGHTS_KEPT  # the first record prunes what a run left

    def _open(self, readonly: bool, durable: bool, map_size: int) -> lmdb.Environment:
        if not readonly:
            self.path.mkdir(parents=True, exist_ok=True)
            self._writer_lock = _lock_writer(self.path)
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

    def _init_genesis(self, genesis: Genesis | None, readonly: bool) -> Genesis:
        with self._env.begin(db=self._db["meta"]) as txn:
            stored = txn.get(b"genesis")
            fmt = txn.get(b"format")
        if stored is None:
            if genesis is None or readonly:
                raise StorageError(
                    f"{self.path} holds no consortium log; pass a genesis to create one"
                )
            with self._env.begin(write=True, db=self._db["meta"]) as txn:
                txn.put(b"format", FORMAT)
                txn.put(b"genesis", frame(encode(genesis)))
            return genesis
        if fmt != FORMAT:
            raise StorageError(f"{self.path} has log format {fmt!r}; this version reads {FORMAT!r}")
        payload = unframe(stored)
        if payload is None:
            raise LogCorruptError(0, "the stored genesis fails its checksum")
        found = decode_genesis(payload)
        if genesis is not None and found.hash != genesis.hash:
            raise StorageError(
                f"{self.path} belongs to chain {found.chain_id!r} with another genesis; "
                "use a fresh directory for a new consortium"
            )
        return found

    # ---------------------------------------------------------------- reading

    @property
    def head_height(self) -> int:
        return self._head_height

    @property
    def head_hash(self) -> bytes:
        return self._head_hash

    @property
    def head_time_ms(self) -> int:
        return self._head_time

    def _verify_chain(self) -> tuple[int, bytes, int]:
        """Walk every header: checksums, consecutive heights, each linked to the one before."""
        height, prev_hash, time_ms = 0, ZERO_HASH, self.genesis.genesis_time_ms
        with self._env.begin(db=self._db["headers"]) as txn:
            for key, record in txn.cursor():
                expected = height + 1
                if int.from_bytes(key, "big") != expected:
                    raise LogCorruptError(expected, f"found height {int.from_bytes(key, 'big')}")
                payload = unframe(record)
                if payload is None:
                    raise LogCorruptError(expected, "header fails its checksum")
                header = HEADER_DECODER.decode(payload)
                if header.height != expected or header.prev_hash != prev_hash:
                    raise LogCorruptError(expected, "header does not link to the previous block")
                height, prev_hash, time_ms = expected, header_hash(header), header.time_ms
        if height:
            self._check_block_record(height, prev_hash)
        return height, prev_hash, time_ms

    def _check_block_record(self, height: int, expected_hash: bytes) -> None:
        stored = self.stored_block(height)
        if stored.committed.block.hash != expected_hash:
            raise LogCorruptError(height, "block record does not match its header")
        block = stored.committed.block
        if root_from_leaf_hashes(event_leaves(block.events)) != block.header.events_root:
            raise LogCorruptError(height, "events do not match the header's events root")

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
            value = txn.get(eid)
        if value is None:
            return None
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

    def _committed_ids_filter(self, readonly: bool) -> KeyFilter:
        """The committed event ids, probably. A read-only log cannot see what its writer appends
        later, so its filter answers "maybe" to everything."""
        if readonly:
            return KeyFilter.answering_maybe()
        db = self._db["ids"]
        with self._env.begin(db=db) as txn:
            count: int = txn.stat(db)["entries"]
            return KeyFilter.holding(count, (bytes(k) for k in txn.cursor().iternext(values=False)))

    def stored_state(self) -> StoredState | None:
        """The stored state's height and table hashes; None if no state was ever stored."""
        with self._env.begin() as txn:
            height = txn.get(_STATE_HEIGHT, db=self._db["meta"])
            if height is None:
                return None
            lanes = {
                bytes(name).decode(): bytes(value)
                for name, value in txn.cursor(db=self._db["tables"])
            }
        return StoredState(int.from_bytes(height, "big"), lanes)

    def state_rows(
        self, schema: Mapping[str, type], cache_rows: int, filter_bits: int = DEFAULT_BITS
    ) -> StoredRows:
        """A reader of the stored state's rows, for the validator's thread only."""
        reader = StoredRows(
            self._env, self._db["state"], schema, cache_rows, self.mark_state_stale, filter_bits
        )
        self._state_readers.append(reader)
        return reader

    def intake_rejections(self) -> list[IntakeRejection]:
        with self._env.begin(db=self._db["intake"]) as txn:
            return [INTAKE_DECODER.decode(p) for _, r in txn.cursor() if (p := unframe(r))]

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
        so the stored state moves with the head.
        """
        header = committed.block.header
        if header.height != self._head_height + 1 or header.prev_hash != self._head_hash:
            raise StorageError(
                f"block {header.height} does not extend the head {self._head_height}"
            )
        key = _key(header.height)
        block_record = frame(encode(StoredBlock(committed, tuple(results), tuple(log_frontier))))
        header_record = frame(encode(header))
        id_rows = [(eid, key + i.to_bytes(4, "big")) for i, eid in enumerate(event_ids)]
        state_rows = list(stored_rows(state_writes))

        def write(txn: lmdb.Transaction) -> None:
            self._put_append(txn, "headers", key, header_record)
            self._put_append(txn, "blocks", key, block_record)
            ids = self._db["ids"]
            for eid, location in id_rows:
                txn.put(eid, location, db=ids, overwrite=False)
            self._write_state(txn, header.height, state_rows, table_lanes)

        self._write(write)
        for eid in event_ids:
            self._committed.add(eid)
        self._head_height = header.height
        self._head_hash = committed.block.hash
        self._head_time = header.time_ms

    def _write_state(
        self,
        txn: lmdb.Transaction,
        height: int,
        rows: Iterable[StoredRow],
        table_lanes: Mapping[str, bytes],
    ) -> None:
        state = self._db["state"]
        for stored_key, record in rows:
            if record is None:
                txn.delete(stored_key, db=state)
            else:
                txn.put(stored_key, record, db=state)
        tables = self._db["tables"]
        for name, lanes in table_lanes.items():
            txn.put(name.encode(), lanes, db=tables)
        txn.put(_STATE_HEIGHT, _key(height), db=self._db["meta"])

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

    def mark_state_stale(self) -> None:
        """Make the next open rebuild the state from the log (a stored row failed its check)."""

        def write(txn: lmdb.Transaction) -> None:
            txn.delete(_STATE_HEIGHT, db=self._db["meta"])

        self._write(write)

    def record_intake_rejection(self, rejection: IntakeRejection) -> None:
        def write(txn: lmdb.Transaction) -> None:
            cursor = txn.cursor(db=self._db["intake"])
            n = int.from_bytes(cursor.key(), "big") + 1 if cursor.last() else 1
            self._put_append(txn, "intake", _key(n), frame(encode(rejection)))

        self._write(write)

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
                found.append((bytes(key[len(prefix) :]), bytes(record)))
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
            for height, slot, record in records:
                txn.put(_key(height) + slot, record, db=db)
            if prune:
                first_kept = _key(oldest_kept)
                cursor = txn.cursor(db=db)
                while cursor.first() and bytes(cursor.key()) < first_kept:
                    cursor.delete()

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
                # LMDB remaps only with no transaction open in this process.
                for reader in self._state_readers:
                    reader.close()
                self._env.set_mapsize(new_size)
                for reader in self._state_readers:
                    reader.reopen()

    def close(self) -> None:
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
