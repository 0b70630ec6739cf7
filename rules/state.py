"""The ledger state: named tables of rows, each with an incrementally maintained digest.

Execution never writes to the committed ``State`` directly. A block runs in an ``Overlay`` (and
each event in a child overlay), so a proposal can be executed, voted on and then either adopted
in O(rows touched) or dropped. Keys are bytes and rows are frozen msgspec Structs (or ints), so
the digest depends on content only, never on dict order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec

from events.block import TableDigest
from events.codec import encode
from rules.lthash import LtHash

_DELETED = object()
_ABSENT = object()


def row_element(key: bytes, value: object) -> bytes:
    return len(key).to_bytes(4, "big") + key + encode(value)


class StateView(ABC):
    """Read access shared by the committed state and overlays."""

    @abstractmethod
    def get(self, table: str, key: bytes) -> Any:
        """The row under ``key``, or None."""

    @abstractmethod
    def rows(self, table: str) -> Iterator[tuple[bytes, Any]]:
        """Every row in key order, the same on every machine."""


class State(StateView):
    """Committed tables. ``schema`` maps table name to row type and fixes the digest order."""

    def __init__(self, schema: Mapping[str, type]) -> None:
        self.schema = dict(sorted(schema.items()))
        self.tables: dict[str, dict[bytes, Any]] = {name: {} for name in self.schema}
        self._hashes: dict[str, LtHash] = {name: LtHash() for name in self.schema}

    def get(self, table: str, key: bytes) -> Any:
        return self.tables[table].get(key)

    def rows(self, table: str) -> Iterator[tuple[bytes, Any]]:
        """Rows in key order: queries and snapshots see the same order on every machine."""
        rows = self.tables[table]
        for key in sorted(rows):
            yield key, rows[key]

    def table_digests(self) -> tuple[TableDigest, ...]:
        return tuple(TableDigest(name, h.digest()) for name, h in self._hashes.items())

    def row_count(self) -> int:
        return sum(len(rows) for rows in self.tables.values())

    def hashes_after(self, overlay: Overlay) -> dict[str, LtHash]:
        """The table hashes ``overlay`` would give; the committed state is left untouched."""
        hashes = dict(self._hashes)
        for name, writes in overlay.writes.items():
            rows = self.tables[name]
            removed = [row_element(k, old) for k in writes if (old := rows.get(k)) is not None]
            added = [row_element(k, v) for k, v in writes.items() if v is not _DELETED]
            h = hashes[name].copy()
            h.update(added, removed)
            hashes[name] = h
        return hashes

    def adopt(self, overlay: Overlay, hashes: dict[str, LtHash]) -> None:
        """Make an executed overlay committed, with the hashes computed for it."""
        for name, writes in overlay.writes.items():
            rows = self.tables[name]
            for key, value in writes.items():
                if value is _DELETED:
                    rows.pop(key, None)
                else:
                    rows[key] = value
        self._hashes = dict(hashes)  # hashes may be shared with other states; never mutated

    def put_initial(self, table: str, key: bytes, value: object) -> None:
        """Write outside any block: genesis and snapshot loading only."""
        old = self.tables[table].get(key)
        if old is not None:
            self._hashes[table].remove(row_element(key, old))
        self.tables[table][key] = value
        self._hashes[table].add(row_element(key, value))

    def snapshot_bytes(self) -> bytes:
        return encode({name: [(k, encode(v)) for k, v in self.rows(name)] for name in self.schema})

    def load_snapshot(self, data: bytes) -> None:
        decoded = msgspec.msgpack.decode(data, type=dict[str, list[tuple[bytes, bytes]]])
        for name, rows in decoded.items():
            row_type = self.schema[name]
            for key, value in rows:
                self.put_initial(name, key, msgspec.msgpack.decode(value, type=row_type))


class Overlay(StateView):
    """Uncommitted writes over a parent view.

    One event's writes are made atomic by a journal (``begin``, then ``rollback`` or ``end``)
    rather than by a child overlay, so reads during execution go through one level only.
    """

    def __init__(self, parent: StateView) -> None:
        self.parent = parent
        self.writes: dict[str, dict[bytes, Any]] = {}
        self._journal: list[tuple[dict[bytes, Any], bytes, Any]] | None = None

    def get(self, table: str, key: bytes) -> Any:
        writes = self.writes.get(table)
        if writes is not None and key in writes:
            value = writes[key]
            return None if value is _DELETED else value
        return self.parent.get(table, key)

    def rows(self, table: str) -> Iterator[tuple[bytes, Any]]:
        """The parent's rows with this overlay's writes applied; a full scan, for rare events."""
        merged = dict(self.parent.rows(table))
        merged.update(self.writes.get(table, {}))
        for key in sorted(merged):
            if merged[key] is not _DELETED:
                yield key, merged[key]

    def put(self, table: str, key: bytes, value: object) -> None:
        writes = self.writes.setdefault(table, {})
        if self._journal is not None:
            self._journal.append((writes, key, writes.get(key, _ABSENT)))
        writes[key] = value

    def delete(self, table: str, key: bytes) -> None:
        self.put(table, key, _DELETED)

    def begin(self) -> None:
        """Start recording writes so that ``rollback`` can undo them."""
        self._journal = []

    def rollback(self) -> None:
        """Undo every write since ``begin``."""
        assert self._journal is not None, "rollback without begin"
        for writes, key, previous in reversed(self._journal):
            if previous is _ABSENT:
                del writes[key]
            else:
                writes[key] = previous
        self._journal = None

    def end(self) -> None:
        """Keep the writes since ``begin``."""
        self._journal = None

    def changes(self) -> dict[str, dict[bytes, Any]]:
        """The writes as plain rows by table, deletions as None: what subscribers are told."""
        return {
            name: {k: (None if v is _DELETED else v) for k, v in sorted(writes.items())}
            for name, writes in sorted(self.writes.items())
        }
