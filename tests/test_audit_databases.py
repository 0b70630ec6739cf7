"""``consortium audit`` accounts for every database and key of a data directory.

A validator reads its id index, stored state, meta and signing records as well as its blocks,
so damage to any of them must be reported: a flipped byte, a deleted record, two records
swapped (each still carrying a valid checksum of its own), and a junk record under a key no
writer makes. Each case builds the damage into a copy of one validator's directory of a tiny
ledger; before the audit checked these databases, every one of them audited OK.
"""

from __future__ import annotations

import shutil
import zlib
from collections.abc import Callable
from pathlib import Path

import lmdb
import pytest

from consortium.audit.verify import AuditReport, audit
from consortium.cli import main
from consortium.events.codec import encode
from consortium.storage.records import IntakeRejection, frame
from tests.audit_fixtures import copy_validator, open_raw, reframe, tiny_ledger

HEIGHT = (1).to_bytes(8, "big")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One validator's directory of a tiny ledger, with three refusal records added (a demo run
    refuses nothing), so that every database holds at least two records and a deleted refusal
    can be one between two others (nothing counts refusals, so losing the newest is unseen)."""
    ledger = tiny_ledger(tmp_path_factory.mktemp("ledger"))
    path = copy_validator(ledger, tmp_path_factory.mktemp("base") / "v0")
    env = open_raw(path)
    with env.begin(write=True) as txn:
        intake = env.open_db(b"intake", txn=txn)
        for n in (1, 2, 3):
            key = n.to_bytes(8, "big")
            refusal = IntakeRejection(bytes(32), "malformed", f"refusal {n}", 3, b"abc")
            txn.put(key, reframe("intake", key, encode(refusal)), db=intake)
    env.close()
    report = audit(path)
    assert report.ok, (report.divergence, report.findings.lines())
    return path


def _keys(env: lmdb.Environment, db: str) -> list[bytes]:
    with env.begin() as txn:
        keys = [
            bytes(k)
            for k in txn.cursor(db=env.open_db(db.encode(), txn=txn)).iternext(values=False)
        ]
    if db == "state":  # rows of one table, so a swap exchanges two accounts
        keys = [k for k in keys if k.startswith(b"accounts\x00")]
    if db == "meta":  # two numbers of the same width
        keys = [b"event_ids", b"state_height"]
    if db == "tables":
        keys = [b"accounts", b"participants"]
    return keys


def _flip(env: lmdb.Environment, db: str) -> None:
    key = _keys(env, db)[0]
    with env.begin(write=True) as txn:
        handle = env.open_db(db.encode(), txn=txn)
        value = bytearray(txn.get(key, db=handle))
        value[-1] ^= 0x01
        txn.put(key, bytes(value), db=handle)


def _delete(env: lmdb.Environment, db: str) -> None:
    keys = _keys(env, db)
    key = keys[1] if db == "intake" else keys[0]
    with env.begin(write=True) as txn:
        assert txn.delete(key, db=env.open_db(db.encode(), txn=txn))


def _swap(env: lmdb.Environment, db: str) -> None:
    first, second = _keys(env, db)[:2]
    with env.begin(write=True) as txn:
        handle = env.open_db(db.encode(), txn=txn)
        a, b = txn.get(first, db=handle), txn.get(second, db=handle)
        txn.put(first, b, db=handle)
        txn.put(second, a, db=handle)


def _junk(env: lmdb.Environment, db: str) -> None:
    """A correctly framed record under a key past every real one (for ``state`` and ``tables``,
    a key naming a table no state has)."""
    key = {"meta": b"zz-junk", "state": b"zz\x00junk", "tables": b"zz"}.get(db, b"\xff" * 8)
    if db == "signed":
        key = b"\x00" * 7 + b"\x01" + b"J" + bytes(4)  # a plausible slot at height 1
    with env.begin(write=True) as txn:
        txn.put(key, reframe(db, key, b"\x01"), db=env.open_db(db.encode(), txn=txn))


DAMAGE: dict[str, Callable[[lmdb.Environment, str], None]] = {
    "flip": _flip,
    "delete": _delete,
    "swap": _swap,
    "junk": _junk,
}
DATABASES = ("meta", "headers", "ids", "state", "tables", "intake", "signed")


def _damaged(base: Path, tmp_path: Path, damage: str, db: str) -> AuditReport:
    path = tmp_path / "damaged"
    shutil.copytree(base, path)
    env = open_raw(path)
    DAMAGE[damage](env, db)
    env.close()
    return audit(path)


@pytest.mark.parametrize("db", DATABASES)
@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damage_in_every_database_is_reported(
    base: Path, tmp_path: Path, damage: str, db: str
) -> None:
    report = _damaged(base, tmp_path, damage, db)
    assert not report.ok
    said = report.findings.lines() + ([report.divergence.describe()] if report.divergence else [])
    assert said
    if db != "headers":  # header damage is a divergence of the block walk
        assert any(line.startswith((db, "meta")) for line in report.findings.lines()), said


def test_a_junk_header_under_a_high_key_is_named(base: Path, tmp_path: Path) -> None:
    report = _damaged(base, tmp_path, "junk", "headers")
    assert report.divergence is None
    assert report.findings.lines() == [f"headers[{'ff' * 8}]: a record under a key with no block"]


def test_a_swapped_row_is_named_with_its_table(base: Path, tmp_path: Path) -> None:
    report = _damaged(base, tmp_path, "swap", "state")
    lines = report.findings.lines()
    assert len(lines) == 2 and all(line.startswith("state[accounts/") for line in lines), lines


def test_a_flipped_format_or_state_height_is_reported(base: Path, tmp_path: Path) -> None:
    path = tmp_path / "meta"
    shutil.copytree(base, path)
    env = open_raw(path)
    with env.begin(write=True) as txn:
        meta = env.open_db(b"meta", txn=txn)
        txn.put(b"state_height", reframe("meta", b"state_height", (99).to_bytes(8, "big")), db=meta)
    env.close()
    lines = audit(path).findings.lines()
    assert any("state_height" in line and "height 99" in line for line in lines), lines


def test_the_cli_lists_findings_and_exits_1(base: Path, tmp_path: Path, capsys) -> None:
    _damaged(base, tmp_path, "delete", "ids")
    assert main(["audit", str(tmp_path / "damaged")]) == 1
    out = capsys.readouterr().out
    assert "FAILED: the stored databases" in out and "ids[" in out


@pytest.mark.parametrize("command", ["audit", "replay", "export", "prove"])
def test_a_truncated_file_is_a_message_not_a_signal(
    base: Path, tmp_path: Path, capsys, command: str
) -> None:
    path = tmp_path / "cut"
    shutil.copytree(base, path)
    data = path / "data.mdb"
    with data.open("r+b") as file:
        file.truncate(data.stat().st_size // 2)
    argv = [command, str(path)] + (["--consistency", "1", "2"] if command == "prove" else [])
    assert main(argv) == 2
    assert "truncated" in capsys.readouterr().err


def _rows(env: lmdb.Environment) -> list[tuple[bytes, bytes]]:
    with env.begin() as txn:
        cursor = txn.cursor(db=env.open_db(b"state", txn=txn))
        return [(bytes(k), bytes(v)) for k, v in cursor if bytes(k).startswith(b"accounts\x00")]


def _reframed_row(key: bytes, record: bytes) -> bytes:
    return reframe("state", key, record[4:])


def test_two_rows_swapped_with_valid_checksums_are_named(base: Path, tmp_path: Path) -> None:
    """A swap no checksum can catch (each record re-framed for its new key): only comparing
    with the replayed state shows that each account now holds the other's row."""
    path = tmp_path / "swapped"
    shutil.copytree(base, path)
    env = open_raw(path)
    (first, a), (second, b) = _rows(env)[:2]
    with env.begin(write=True) as txn:
        state = env.open_db(b"state", txn=txn)
        txn.put(first, _reframed_row(first, b), db=state)
        txn.put(second, _reframed_row(second, a), db=state)
    env.close()
    lines = audit(path).findings.lines()
    assert len(lines) == 2 and all("differs from the replayed state" in line for line in lines)
    assert lines[0].startswith("state[accounts/"), lines


def test_a_row_under_a_flipped_key_is_named(base: Path, tmp_path: Path) -> None:
    """A row moved under a key with one bit flipped, its checksum made for the new key."""
    path = tmp_path / "flipped-key"
    shutil.copytree(base, path)
    env = open_raw(path)
    key, record = _rows(env)[0]
    flipped = key[:-1] + bytes([key[-1] ^ 0x01])
    with env.begin(write=True) as txn:
        state = env.open_db(b"state", txn=txn)
        txn.delete(key, db=state)
        txn.put(flipped, _reframed_row(flipped, record), db=state)
    env.close()
    lines = audit(path).findings.lines()
    assert any("does not have" in line for line in lines), lines
    assert any("is missing" in line for line in lines), lines


def test_a_log_of_an_older_format_is_named_as_such(base: Path, tmp_path: Path, capsys) -> None:
    """Format 4 framed records without their keys: its genesis fails this version's checksum,
    which must read as "another format", not as damage."""
    path = tmp_path / "old"
    shutil.copytree(base, path)
    env = open_raw(path)
    with env.begin(write=True) as txn:
        meta = env.open_db(b"meta", txn=txn)
        genesis = txn.get(b"genesis", db=meta)[4:]
        txn.put(b"format", b"consortium-log/4", db=meta)
        txn.put(b"genesis", zlib.crc32(genesis).to_bytes(4, "big") + genesis, db=meta)
    env.close()
    assert main(["audit", str(path)]) == 2
    assert "format 'consortium-log/4'" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["audit", "replay", "export", "diff", "prove"])
def test_every_reader_refuses_a_log_labelled_with_another_format(
    base: Path, tmp_path: Path, capsys, command: str
) -> None:
    """Even when its records still read: the label alone decides, before any record is used
    (replay, export, diff and prove used to go on)."""
    path = tmp_path / "labelled"
    shutil.copytree(base, path)
    env = open_raw(path)
    with env.begin(write=True) as txn:
        meta = env.open_db(b"meta", txn=txn)
        txn.put(b"format", frame(b"meta", b"format", b"consortium-log/4"), db=meta)
    env.close()
    extra = {"diff": [str(base)], "prove": ["--consistency", "1", "2"]}.get(command, [])
    assert main([command, str(path), *extra]) == 2
    assert "format 'consortium-log/4'" in capsys.readouterr().err
