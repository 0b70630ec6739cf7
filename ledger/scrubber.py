"""The scrubber: a validator re-reads its stored blocks and state in the background.

A flipped bit in a block below the head, or in a state row no event has touched for a while,
stays latent until something reads it: a peer catching up, a query, the block that next changes
the row (and then the validator's digest differs from the header and its next height stalls).
The scrubber finds such damage first, as TigerBeetle's grid scrubber does for its blocks: a tour
of everything stored, at a bounded rate, over and over.

One pass checks each block record (its checksum, its height, its link to the block before and
its events against the header's events root), then each state table: its rows, hashed from
scratch, against the digest the head's header certifies. Rows are read through one LMDB read
transaction per table, a consistent snapshot whatever the validator commits meanwhile, and
hashed outside the lock. (The table hashes stored beside the rows are held against the head's
header when the validator opens its log; a running validator uses the copies in memory.)

Work is counted in units (a state row, a block, one event of a block) and done in steps of at
most ``ScrubberConfig.step_units``; after each step ``pace`` rests long enough to keep the rate
under ``ScrubberConfig.units_per_second``, which also hands the GIL back to the validators.

Every LMDB read happens while holding ``lock``, which the validator's shell holds while it
handles a message: growing the LMDB map (inside a commit) needs every other transaction of
the process closed, and closing the log needs the scrubber out of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import islice
from typing import Any, cast

import lmdb
import msgspec

from consortium.events.block import TableDigest, event_leaves
from consortium.events.codec import encode
from consortium.events.logs import get_logger
from consortium.events.merkle import root_from_leaf_hashes
from consortium.rules.lthash import LtHash
from consortium.rules.state import StateView, row_element
from consortium.storage.errors import LogCorruptError, StateCorruptError
from consortium.storage.log import ZERO_HASH, EventLog
from consortium.storage.records import StoredBlock
from consortium.storage.state_rows import StoredRows

log = get_logger(__name__)
_RENEWALS_TRIED = 3
"""Reads of one table in a pass: growing the LMDB map or writing refusals renews the
scrubber's snapshot, and a table whose snapshot was renewed is read again from its start."""


class ScrubberConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How hard a validator scrubs. A unit costs about 10 µs, so the defaults take about 2% of
    one core while a pass runs: a pass over the demo's ledger (2,500 units) takes about 1.3 s
    and 30 ms of CPU, one over a million rows about eight minutes.
    A Struct, so that a misspelt setting in a node file's ``[ledger.scrubbing]`` is refused."""

    enabled: bool = True
    units_per_second: int = 2_000
    """State rows, blocks and block events read per second, at most."""
    step_units: int = 256
    """Units read per step (a block with more events is read alone in its step)."""
    pass_pause_s: float = 60.0
    """Rest between the end of one pass and the start of the next."""

    def __post_init__(self) -> None:
        if self.units_per_second <= 0 or self.step_units <= 0 or self.pass_pause_s < 0:
            raise ValueError(
                "the scrubber's rate and step must be positive, its pause not negative"
            )


@dataclass(frozen=True, slots=True)
class Damage:
    """What a pass found wrong. ``table`` is None for a block record; ``first_key`` and
    ``last_key`` bound the rows concerned (None: the table's first or last row)."""

    height: int
    what: str
    table: str | None = None
    first_key: bytes | None = None
    last_key: bytes | None = None

    @property
    def in_state(self) -> bool:
        return self.table is not None

    def describe(self) -> str:
        if self.table is None:
            return f"block {self.height}: {self.what}"
        first = self.first_key.hex() if self.first_key is not None else "first"
        last = self.last_key.hex() if self.last_key is not None else "last"
        return f"table {self.table}, keys {first}..{last}, height {self.height}: {self.what}"


@dataclass(frozen=True, slots=True)
class ScrubberProgress:
    """A read-only snapshot of a scrubber's work so far, safe to read from any thread."""

    rows_scrubbed: int = 0
    """State rows read and hashed, over all passes."""
    blocks_scrubbed: int = 0
    passes_completed: int = 0
    last_pass_s: float | None = None
    """How long the last completed pass took, rests included."""
    damage_found: int = 0
    last_damage: Damage | None = None


Pace = Callable[[int], None]
"""Called after each step with the units it read: rests in proportion to them."""

StateDigests = Callable[[int], Mapping[str, bytes]]
"""The table digests certified at a height (the genesis state's at 0)."""


class Scrubber:
    """One validator's passes over its log, step by step; ``ScrubberThread`` runs it.

    ``report`` is called with each damage found, on the scrubbing thread; a pass stops checking
    the state at the first damaged table, since the state is rebuilt whole.
    """

    def __init__(
        self,
        event_log: EventLog,
        schema: Mapping[str, type],
        certified: StateDigests,
        config: ScrubberConfig,
        lock: threading.Lock,
        report: Callable[[Damage], None],
        pace: Pace,
    ) -> None:
        self._log = event_log
        self._tables = sorted(schema)
        self._certified = certified
        self._config = config
        self._lock = lock
        self._report = report
        self._pace = pace
        # Made here, on the thread that starts the scrubber: opening a reader reads every key.
        self._reader = event_log.state_rows(schema, cache_rows=0)
        self._reader.close()
        self._progress = ScrubberProgress()

    def progress(self) -> ScrubberProgress:
        return self._progress

    def run_pass(self) -> list[Damage]:
        """Check every block record, then every table; the damage found, in order."""
        started = time.monotonic()
        found = self._scrub_blocks()
        state_damage = self._scrub_state()
        if state_damage is not None:
            found.append(state_damage)
        p = self._progress
        self._progress = replace(
            p, passes_completed=p.passes_completed + 1, last_pass_s=time.monotonic() - started
        )
        return found

    def _found(self, damage: Damage) -> Damage:
        """Report ``damage``, then count it: whoever sees the count has been told already."""
        self._report(damage)
        p = self._progress
        self._progress = replace(p, damage_found=p.damage_found + 1, last_damage=damage)
        return damage

    def _counted(self, rows: int = 0, blocks: int = 0) -> None:
        p = self._progress
        self._progress = replace(
            p, rows_scrubbed=p.rows_scrubbed + rows, blocks_scrubbed=p.blocks_scrubbed + blocks
        )

    # ------------------------------------------------------------------ blocks

    def _scrub_blocks(self) -> list[Damage]:
        found: list[Damage] = []
        head = self._log.head_height
        height: int = 1
        prev_hash: bytes | None = ZERO_HASH  # None: the block before could not be read
        while height <= head:
            with self._lock:
                blocks, broken, resume = self._read_blocks(height, head)
            for step in self._steps(blocks):
                for stored in step:
                    at = stored.committed.block.header.height
                    if at != height:
                        missing = Damage(height, f"no block record up to {at - 1}")
                        found.append(self._found(missing))
                        prev_hash = None
                    problem = _block_problem(stored, prev_hash)
                    if problem is not None:
                        found.append(self._found(Damage(at, problem)))
                    prev_hash, height = stored.committed.block.hash, at + 1
                self._counted(blocks=len(step))
                self._pace(sum(map(_units, step)))
            if broken is not None:
                found.append(self._found(broken))
                prev_hash, height = None, resume
                self._counted(blocks=1)
                self._pace(1)
        return found

    def _steps(self, blocks: Sequence[StoredBlock]) -> Iterator[Sequence[StoredBlock]]:
        """The blocks read in runs of at most ``step_units`` units each; a block larger than
        that on its own is a run of one."""
        start, units = 0, 0
        for i, stored in enumerate(blocks):
            size = _units(stored)
            if i > start and units + size > self._config.step_units:
                yield blocks[start:i]
                start, units = i, 0
            units += size
        if start < len(blocks):
            yield blocks[start:]

    def _read_blocks(self, height: int, head: int) -> tuple[list[StoredBlock], Damage | None, int]:
        """Blocks from ``height`` on, up to a step's units; the damage that stopped the read
        early, if any, and the height to read next after it."""
        blocks: list[StoredBlock] = []
        units = 0
        reading = cast(Generator[StoredBlock, None, None], self._log.stored_blocks(height, head))
        try:
            for stored in reading:
                blocks.append(stored)
                units += _units(stored)
                if units >= self._config.step_units:
                    break
        except LogCorruptError as exc:
            at = height if exc.height is None else exc.height
            return blocks, Damage(at, exc.what), at + 1
        except lmdb.CorruptedError as exc:
            return blocks, Damage(height, f"the LMDB file is damaged: {exc}"), head + 1
        except msgspec.DecodeError as exc:
            at = blocks[-1].committed.block.header.height + 1 if blocks else height
            return blocks, Damage(at, f"block record cannot be decoded: {exc}"), at + 1
        finally:
            reading.close()  # ends the read transaction
        if not blocks:  # the header chain says these heights exist
            return blocks, Damage(height, f"no block record from here to the head {head}"), head + 1
        return blocks, None, height

    # ------------------------------------------------------------------- state

    def _scrub_state(self) -> Damage | None:
        for table in self._tables:
            damage = self._scrub_table(table)
            if damage is not None:
                return self._found(damage)
        return None

    def _scrub_table(self, table: str) -> Damage | None:
        """Hash ``table``'s stored rows from scratch, in one snapshot, and compare with the
        digest certified at the snapshot's height. Growing the map or writing refusals renews
        the snapshot, and the table is then read again from its start."""
        try:
            for _ in range(_RENEWALS_TRIED):
                try:
                    return self._hash_table(table)
                except lmdb.CorruptedError as exc:
                    what = f"the LMDB file is damaged: {exc}"
                    return Damage(self._log.head_height, what, table)
                except lmdb.Error:
                    log.debug("scrubbing %s: the snapshot was renewed; reading it again", table)
            return None  # renewed that often: the next pass tries again
        finally:
            with self._lock:
                self._reader.close()  # no snapshot held between tables: LMDB can reuse pages

    def _hash_table(self, table: str) -> Damage | None:
        step = self._config.step_units
        with self._lock:
            scan = self._open_table(table)
            if scan is None:
                return None
            chunk = scan.read(step)
        while True:
            scan.add(chunk)
            self._counted(rows=len(chunk))
            self._pace(len(chunk))
            if scan.finished:
                return scan.damage()
            with self._lock:
                chunk = scan.read(step)

    def _open_table(self, table: str) -> _TableScan | None:
        """A scan of ``table``'s rows in a fresh snapshot, against the digest certified at the
        head: the stored state moves with the head, in the same transaction. None when the
        head's header cannot be read, which the blocks' check reports."""
        reader = self._snapshot()
        height = self._log.head_height
        try:
            certified = self._certified(height)[table]
        except (LogCorruptError, msgspec.DecodeError, KeyError):
            return None
        return _TableScan(table, height, certified, reader.rows(table))

    def _snapshot(self) -> StoredRows:
        """The scrubber's reader of the state, its read transaction renewed (under the lock)."""
        self._reader.close()
        self._reader.reopen()
        return self._reader

    def close(self) -> None:
        """Drop the reader's transaction (under the lock: the caller holds it)."""
        self._reader.close()


class _TableScan:
    """One table's rows hashed from scratch, chunk by chunk, from one snapshot."""

    def __init__(
        self,
        table: str,
        height: int,
        certified: bytes,
        rows: Iterator[tuple[bytes, Any]],
    ) -> None:
        self.table = table
        self.height = height
        self._certified = certified
        self._rows = rows
        self._lthash = LtHash()
        self._count = 0
        self._first: bytes | None = None
        self._last: bytes | None = None
        self._unreadable: str | None = None
        self.finished = False

    def read(self, limit: int) -> list[tuple[bytes, bytes]]:
        """Up to ``limit`` more rows, encoded as the table hash adds them: the LMDB reads, for
        the caller to do under the lock."""
        try:
            chunk = [(key, encode(row)) for key, row in islice(self._rows, limit)]
        except (StateCorruptError, msgspec.DecodeError) as exc:  # ValidationError included
            self._unreadable = str(exc)
            self.finished = True
            return []
        self.finished = len(chunk) < limit
        return chunk

    def add(self, chunk: Sequence[tuple[bytes, bytes]]) -> None:
        """Hash rows ``read`` gave: the expensive part, done outside the lock."""
        if not chunk:
            return
        self._first = chunk[0][0] if self._first is None else self._first
        self._last = chunk[-1][0]
        self._lthash.update([row_element(key, encoded) for key, encoded in chunk], ())
        self._count += len(chunk)

    def damage(self) -> Damage | None:
        """What the finished scan found wrong, if anything."""
        if self._unreadable is not None:
            what = f"a stored row after the last key named cannot be read: {self._unreadable}"
            return Damage(self.height, what, self.table, self._last)
        if self._lthash.digest() != self._certified:
            what = f"its {self._count} stored rows do not hash to the certified digest"
            return Damage(self.height, what, self.table, self._first, self._last)
        return None


def _units(stored: StoredBlock) -> int:
    """A block's work for the scrubber: the record, and each event hashed for the root."""
    return 1 + len(stored.committed.block.events)


def _block_problem(stored: StoredBlock, prev_hash: bytes | None) -> str | None:
    """What is wrong with a block record whose checksum and height were checked, if anything."""
    block = stored.committed.block
    if prev_hash is not None and block.header.prev_hash != prev_hash:
        return "does not link to the previous block"
    if root_from_leaf_hashes(event_leaves(block.events)) != block.header.events_root:
        return "its events do not match the header's events root"
    if len(stored.results) != len(block.events):
        return "holds a result count other than its event count"
    return None


def differing_keys(
    before: StateView, after: StateView, table: str, limit: int = 8
) -> tuple[list[bytes], int, str | None]:
    """The first ``limit`` keys of ``table`` whose rows differ between two states (present in
    one only, or encoded differently), how many differ in all, and why ``before`` could not be
    read to the end if it could not: what a repair says it changed."""
    keys: list[bytes] = []
    count = 0

    def differs(key: bytes) -> None:
        nonlocal count
        count += 1
        if len(keys) < limit:
            keys.append(key)

    old, new = before.rows(table), after.rows(table)
    try:
        left, right = next(old, None), next(new, None)
        while left is not None or right is not None:
            if right is None or (left is not None and left[0] < right[0]):
                assert left is not None
                differs(left[0])
                left = next(old, None)
            elif left is None or right[0] < left[0]:
                differs(right[0])
                right = next(new, None)
            else:
                if encode(left[1]) != encode(right[1]):
                    differs(left[0])
                left, right = next(old, None), next(new, None)
    except (StateCorruptError, msgspec.DecodeError) as exc:
        return keys, count, str(exc)
    return keys, count, None


class ScrubberThread:
    """Runs a ``Scrubber``'s passes on a daemon thread until ``stop``; pauses between them."""

    def __init__(
        self,
        name: str,
        make: Callable[[Pace], Scrubber],
        config: ScrubberConfig,
    ) -> None:
        self._stopping = threading.Event()
        self._config = config
        self.scrubber = make(self._rest)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _rest(self, units: int) -> None:
        if units:
            self._stopping.wait(units / self._config.units_per_second)
        if self._stopping.is_set():
            raise _Stopped

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                self.scrubber.run_pass()
                self._rest(0)
                self._stopping.wait(self._config.pass_pause_s)
        except _Stopped:
            pass
        except Exception:
            log.exception("%s: the scrubber failed and stops", self._thread.name)

    def stop(self) -> None:
        """Stop after the step under way; the caller must not hold the scrubber's lock."""
        self._stopping.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()


class _Stopped(Exception):
    """Raised out of a step's rest to end the pass at once when the thread is stopping."""


def certified_digests(event_log: EventLog, genesis: Sequence[TableDigest]) -> StateDigests:
    """The table digests the header at a height certifies (``genesis``'s at height 0)."""

    def by_name(digests: Sequence[TableDigest]) -> dict[str, bytes]:
        return {t.name: t.digest for t in digests}

    at_genesis = by_name(genesis)

    def at(height: int) -> Mapping[str, bytes]:
        if height == 0:
            return at_genesis
        return by_name(event_log.stored_block(height).committed.block.header.table_digests)

    return at
