"""The ledger state: named tables of rows, each with an incrementally maintained digest.

Execution never writes to the committed ``State`` directly. A block runs in an ``Overlay`` (and
each event in a child overlay), so a proposal can be executed, voted on and then either adopted
in O(rows touched) or dropped. Keys are bytes and rows are frozen msgspec Structs (or ints), so
the digest depends on content only, never on dict order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from consortium.events.block import TableDigest
from consortium.events.codec import encode
from consortium.rules.lthash import ExpansionCache, Expansions, LtHash

if TYPE_CHECKING:
    from consortium.rules.lane_worker import LaneWorker, RowBatch

DELETED = object()
"""The value an overlay writes for a removed row."""
_ABSENT = object()


EncodedWrites = dict[str, dict[bytes, bytes | None]]
"""A block's writes by table, each row msgpack-encoded, None for a removed row."""


def row_element(key: bytes, encoded: bytes) -> bytes:
    """What a table's hash adds for one row: the key, length-prefixed, and the encoded row."""
    return len(key).to_bytes(4, "big") + key + encoded


class StateView(ABC):
    """Read access shared by the committed state and overlays."""

    @abstractmethod
    def get(self, table: str, key: bytes) -> Any:
        """The row under ``key``, or None."""

    @abstractmethod
    def rows(self, table: str) -> Iterator[tuple[bytes, Any]]:
        """Every row in key order, the same on every machine."""


class CommittedRows(ABC):
    """Where a ``State`` keeps its committed rows: in memory, or in a validator's log."""

    @abstractmethod
    def get(self, table: str, key: bytes) -> Any:
        """The row under ``key``, or None."""

    @abstractmethod
    def rows(self, table: str) -> Iterator[tuple[bytes, Any]]:
        """Every row of ``table`` in key order."""

    @abstractmethod
    def count(self) -> int:
        """Rows in all tables."""

    @abstractmethod
    def adopt(self, writes: Mapping[str, Mapping[bytes, Any]]) -> None:
        """Take an executed block's writes (``DELETED`` marks a removed row) as committed."""


class MemoryRows(CommittedRows):
    """Rows in dicts: for replays and audits, which rebuild a state and then drop it."""

    def __init__(self, tables: Iterable[str]) -> None:
        self.tables: dict[str, dict[bytes, Any]] = {name: {} for name in tables}

    def get(self, table: str, key: bytes) -> Any:
        return self.tables[table].get(key)

    def rows(self, table: str) -> Iterator[tuple[bytes, Any]]:
        rows = self.tables[table]
        for key in sorted(rows):
            yield key, rows[key]

    def count(self) -> int:
        return sum(len(rows) for rows in self.tables.values())

    def adopt(self, writes: Mapping[str, Mapping[bytes, Any]]) -> None:
        for name, table_writes in writes.items():
            rows = self.tables[name]
            for key, value in table_writes.items():
                if value is DELETED:
                    rows.pop(key, None)
                else:
                    rows[key] = value


class State(StateView):
    """Committed tables. ``schema`` maps table name to row type and fixes the digest order.

    The rows live in ``rows`` (in memory unless given); the table hashes always live here, since
    every block needs them and they are small.
    """

    def __init__(
        self,
        schema: Mapping[str, type],
        rows: CommittedRows | None = None,
        hashes: Mapping[str, LtHash] | None = None,
        expansions: ExpansionCache | None = None,
    ) -> None:
        self.schema = dict(sorted(schema.items()))
        self._rows = rows if rows is not None else MemoryRows(self.schema)
        self._hashes = {name: LtHash() for name in self.schema}
        self._hashes.update(hashes or {})
        # Validators of one process that share verifications share one (``SharedExpansions``).
        self._expansions = expansions if expansions is not None else Expansions()
        # Rows adopted without their hashes (``adopt_unhashed``): by table, each row's value
        # before the first such write, None if it did not exist.
        self._unhashed: dict[str, dict[bytes, Any]] = {}
        # Rows adopted without their hashes and handed to a child to sum (``hand_off_unhashed``).
        self._lanes: LaneWorker | None = None
        self._handed_off = 0
        # Every read of an execution lands here: binding the store's method skips one call.
        self.get = self._rows.get  # type: ignore[method-assign]

    @property
    def committed_rows(self) -> CommittedRows:
        """Where the committed rows are read from: a log's reader to release once this state
        is replaced (``EventLog.release_state_rows``)."""
        return self._rows

    def get(self, table: str, key: bytes) -> Any:
        return self._rows.get(table, key)

    def rows(self, table: str) -> Iterator[tuple[bytes, Any]]:
        """Rows in key order: queries see the same order on every machine."""
        return self._rows.rows(table)

    def table_digests(self) -> tuple[TableDigest, ...]:
        self._settle()
        return tuple(TableDigest(name, h.digest()) for name, h in self._hashes.items())

    def table_lanes(self) -> dict[str, bytes]:
        """Each table's hash in full, which is what a stored state must keep to go on."""
        self._settle()
        return {name: h.to_bytes() for name, h in self._hashes.items()}

    @property
    def expansions(self) -> ExpansionCache:
        """The row expansions this state's table hashes keep: the process's shared ones, or its
        own; they also say how small updates are summed (``ExpansionCache.array_min_rows``)."""
        return self._expansions

    def row_count(self) -> int:
        return self._rows.count()

    def hashes_after(self, overlay: Overlay) -> tuple[dict[str, LtHash], EncodedWrites]:
        """The table hashes ``overlay`` would give, and its writes encoded (which hashing needs
        and a stored state keeps); the committed state is left untouched."""
        self._settle()
        hashes = dict(self._hashes)
        encoded: EncodedWrites = {}
        get = self._rows.get
        for name, writes in overlay.writes.items():
            removed = [
                row_element(k, encode(old)) for k in writes if (old := get(name, k)) is not None
            ]
            rows = {k: None if v is DELETED else encode(v) for k, v in writes.items()}
            added = [row_element(k, e) for k, e in rows.items() if e is not None]
            h = hashes[name].copy()
            h.update(added, removed, self._expansions)
            hashes[name] = h
            encoded[name] = rows
        return hashes, encoded

    def adopt(self, overlay: Overlay, hashes: dict[str, LtHash]) -> None:
        """Make an executed overlay committed, with the hashes computed for it."""
        if self._unhashed or self._lanes is not None:
            raise RuntimeError("hashes computed before rows adopted without them are stale")
        self._rows.adopt(overlay.writes)
        self._hashes = dict(hashes)  # hashes may be shared with other states; never mutated

    @property
    def unhashed_rows(self) -> int:
        """Rows adopted without their hashes since the hashes were last brought up to date,
        those handed to a child to sum included."""
        return self._handed_off + self._waiting_rows()

    def _waiting_rows(self) -> int:
        """Rows adopted without their hashes and not handed off."""
        return sum(len(rows) for rows in self._unhashed.values())

    def adopt_unhashed(self, overlay: Overlay) -> None:
        """Make an executed overlay committed and leave its table hashes for later.

        A replay that holds the table digests against a header only now and then expands each
        changed row once per check, however many blocks changed it in between; checked every
        block, a balance that changes in each of 100 blocks is expanded 100 times. The hashes
        are brought up to date by the next call that needs them.
        """
        get = self._rows.get
        for name, writes in overlay.writes.items():
            before = self._unhashed.setdefault(name, {})
            for key in writes:
                if key not in before:
                    before[key] = get(name, key)
        self._rows.adopt(overlay.writes)

    def hand_off_unhashed(self, lanes: LaneWorker, at_least: int) -> None:
        """Give the rows adopted without their hashes, once there are ``at_least`` of them, to
        ``lanes`` to sum while this thread goes on executing; the next call that needs the
        hashes adds its sums. A row changed again later leaves with the value it was handed
        over with, so the sums of all the batches are the change since the last settle."""
        rows = self._waiting_rows()
        if rows < at_least:
            return
        if self._lanes is not None and self._lanes is not lanes:
            raise RuntimeError("rows are already with another lane worker")
        lanes.submit(self._unhashed_elements())
        self._lanes = lanes
        self._handed_off += rows

    def _unhashed_elements(self) -> RowBatch:
        """Each row adopted without its hash, as it left (its value before) and as it entered
        (its value now), by table; they are then no longer waiting."""
        get = self._rows.get
        batch: RowBatch = {}
        for name, before in self._unhashed.items():
            removed = [row_element(k, encode(v)) for k, v in before.items() if v is not None]
            added = [row_element(k, encode(v)) for k in before if (v := get(name, k)) is not None]
            batch[name] = (added, removed)
        self._unhashed = {}
        return batch

    def _settle(self) -> None:
        """Bring the table hashes up to the rows adopted without them: the sums of those handed
        to a child, then the rest here."""
        if self._lanes is not None:
            for name, lanes in self._lanes.sums().items():
                h = self._hashes[name].copy()
                h.add_hash(lanes)
                self._hashes[name] = h
            self._lanes, self._handed_off = None, 0
        if not self._unhashed:
            return
        for name, (added, removed) in self._unhashed_elements().items():
            h = self._hashes[name].copy()
            h.update(added, removed, self._expansions)
            self._hashes[name] = h

    def put_initial(self, table: str, key: bytes, value: object) -> None:
        """Write outside any block: building the genesis state, in memory, only."""
        if not isinstance(self._rows, MemoryRows):
            raise TypeError("a stored state changes only by committing blocks to its log")
        self._settle()
        old = self._rows.get(table, key)
        if old is not None:
            self._hashes[table].remove(row_element(key, encode(old)))
        self._rows.adopt({table: {key: value}})
        self._hashes[table].add(row_element(key, encode(value)))


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
            return None if value is DELETED else value
        return self.parent.get(table, key)

    def rows(self, table: str) -> Iterator[tuple[bytes, Any]]:
        """The parent's rows with this overlay's writes applied; a full scan, for rare events."""
        merged = dict(self.parent.rows(table))
        merged.update(self.writes.get(table, {}))
        for key in sorted(merged):
            if merged[key] is not DELETED:
                yield key, merged[key]

    def put(self, table: str, key: bytes, value: object) -> None:
        writes = self.writes.setdefault(table, {})
        if self._journal is not None:
            self._journal.append((writes, key, writes.get(key, _ABSENT)))
        writes[key] = value

    def delete(self, table: str, key: bytes) -> None:
        self.put(table, key, DELETED)

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
            name: {k: (None if v is DELETED else v) for k, v in sorted(writes.items())}
            for name, writes in sorted(self.writes.items())
        }
