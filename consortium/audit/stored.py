"""Everything in a data directory beside the chain of blocks, accounted for.

The block walk (``verify``) proves the blocks; a validator also reads the id index, its stored
state, its meta records and its signing records, and a disk can damage those as easily. So every
database and every key of the file is either expected here or reported: a record under a key no
writer makes, a record that fails its checksum, an id that points at another event, a stored row
or table hash that is not the replayed state's at the head, a meta count that does not match.
Each finding names the database and the key; findings are capped per database so that a lost
index is one screen, not one line per event.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import msgspec

from consortium.audit.source import DATABASES, LogSource, payload
from consortium.events.block import Block
from consortium.events.codec import encode
from consortium.events.envelope import event_id
from consortium.rules.state import State
from consortium.storage.log import (
    FORMAT,
    FORMAT_KEY,
    ID_COUNT_KEY,
    META_KEYS,
    SIGNED_COUNT_KEY,
    STATE_HEIGHT_KEY,
)
from consortium.storage.records import INTAKE_DECODER
from consortium.storage.state_rows import read_table_record, row_key

HEIGHT_KEY_BYTES = 8
LOCATION_BYTES = 12  # an id record: height (8 bytes) and index in the block (4)
FINDINGS_PER_DATABASE = 10
"""Findings kept per database; the rest are counted."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing in a database that does not hold."""

    database: str
    what: str
    key: bytes | None = None

    def describe(self) -> str:
        where = self.database if self.key is None else f"{self.database}[{_show(self.key)}]"
        return f"{where}: {self.what}"


def _show(key: bytes) -> str:
    """A key as text when it is printable, a row key as ``table/hex``, any other as hex."""
    if key and all(0x21 <= byte <= 0x7E for byte in key):
        return key.decode()
    table, separator, row = key.partition(b"\x00")
    if separator and table and all(0x21 <= byte <= 0x7E for byte in table):
        return f"{table.decode()}/{_hex(row)}"
    return _hex(key)


def _hex(key: bytes) -> str:
    text = key.hex()
    return text if len(text) <= 40 else text[:40] + "…"


@dataclass(slots=True)
class Findings:
    """Findings in the order found, at most ``FINDINGS_PER_DATABASE`` kept per database."""

    kept: list[Finding] = field(default_factory=list)
    more: dict[str, int] = field(default_factory=dict)

    def add(self, database: str, what: str, key: bytes | None = None) -> None:
        if sum(f.database == database for f in self.kept) < FINDINGS_PER_DATABASE:
            self.kept.append(Finding(database, what, key))
        else:
            self.more[database] = self.more.get(database, 0) + 1

    def __bool__(self) -> bool:
        return bool(self.kept)

    def lines(self) -> list[str]:
        found = [f.describe() for f in self.kept]
        found += [f"{db}: {n} more findings" for db, n in sorted(self.more.items())]
        return found


class IdIndexCheck:
    """The id index against the blocks: each event's id must point at its height and index, and
    nothing else may be in the index. Fed block by block during the walk."""

    def __init__(self, source: LogSource, findings: Findings) -> None:
        self._source = source
        self._findings = findings
        self.events = 0

    def block(self, height: int, block: Block) -> None:
        key = height.to_bytes(HEIGHT_KEY_BYTES, "big")
        ids = [event_id(envelope) for envelope in block.events]
        records = self._source.get_many("ids", ids)
        for index, (eid, record) in enumerate(zip(ids, records, strict=True)):
            expected = key + index.to_bytes(LOCATION_BYTES - HEIGHT_KEY_BYTES, "big")
            found = None if record is None else payload("ids", eid, record)
            event = f"the event at height {height}, index {index}"
            if record is None:
                self._findings.add("ids", f"no entry for {event}", eid)
            elif found is None:
                self._findings.add("ids", f"the entry for {event} fails its checksum", eid)
            elif found != expected:
                self._findings.add("ids", f"{event} is indexed at {_location(found)}", eid)
        self.events += len(ids)

    def finish(self) -> None:
        """After the walk: entries beyond the log's events are named (one extra scan)."""
        entries = self._source.count("ids")
        if entries <= self.events:
            return
        for eid, record in self._source.entries("ids"):
            found = payload("ids", eid, record)
            if found is None or len(found) != LOCATION_BYTES or not self._points_at(eid, found):
                self._findings.add("ids", "an entry for no event of the log", eid)

    def _points_at(self, eid: bytes, location: bytes) -> bool:
        height, index = _split_location(location)
        record = next(self._source.records(height), None)
        if record is None or record.key_height != height or record.stored is None:
            return False
        events = record.stored.committed.block.events
        return index < len(events) and event_id(events[index]) == eid


def _split_location(location: bytes) -> tuple[int, int]:
    return (
        int.from_bytes(location[:HEIGHT_KEY_BYTES], "big"),
        int.from_bytes(location[HEIGHT_KEY_BYTES:], "big"),
    )


def _location(found: bytes) -> str:
    if len(found) != LOCATION_BYTES:
        return f"a {len(found)}-byte location"
    height, index = _split_location(found)
    return f"height {height}, index {index}"


def database_findings(source: LogSource, findings: Findings) -> None:
    """Every named database of a log present, and no other."""
    expected = {name.encode() for name in DATABASES}
    for found in source.database_names():
        if found not in expected:
            findings.add("main", "a database no consortium log has", found)
    for name in DATABASES:
        if not source.has_database(name):
            findings.add(name, "the database is missing")


def header_findings(source: LogSource, findings: Findings) -> None:
    """A header record under exactly the keys of the blocks; the walk compared each with its
    block, so what is left is a header record under a key with no block."""
    keys = [key for key, _ in source.entries("headers")]
    for key, block in zip(keys, source.get_many("blocks", keys), strict=True):
        if block is None:
            findings.add("headers", "a record under a key with no block", key)


def meta_findings(source: LogSource, head: int, findings: Findings) -> None:
    """Only the meta records a log writes, each intact, with the format this version writes and
    counts that match the databases they count."""
    values: dict[bytes, bytes] = {}
    for key, record in source.entries("meta"):
        found = payload("meta", key, record)
        if key not in META_KEYS:
            findings.add("meta", "a record no consortium log writes", key)
        elif found is None:
            findings.add("meta", "the record fails its checksum", key)
        else:
            values[key] = found
    if FORMAT_KEY not in values:
        findings.add("meta", "the format record is missing or damaged", FORMAT_KEY)
    elif values[FORMAT_KEY] != FORMAT:
        findings.add("meta", f"format {values[FORMAT_KEY]!r}, expected {FORMAT!r}", FORMAT_KEY)
    for key, database in ((ID_COUNT_KEY, "ids"), (SIGNED_COUNT_KEY, "signed")):
        entries = source.count(database)
        if key not in values:
            if entries and source.get("meta", key) is None:  # absent: no record counted yet
                findings.add("meta", f"missing, the {database!r} database holds {entries}", key)
        elif (stored := _number(values[key])) != entries:
            what = f"says {stored} records, the {database!r} database holds {entries}"
            findings.add("meta", what, key)
    if STATE_HEIGHT_KEY in values and _number(values[STATE_HEIGHT_KEY]) != head:
        what = f"the stored state is at height {_number(values[STATE_HEIGHT_KEY])}, the head {head}"
        findings.add("meta", what, STATE_HEIGHT_KEY)


def _number(value: bytes) -> int | None:
    return int.from_bytes(value, "big") if len(value) == HEIGHT_KEY_BYTES else None


def intake_findings(source: LogSource, findings: Findings) -> None:
    """Refusal records: intact, each decoding, under consecutive 8-byte sequence numbers (the
    oldest are pruned, so the first may be any)."""
    previous: int | None = None
    for key, record in source.entries("intake"):
        found = payload("intake", key, record)
        number = int.from_bytes(key, "big")
        if len(key) != HEIGHT_KEY_BYTES:
            findings.add("intake", "a record under a key no log writes", key)
            continue
        if previous is not None and number != previous + 1:
            gap = f"{previous + 1}" if number == previous + 2 else f"{previous + 1} to {number - 1}"
            findings.add("intake", f"refusal records before this one are missing ({gap})", key)
        previous = number
        if found is None:
            findings.add("intake", "the record fails its checksum", key)
        else:
            try:
                INTAKE_DECODER.decode(found)
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                findings.add("intake", f"the record does not decode: {exc}", key)


def signed_findings(source: LogSource, head: int, findings: Findings) -> None:
    """Signing records: intact, under a height key no further than the next height."""
    for key, record in source.entries("signed"):
        if len(key) <= HEIGHT_KEY_BYTES:
            findings.add("signed", "a record under a key no log writes", key)
        elif payload("signed", key, record) is None:
            findings.add("signed", "the record fails its checksum", key)
        elif int.from_bytes(key[:HEIGHT_KEY_BYTES], "big") > head + 1:
            findings.add("signed", f"a record for a height past the head {head} and the next", key)


def state_findings(source: LogSource, replayed: State, findings: Findings) -> None:
    """The stored state is the replayed state at the head: every row byte for byte, no row more
    or less, and each table's record holds its row count and hash lanes."""
    if source.get("meta", STATE_HEIGHT_KEY) is None:
        if source.count("state") or source.count("tables"):
            findings.add("meta", "no state height, yet a stored state", STATE_HEIGHT_KEY)
        return  # no stored state: a validator rebuilds it from the log on start
    counts = _row_findings(source, replayed, findings)
    lanes = replayed.table_lanes()
    for name, record in source.entries("tables"):
        table = name.decode(errors="replace")
        parsed = read_table_record(name, record)
        if table not in lanes:
            findings.add("tables", "a record for no table of the state", name)
        elif parsed is None:
            findings.add("tables", "the record fails its checksum", name)
        elif parsed[1] != lanes[table]:
            findings.add("tables", "the table hash differs from the replayed state's", name)
        elif parsed[0] != counts.get(table, 0):
            findings.add("tables", f"says {parsed[0]} rows, the state holds {counts[table]}", name)
    for table, count in counts.items():
        if count and source.get("tables", table.encode()) is None:
            findings.add("tables", f"no record for a table of {count} rows", table.encode())


def _row_findings(source: LogSource, replayed: State, findings: Findings) -> dict[str, int]:
    """Each stored row against the replayed one; returns the replayed row count per table."""
    counts = {table: sum(1 for _ in replayed.rows(table)) for table in replayed.schema}
    present: dict[str, int] = {}  # stored rows under a key of a replayed row, by table
    for key, record in source.entries("state"):
        prefix, separator, row = key.partition(b"\x00")
        name = prefix.decode(errors="replace")
        found = payload("state", key, record)
        if name not in counts or not separator:
            findings.add("state", "a row under a key that names no table", key)
            continue
        value = replayed.get(name, row)
        if value is not None:
            present[name] = present.get(name, 0) + 1
        if found is None:
            findings.add("state", "the row fails its checksum", key)
        elif value is None:
            findings.add("state", "a row the replayed state does not have", key)
        elif found != encode(value):
            findings.add("state", "the row differs from the replayed state's", key)
    for table, count in counts.items():
        if present.get(table, 0) < count:
            for key in _missing(source, table, (k for k, _ in replayed.rows(table))):
                findings.add("state", "a row of the replayed state is missing", key)
    return counts


def _missing(source: LogSource, table: str, keys: Iterable[bytes]) -> Iterator[bytes]:
    stored_keys = [row_key(table, key) for key in keys]
    for stored_key, record in zip(stored_keys, source.get_many("state", stored_keys), strict=True):
        if record is None:
            yield stored_key
