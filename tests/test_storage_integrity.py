"""Damage to every database of a stored log, as a failing disk or a hand edit would do it.

Each case flips a byte in a key or a value, deletes a record, exchanges two records' values
(each keeping its own, valid, checksum) or adds a record under a junk key. Opening must then
refuse the log with a ``LogCorruptError`` (the log's own databases), or notice the damage and
rebuild the stored state from the log (``state``, ``tables``, the state's height), or drop the
damaged refusal records (``intake``, forensics only): never serve wrong data, never raise
anything untyped. One small log, made by a ``LedgerNode`` committing a few blocks, is copied for
each case.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import lmdb
import pytest

from consortium.events.block import CommittedBlock, QuorumCertificate, state_digest
from consortium.events.envelope import event_id
from consortium.events.payments import IssueTokens, Transfer
from consortium.ledger import node_state
from consortium.ledger.node import LedgerNode, NodeSettings
from consortium.ledger.node_state import open_state
from consortium.rules.rulebook import RULESET
from consortium.rules.tables import account_key
from consortium.storage.errors import LogCorruptError, LogFormatError, StateCorruptError
from consortium.storage.log import INTAKE_PENDING, EventLog
from consortium.storage.records import IntakeRejection, frame
from consortium.storage.state_rows import row_key, split_row_key
from tests.consortium_fixtures import FAST, funded_users, start, wait_until
from tests.ledger_fixtures import ADMIN, ALICE, BOB, GENESIS, Ledger

HEIGHTS = 3
ALICE_EUR = account_key(ALICE.public_key, "EUR")
BOB_EUR = account_key(BOB.public_key, "EUR")


def _height(n: int) -> bytes:
    return n.to_bytes(8, "big")


def _build(path: Path) -> None:
    """Three blocks issuing EUR to alice and bob, two refused events, two signing records."""
    signer = Ledger()
    with EventLog(path, GENESIS, durable=False) as event_log:
        node = LedgerNode(0, GENESIS, RULESET, event_log, NodeSettings())
        for height in range(1, HEIGHTS + 1):
            events = [
                signer.sign(ADMIN, IssueTokens(token="EUR", to=who.public_key, amount=height))
                for who in (ALICE, BOB)
            ]
            assert node.admit_many(events, [event_id(e) for e in events]) == [None, None]
            block = node.build_block(height, 0, 0, 1_000 + 1_000 * height, allow_empty=False)
            assert block is not None
            node.commit(CommittedBlock(block, QuorumCertificate(height, 0, block.hash, ())))
        junk = [b"junk-one", b"junk-two"]
        node.admit_many(junk, [event_id(j) for j in junk])
        event_log.record_signed([(HEIGHTS + 1, b"V\0\0\0\0", b"vote"), (HEIGHTS + 1, b"C", b"c")])


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pristine") / "log"
    _build(path)
    return path


@pytest.fixture
def copy(pristine: Path, tmp_path: Path) -> Path:
    target = tmp_path / "log"
    shutil.copytree(pristine, target)
    return target


def _two_keys(path: Path, db: str) -> tuple[bytes, bytes]:
    """Two keys of ``db`` to damage: for ``state``, two rows of one table (``accounts``)."""
    env = lmdb.open(str(path), max_dbs=8, readonly=True, lock=False)
    with env.begin(db=env.open_db(db.encode(), create=False)) as txn:
        keys = [bytes(k) for k in txn.cursor().iternext(values=False)]
    env.close()
    if db == "state":
        return row_key("accounts", ALICE_EUR), row_key("accounts", BOB_EUR)
    if db == "meta":
        return b"genesis", b"format"
    assert len(keys) >= 2, (db, keys)
    return keys[0], keys[1]


def _flip(data: bytes) -> bytes:
    """One bit flipped: in the first byte of a height key (a far-away height, not a neighbour's
    key), in the middle byte otherwise."""
    at = 0 if len(data) == 8 else len(data) // 2
    return data[:at] + bytes([data[at] ^ 0x40]) + data[at + 1 :]


def _damage(path: Path, db: str, kind: str) -> None:
    first, second = _two_keys(path, db)
    env = lmdb.open(str(path), max_dbs=8)
    with env.begin(write=True, db=env.open_db(db.encode())) as txn:
        a, b = txn.get(first), txn.get(second)
        assert a is not None and b is not None
        if kind == "flip-key":
            txn.delete(first)
            assert txn.put(_flip(first), a, overwrite=False)
        elif kind == "flip-value":
            txn.put(first, _flip(bytes(a)))
        elif kind == "delete":
            txn.delete(first)
        elif kind == "swap":
            txn.put(first, b)
            txn.put(second, a)
        elif kind == "junk-key":
            junk = row_key("accounts", b"junk") if db == "state" else _height(99)
            assert txn.put(junk, b"\x00\x01junk", overwrite=False)
        else:
            raise AssertionError(kind)
    env.close()


KINDS = ("flip-key", "flip-value", "delete", "swap", "junk-key")
LOG_DATABASES = ("meta", "headers", "blocks", "ids", "signed")
STATE_DATABASES = ("state", "tables")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("db", LOG_DATABASES)
def test_damage_to_a_log_database_is_refused_on_open(copy: Path, db: str, kind: str) -> None:
    _damage(copy, db, kind)
    with pytest.raises(LogCorruptError):
        EventLog(copy, GENESIS).close()
    with pytest.raises(LogCorruptError):
        EventLog(copy, readonly=True).close()


def _open_counting_rebuilds(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, Callable[[], None]]:
    """Open the log and its state; how many times the state was rebuilt by replay."""
    rebuilds = []
    original = node_state.rebuild_state

    def counting(*args: object) -> object:
        rebuilds.append(1)
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(node_state, "rebuild_state", counting)
    event_log = EventLog(path, GENESIS)
    state, _ = open_state(GENESIS, RULESET, event_log, cache_rows=16)
    header = event_log.stored_block(HEIGHTS).committed.block.header
    assert state_digest(state.table_digests()) == header.state_digest
    assert state.get("accounts", ALICE_EUR).balance == sum(range(1, HEIGHTS + 1))
    assert state.get("accounts", BOB_EUR).balance == sum(range(1, HEIGHTS + 1))
    assert state.get("accounts", b"junk") is None
    return len(rebuilds), event_log.close


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("db", STATE_DATABASES)
def test_damage_to_the_stored_state_is_found_on_open_and_rebuilt(
    copy: Path, db: str, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _damage(copy, db, kind)
    rebuilt, close = _open_counting_rebuilds(copy, monkeypatch)
    close()
    assert rebuilt == 1
    again, close = _open_counting_rebuilds(copy, monkeypatch)
    close()
    assert again == 0, "the rebuilt state is stored and used on the next open"


@pytest.mark.parametrize(
    "edit",
    [
        lambda record: _flip(record),
        lambda _: frame(b"meta", b"state_height", _height(HEIGHTS + 5)),
    ],
    ids=["damaged", "beyond-the-head"],
)
def test_a_damaged_state_height_rebuilds_the_state(
    copy: Path, edit: Callable[[bytes], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = lmdb.open(str(copy), max_dbs=8)
    with env.begin(write=True, db=env.open_db(b"meta")) as txn:
        txn.put(b"state_height", edit(bytes(txn.get(b"state_height"))))
    env.close()
    rebuilt, close = _open_counting_rebuilds(copy, monkeypatch)
    close()
    assert rebuilt == 1


def test_a_state_row_key_that_names_no_table_is_a_state_error() -> None:
    """A flipped byte in a row key once raised UnicodeDecodeError from here, and the whole
    embedded consortium refused to start."""
    assert split_row_key(row_key("accounts", b"k\x00ey")) == ("accounts", b"k\x00ey")
    for damaged in (b"\xffaccounts\x00key", b"accounts-without-separator", b"\x00key"):
        with pytest.raises(StateCorruptError):
            split_row_key(damaged)


def test_a_row_damaged_while_running_is_refused_and_marks_the_state_stale(copy: Path) -> None:
    with EventLog(copy, GENESIS) as event_log:
        state, _ = open_state(GENESIS, RULESET, event_log, cache_rows=16)
        rows = event_log.state_rows(RULESET.schema, cache_rows=4)
        stored_key = row_key("accounts", ALICE_EUR)
        env = event_log._env  # the only way to write into an open environment in-process
        with env.begin(write=True, db=event_log._db["state"]) as txn:
            txn.put(stored_key, _flip(bytes(txn.get(stored_key))))
        rows.adopt({})
        with pytest.raises(StateCorruptError, match="restart this validator"):
            rows.get("accounts", ALICE_EUR)
        assert event_log.stored_state() is None
        del state


@pytest.mark.parametrize("kind", KINDS)
def test_damaged_refusal_records_are_dropped_with_a_warning(
    copy: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    with EventLog(copy, readonly=True) as event_log:
        before = event_log.intake_rejections()
    _damage(copy, "intake", kind)
    with caplog.at_level(logging.WARNING), EventLog(copy, GENESIS) as event_log:
        kept = event_log.intake_rejections()
    damaged = {"flip-key": 1, "flip-value": 1, "delete": 0, "swap": 2, "junk-key": 1}[kind]
    assert ("damaged records of refused events" in caplog.text) == (damaged > 0)
    assert all(r in before for r in kept)
    lost = 1 if kind in ("flip-key", "flip-value", "delete") else 2 if kind == "swap" else 0
    assert len(kept) == len(before) - lost


def test_a_log_of_the_previous_format_is_refused_with_what_to_do(copy: Path) -> None:
    env = lmdb.open(str(copy), max_dbs=8)
    with env.begin(write=True, db=env.open_db(b"meta")) as txn:
        txn.put(b"format", b"consortium-log/4")
    env.close()
    with pytest.raises(LogFormatError, match=r"consortium-log/4.*resync from its peers"):
        EventLog(copy, GENESIS)


_OPEN_IN_A_SUBPROCESS = """
import sys
from consortium.storage.errors import StorageError
from consortium.storage.log import INTAKE_PENDING, EventLog
from tests.ledger_fixtures import GENESIS
try:
    EventLog(sys.argv[1], None if sys.argv[2] == "readonly" else GENESIS,
             readonly=sys.argv[2] == "readonly").close()
except StorageError as exc:
    print(type(exc).__name__, exc)
    sys.exit(3)
"""


@pytest.mark.parametrize(
    ("keep", "mode"),
    [(0.5, "readonly"), (0.99, "writable"), (4096 + 100, "readonly")],
    ids=["half-readonly", "most-writable", "one-page-readonly"],
)
def test_a_truncated_file_is_a_message_not_a_signal(copy: Path, keep: float, mode: str) -> None:
    """In a subprocess: a SIGBUS there is a failed test, not a dead test run."""
    data = copy / "data.mdb"
    size = data.stat().st_size
    with data.open("r+b") as file:
        file.truncate(int(size * keep) if keep < 1 else int(keep))
    done = subprocess.run(
        [sys.executable, "-c", _OPEN_IN_A_SUBPROCESS, str(copy), mode],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=60,
    )
    assert done.returncode == 3, (done.returncode, done.stdout, done.stderr)
    assert done.stdout.startswith("LogFileError") and "data.mdb" in done.stdout
    assert "truncated" in done.stdout


def test_refusals_are_bounded_and_kept_across_a_restart(tmp_path: Path) -> None:
    """The most recent ``intake_records_kept`` refusals are kept, in order; those not yet
    written when the log closes are written then; and the file stops growing once the oldest
    are pruned (an idle validator: no block commits, its state reader open all along)."""

    def junk(batch: int, i: int) -> bytes:
        return b"junk-%d-%d" % (batch, i) + bytes(200)

    with EventLog(tmp_path, GENESIS, durable=False) as event_log:
        node = LedgerNode(0, GENESIS, RULESET, event_log, NodeSettings(intake_records_kept=100))
        sizes = []
        for batch in range(40):
            events = [junk(batch, i) for i in range(INTAKE_PENDING // 2)]
            node.admit_many(events, [event_id(e) for e in events])
            sizes.append((tmp_path / "data.mdb").stat().st_size)
        assert sizes[-1] == sizes[-20], "the file grows no more once refusals are pruned"
        node.admit_many([junk(40, 0)], [event_id(junk(40, 0))])
    with EventLog(tmp_path, GENESIS) as event_log:
        kept = event_log.intake_rejections()
    last = [event_id(junk(39, i)) for i in range(INTAKE_PENDING // 2 - 99, INTAKE_PENDING // 2)]
    assert [r.event_id for r in kept] == [*last, event_id(junk(40, 0))]


def test_a_missing_head_block_record_is_refused(copy: Path) -> None:
    """Once an AttributeError: the head's record was read before the head was known."""
    env = lmdb.open(str(copy), max_dbs=8)
    with env.begin(write=True, db=env.open_db(b"blocks")) as txn:
        assert txn.delete(_height(HEIGHTS))
    env.close()
    with pytest.raises(LogCorruptError, match=f"height {HEIGHTS}: block record is missing"):
        EventLog(copy, GENESIS)


def test_a_state_lmdb_cannot_read_is_rebuilt(
    copy: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A damaged B-tree page (LMDB's own structure, under the records' checksums) makes LMDB
    raise while the state's rows are scanned: that state is damaged, not the open a crash."""

    def unreadable(*_: object) -> None:
        raise lmdb.PageNotFoundError("mdb_cursor_get: MDB_PAGE_NOTFOUND")

    with EventLog(copy, GENESIS) as event_log:
        monkeypatch.setattr("consortium.storage.log.state_problem", unreadable)
        with caplog.at_level(logging.WARNING):
            assert event_log.stored_state() is None
    assert "LMDB cannot read it" in caplog.text


def test_refusals_cost_no_transaction_of_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each refusal was once its own durable write transaction (a sync, and about 20 KB of file
    growth with the state reader open): now they wait for the next block's transaction."""
    writes = []
    original = EventLog._write

    def counting(self: EventLog, write: Callable[[lmdb.Transaction], None]) -> None:
        writes.append(1)
        original(self, write)

    signer = Ledger()
    with EventLog(tmp_path, GENESIS, durable=False) as event_log:
        node = LedgerNode(0, GENESIS, RULESET, event_log, NodeSettings())
        monkeypatch.setattr(EventLog, "_write", counting)
        for i in range(10):
            node.admit(b"junk-%d" % i, event_id(b"junk-%d" % i))
        assert writes == []
        event = signer.sign(ADMIN, IssueTokens(token="EUR", to=ALICE.public_key, amount=1))
        assert node.admit(event, event_id(event)) is None
        block = node.build_block(1, 0, 0, 2_000, allow_empty=False)
        assert block is not None
        node.commit(CommittedBlock(block, QuorumCertificate(1, 0, block.hash, ())))
    assert writes == [1], "the block's transaction wrote them; none was left for the close"
    with EventLog(tmp_path, readonly=True) as reader:
        assert [r.event_id for r in reader.intake_rejections()] == [
            event_id(b"junk-%d" % i) for i in range(10)
        ]


def test_a_validator_with_a_flipped_row_key_restarts_agreeing_with_its_peers(
    tmp_path: Path,
) -> None:
    """The failing disk of issue 22: one bit of a stored ``accounts`` row key flipped made the
    restarted validator answer balance 0 under the state digest its peers reported."""
    c = start(tmp_path)
    try:
        alice, bob = funded_users(c, 2)
        alice.submit(Transfer(token="NORTH", to=bob.public_key, amount=3)).result(10)
        assert wait_until(lambda: len({c.height(i) for i in range(4)}) == 1)
        balance = c.balance(alice.public_key, "NORTH", validator=0)
        digest = c.state_digest(0)
    finally:
        c.stop()
    env = lmdb.open(str(tmp_path / "validator-1"), max_dbs=8)
    with env.begin(write=True, db=env.open_db(b"state")) as txn:
        stored_key = row_key("accounts", account_key(alice.public_key, "NORTH"))
        record = txn.pop(stored_key)
        assert record is not None
        txn.put(_flip(stored_key), record)
    env.close()
    c = start(tmp_path)
    try:
        assert c.balance(alice.public_key, "NORTH", validator=1) == balance
        assert c.state_digest(1) == digest
    finally:
        c.stop()


def test_the_number_of_refusals_kept_is_a_consortium_setting(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="intake_records_kept is 0"):
        dataclasses.replace(FAST, intake_records_kept=0)
    c = start(tmp_path, dataclasses.replace(FAST, intake_records_kept=7))
    try:
        assert c.inspect(lambda node: node.log.intake_kept, 2) == 7
    finally:
        c.stop()


def test_writing_refusals_renews_open_state_readers_and_leaves_closed_ones_closed(
    copy: Path,
) -> None:
    """A reader closed between uses (the scrubber's) must not be handed a snapshot it holds
    until its next use, keeping LMDB from reusing pages all that while."""
    refusal = IntakeRejection(b"\x01" * 32, "malformed", "junk", 4, b"junk")
    with EventLog(copy, GENESIS) as event_log:
        reading = event_log.state_rows(RULESET.schema, cache_rows=4)
        resting = event_log.state_rows(RULESET.schema, cache_rows=4)
        resting.close()
        event_log.record_intake_rejections([refusal] * INTAKE_PENDING)
        assert reading.is_open and not resting.is_open
        assert reading.get("accounts", ALICE_EUR).balance == sum(range(1, HEIGHTS + 1))
        assert event_log.intake_rejections()[-1] == refusal
