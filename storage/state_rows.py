"""A validator's committed state, kept in its log's LMDB environment beside the blocks.

``EventLog.append`` writes a block's changed rows and table hashes in the block's own
transaction, so the stored state is always the state at the stored head: a crash cannot leave
them apart, and a restart reads the state instead of replaying the log. Memory no longer grows
with the ledger: rows live in the memory-mapped file (pages the kernel can drop), and only a
bounded cache of decoded rows lives on the heap.

Layout: the ``state`` database maps ``table NUL key`` to a framed msgpack row (its checksum
covers the row key too, see ``storage.records``), so one table's rows are adjacent and in key
order; the ``tables`` database maps a table's name to its row count and LtHash lanes; ``meta``
holds ``state_height``. The counts let a check on open notice a deleted row, which no checksum
can: ``state_problem`` reads every row once, and a state it finds damaged is rebuilt from the
log rather than used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import lmdb
import msgspec

from consortium.rules.state import DELETED, CommittedRows
from consortium.storage.errors import StateCorruptError
from consortium.storage.key_filter import DEFAULT_BITS, KeyFilter
from consortium.storage.records import frame, intact, unframe

_MISSING = object()
STATE_DB = b"state"
TABLES_DB = b"tables"
_COUNT_BYTES = 8
StoredRow = tuple[str, bytes, bytes | None]
"""A row as stored: its table, its key in the ``state`` database, its record (None: removed)."""


def row_key(table: str, key: bytes) -> bytes:
    return table.encode() + b"\x00" + key


def split_row_key(stored_key: bytes) -> tuple[str, bytes]:
    """The table and key that ``row_key`` joined; a key that ``row_key`` cannot have made (a
    damaged one) is a ``StateCorruptError``, never a decoding error from deep inside a read."""
    table, sep, key = stored_key.partition(b"\x00")
    try:
        name = table.decode()
    except UnicodeDecodeError:
        name = ""
    if not sep or not name:
        raise StateCorruptError(
            table.decode(errors="replace"), stored_key, "has a key naming no table"
        )
    return name, key


def stored_rows(writes: Mapping[str, Mapping[bytes, bytes | None]]) -> Iterator[StoredRow]:
    """Encoded writes as stored: the table, the row key and the framed row (None: removed)."""
    for table, rows in writes.items():
        for key, encoded in rows.items():
            stored_key = row_key(table, key)
            record = None if encoded is None else frame(STATE_DB, stored_key, encoded)
            yield table, stored_key, record


def table_record(name: str, count: int, lanes: bytes) -> bytes:
    """The ``tables`` record of a table of ``count`` rows whose LtHash lanes are ``lanes``."""
    return frame(TABLES_DB, name.encode(), count.to_bytes(_COUNT_BYTES, "big") + lanes)


def read_table_record(name: bytes, record: bytes) -> tuple[int, bytes] | None:
    """The row count and lanes of a ``tables`` record, or None if it fails its checksum."""
    payload = unframe(TABLES_DB, name, record)
    if payload is None or len(payload) < _COUNT_BYTES:
        return None
    return int.from_bytes(payload[:_COUNT_BYTES], "big"), payload[_COUNT_BYTES:]


def state_problem(txn: lmdb.Transaction, db: Any, counts: Mapping[str, int]) -> str | None:
    """What is wrong with the stored rows, or None: every row's checksum (over its key and
    value) is checked, and each table must hold as many rows as its ``tables`` record says."""
    found: dict[str, int] = {}
    for stored_key, record in txn.cursor(db=db):
        try:
            table, _ = split_row_key(bytes(stored_key))
        except StateCorruptError:
            return f"the row key {bytes(stored_key).hex()[:24]}… names no table"
        if not intact(STATE_DB, bytes(stored_key), record):
            return f"the row {table}/{bytes(stored_key).hex()[:24]}… fails its checksum"
        found[table] = found.get(table, 0) + 1
    for table in sorted(set(found) | set(counts)):
        if found.get(table, 0) != counts.get(table, 0):
            return (
                f"table {table!r} holds {found.get(table, 0)} rows where its record says "
                f"{counts.get(table, 0)}"
            )
    return None


class StoredRows(CommittedRows):
    """Reads rows from a long-lived LMDB read transaction, renewed after every commit.

    Decoded rows are cached in two generations: a lookup fills the young one, and when it is
    full it becomes the old one and the previous old one is dropped. A row read in every
    generation (a hot account) stays decoded; the cache never holds more than ``cache_rows``.
    A ``KeyFilter`` of the stored keys, filled by one scan of the keys on open and kept up by
    every commit, answers most lookups of absent rows without LMDB.
    Not thread-safe: the validator's actor thread is its only user.
    """

    def __init__(
        self,
        env: lmdb.Environment,
        db: Any,
        schema: Mapping[str, type],
        cache_rows: int,
        on_corrupt: Callable[[], None],
        filter_bits: int = DEFAULT_BITS,
    ) -> None:
        self._env = env
        self._db = db
        self._decoders: dict[str, msgspec.msgpack.Decoder[Any]] = {
            name: msgspec.msgpack.Decoder(t) for name, t in schema.items()
        }
        self._generation = max(1, cache_rows // 2)
        self._young: dict[tuple[str, bytes], Any] = {}
        self._old: dict[tuple[str, bytes], Any] = {}
        self._on_corrupt = on_corrupt
        self._txn = env.begin(db=db)
        self._open = True
        try:
            self._stored = KeyFilter.holding(
                self.count(),
                (split_row_key(bytes(k)) for k in self._txn.cursor().iternext(values=False)),
                filter_bits,
            )
        except StateCorruptError:
            self.close()
            on_corrupt()
            raise

    def get(self, table: str, key: bytes) -> Any:
        cached = (table, key)
        value = self._young.get(cached, _MISSING)
        if value is _MISSING:
            value = self._old.get(cached, _MISSING)
            if value is _MISSING:
                if not self._stored.may_contain(cached):
                    return None
                value = self._load(table, key)
                if value is None:
                    return None  # most misses are new rows' keys, read once: not worth a slot
            self._young[cached] = value
            if len(self._young) >= self._generation:
                self._old, self._young = self._young, {}
        return value

    def cached(self) -> int:
        """Decoded rows held on the heap now."""
        return len(self._young) + len(self._old)

    def _load(self, table: str, key: bytes) -> Any:
        stored_key = row_key(table, key)
        record = self._txn.get(stored_key)
        return None if record is None else self._decode(table, key, stored_key, record)

    def _decode(self, table: str, key: bytes, stored_key: bytes, record: bytes) -> Any:
        payload = unframe(STATE_DB, stored_key, record)
        if payload is None:
            self._on_corrupt()
            raise StateCorruptError(table, key)
        return self._decoders[table].decode(payload)

    def rows(self, table: str) -> Iterator[tuple[bytes, Any]]:
        prefix = row_key(table, b"")
        cursor = self._txn.cursor()
        if not cursor.set_range(prefix):
            return
        for stored_key, record in cursor:
            if not stored_key.startswith(prefix):
                return
            key = bytes(stored_key[len(prefix) :])
            yield key, self._decode(table, key, bytes(stored_key), record)

    def count(self) -> int:
        entries: int = self._txn.stat(self._db)["entries"]
        return entries

    def adopt(self, writes: Mapping[str, Mapping[bytes, Any]]) -> None:
        """The rows are durable already (``EventLog.append`` wrote them with their block): see
        them, and refresh the decoded rows this cache holds."""
        self.close()
        self.reopen()
        young, old, stored = self._young, self._old, self._stored
        for table, rows in writes.items():
            for key, value in rows.items():
                cached = (table, key)
                row = None if value is DELETED else value
                if row is not None:
                    stored.add(cached)
                if cached in young:
                    young[cached] = row
                elif cached in old:
                    old[cached] = row

    @property
    def is_open(self) -> bool:
        """Whether the reader holds a read transaction (a snapshot) now."""
        return self._open

    def close(self) -> None:
        """End the read transaction, if one is open: LMDB cannot reuse a page that a snapshot
        may still read."""
        if self._open:
            self._txn.abort()
            self._open = False

    def reopen(self) -> None:
        """A new read transaction, seeing the last commit."""
        self.close()
        self._txn = self._env.begin(db=self._db)
        self._open = True
