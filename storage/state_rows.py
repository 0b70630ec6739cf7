"""A validator's committed state, kept in its log's LMDB environment beside the blocks.

``EventLog.append`` writes a block's changed rows and table hashes in the block's own
transaction, so the stored state is always the state at the stored head: a crash cannot leave
them apart, and a restart reads the state instead of replaying the log. Memory no longer grows
with the ledger: rows live in the memory-mapped file (pages the kernel can drop), and only a
bounded cache of decoded rows lives on the heap.

Layout: the ``state`` database maps ``table NUL key`` to a checksummed msgpack row, so one
table's rows are adjacent and in key order; the ``tables`` database maps a table's name to its
LtHash lanes; ``meta`` holds ``state_height``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import lmdb
import msgspec

from consortium.rules.state import DELETED, CommittedRows
from consortium.storage.errors import StateCorruptError
from consortium.storage.key_filter import DEFAULT_BITS, KeyFilter
from consortium.storage.records import frame, unframe

_MISSING = object()
StoredRow = tuple[bytes, bytes | None]


def row_key(table: str, key: bytes) -> bytes:
    return table.encode() + b"\x00" + key


def split_row_key(stored_key: bytes) -> tuple[str, bytes]:
    """The table and key that ``row_key`` joined."""
    table, _, key = stored_key.partition(b"\x00")
    return table.decode(), key


def stored_rows(writes: Mapping[str, Mapping[bytes, bytes | None]]) -> Iterator[StoredRow]:
    """Encoded writes as stored: the row key and the framed row, None for a removed row."""
    for table, rows in writes.items():
        for key, encoded in rows.items():
            yield row_key(table, key), None if encoded is None else frame(encoded)


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
        self._stored = KeyFilter.holding(
            self.count(),
            (split_row_key(bytes(k)) for k in self._txn.cursor().iternext(values=False)),
            filter_bits,
        )

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
        record = self._txn.get(row_key(table, key))
        return None if record is None else self._decode(table, key, record)

    def _decode(self, table: str, key: bytes, record: bytes) -> Any:
        payload = unframe(record)
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
            yield key, self._decode(table, key, record)

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

    def close(self) -> None:
        self._txn.abort()

    def reopen(self) -> None:
        self._txn = self._env.begin(db=self._db)
