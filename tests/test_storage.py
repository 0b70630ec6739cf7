"""The LMDB event log: append-only, checked appends, corruption detection, map growth."""

from __future__ import annotations

from pathlib import Path

import lmdb
import pytest

from consortium.events.block import (
    Block,
    BlockHeader,
    CommittedBlock,
    QuorumCertificate,
    event_leaves,
)
from consortium.events.codec import encode
from consortium.events.envelope import event_id
from consortium.events.merkle import root_from_leaf_hashes
from consortium.events.results import ACCEPTED
from consortium.storage.errors import LogCorruptError, StorageError
from consortium.storage.log import SIGNED_HEIGHTS_KEPT, ZERO_HASH, EventLog
from tests.ledger_fixtures import GENESIS


def _block(height: int, prev: bytes, events: tuple[bytes, ...] = (b"e",)) -> CommittedBlock:
    root = root_from_leaf_hashes(event_leaves(events))
    header = BlockHeader(
        GENESIS.chain_id,
        height,
        0,
        prev,
        0,
        1_000 + height,
        len(events),
        root,
        b"",
        0,
        b"",
        (),
    )
    block = Block(header, events)
    return CommittedBlock(block, QuorumCertificate(height, 0, block.hash, ()))


def _fill(path: Path, n: int, events_per_block: int = 1) -> list[CommittedBlock]:
    blocks, prev = [], ZERO_HASH
    with EventLog(path, GENESIS, durable=False) as log:
        for h in range(1, n + 1):
            events = tuple(f"{h}-{i}".encode() for i in range(events_per_block))
            committed = _block(h, prev, events)
            log.append(
                committed, [ACCEPTED] * len(events), (), [event_id(e) for e in events], {}, {}
            )
            blocks.append(committed)
            prev = committed.block.hash
    return blocks


def test_committed_ids_are_found_after_append_reopen_and_read_only_open(tmp_path: Path) -> None:
    """Intake asks the log's id filter first: it must never hide a committed event, whether the
    id was appended by this instance, found by the scan on reopening, or asked of a read-only
    log (whose filter answers "maybe")."""
    blocks = _fill(tmp_path, 3, events_per_block=2)
    ids = [event_id(e) for c in blocks for e in c.block.events]
    fresh = [event_id(b"never-%d" % i) for i in range(50)]
    with EventLog(tmp_path, GENESIS, durable=False) as log:
        assert log.committed_ids(ids + fresh) == set(ids)
        events = (b"4-0",)
        log.append(_block(4, log.head_hash, events), [ACCEPTED], (), [event_id(b"4-0")], {}, {})
        assert log.committed_ids([event_id(b"4-0"), *fresh]) == {event_id(b"4-0")}
    with EventLog(tmp_path, GENESIS, readonly=True) as log:
        assert log.committed_ids(ids + fresh) == set(ids)


def test_signature_records_keep_the_recent_heights_and_forget_old_ones(tmp_path: Path) -> None:
    """Pruning goes in steps: the last SIGNED_HEIGHTS_KEPT heights are always kept, never more
    than twice as many, and a reopened log prunes what the last run left at its first record."""

    def kept(log: EventLog, upto: int) -> list[int]:
        return [h for h in range(1, upto + 1) if log.signed_records(h)]

    with EventLog(tmp_path, GENESIS, durable=False) as log:
        for height in range(1, 101):
            log.record_signed([(height, b"V\0\0\0\0", b"v"), (height, b"C\0\0\0\0", b"c")])
            heights = kept(log, height)
            assert heights == list(range(heights[0], height + 1))
            assert min(height, SIGNED_HEIGHTS_KEPT + 1) <= len(heights) <= 2 * SIGNED_HEIGHTS_KEPT
        assert len(log.signed_records(100)) == 2
    with EventLog(tmp_path, GENESIS, durable=False) as log:
        log.record_signed([(101, b"V\0\0\0\0", b"v")])
        assert kept(log, 101) == list(range(101 - SIGNED_HEIGHTS_KEPT, 102))


def test_append_and_reopen_keep_every_block_and_index(tmp_path: Path) -> None:
    blocks = _fill(tmp_path, 5)
    with EventLog(tmp_path, GENESIS) as log:
        assert log.head_height == 5 and log.head_hash == blocks[-1].block.hash
        assert [s.committed for s in log.stored_blocks()] == blocks
        assert log.locate(event_id(b"3-0")).height == 3


def test_append_refuses_a_block_that_does_not_extend_the_head(tmp_path: Path) -> None:
    _fill(tmp_path, 2)
    with EventLog(tmp_path, GENESIS) as log:
        with pytest.raises(StorageError, match="does not extend"):
            log.append(_block(2, ZERO_HASH), [ACCEPTED], (), [event_id(b"e")], {}, {})
        with pytest.raises(StorageError, match="does not extend"):
            log.append(_block(3, ZERO_HASH), [ACCEPTED], (), [event_id(b"e")], {}, {})


def test_opening_twice_in_one_process_is_refused(tmp_path: Path) -> None:
    with EventLog(tmp_path, GENESIS):
        with pytest.raises(StorageError, match="already open"):
            EventLog(tmp_path, GENESIS)


def test_another_genesis_is_refused(tmp_path: Path) -> None:
    _fill(tmp_path, 1)
    other = type(GENESIS)(
        **{**{f: getattr(GENESIS, f) for f in GENESIS.__struct_fields__}, "chain_id": "other"}
    )
    with pytest.raises(StorageError, match="another genesis"):
        EventLog(tmp_path, other)


def _tamper(path: Path, db: bytes, key: bytes, change) -> None:
    env = lmdb.open(str(path), max_dbs=8)
    handle = env.open_db(db)
    with env.begin(write=True, db=handle) as txn:
        txn.put(key, change(txn.get(key)))
    env.close()


def test_flipped_bit_in_a_header_is_reported(tmp_path: Path) -> None:
    _fill(tmp_path, 3)

    def flip(record: bytes) -> bytes:
        data = bytearray(record)
        data[-3] ^= 0x10
        return bytes(data)

    _tamper(tmp_path, b"headers", (2).to_bytes(8, "big"), flip)
    with pytest.raises(LogCorruptError) as error:
        EventLog(tmp_path, GENESIS)
    assert error.value.height == 2 and "checksum" in error.value.what


def test_flipped_bit_in_the_last_block_record_is_reported(tmp_path: Path) -> None:
    _fill(tmp_path, 3)

    def flip(record: bytes) -> bytes:
        data = bytearray(record)
        data[10] ^= 0x01
        return bytes(data)

    _tamper(tmp_path, b"blocks", (3).to_bytes(8, "big"), flip)
    with pytest.raises(LogCorruptError, match="height 3"):
        EventLog(tmp_path, GENESIS)


def _swap_records(path: Path, db_name: bytes, a: int, b: int) -> None:
    """Exchange the records stored under heights ``a`` and ``b`` (each keeps its checksum)."""
    env = lmdb.open(str(path), max_dbs=8)
    db = env.open_db(db_name)
    with env.begin(write=True, db=db) as txn:
        first, second = (txn.get(k.to_bytes(8, "big")) for k in (a, b))
        txn.put(a.to_bytes(8, "big"), second)
        txn.put(b.to_bytes(8, "big"), first)
    env.close()


def test_header_under_the_wrong_key_breaks_the_chain(tmp_path: Path) -> None:
    _fill(tmp_path, 3)
    _swap_records(tmp_path, b"headers", 2, 3)
    with pytest.raises(LogCorruptError, match="height 2"):
        EventLog(tmp_path, GENESIS)


def test_block_record_under_the_wrong_key_is_never_served(tmp_path: Path) -> None:
    """Two earlier block records swapped, neither the head: the checksum covers the key, so
    opening refuses the log rather than serving either as the other height."""
    _fill(tmp_path, 3)
    _swap_records(tmp_path, b"blocks", 1, 2)
    with pytest.raises(LogCorruptError, match="height 1: block record fails its checksum"):
        EventLog(tmp_path, GENESIS)


def test_map_grows_instead_of_failing_while_the_state_is_being_read(tmp_path: Path) -> None:
    """LMDB may only remap with no transaction open in the process: the state reader's
    long-lived one is closed around the growth and reopened."""
    with EventLog(tmp_path, GENESIS, durable=False, map_size=1 << 20) as log:
        rows = log.state_rows({"nonces": int}, cache_rows=8)
        prev = ZERO_HASH
        big = bytes(200_000)
        for h in range(1, 21):
            committed = _block(h, prev, (big + h.to_bytes(4, "big"),))
            key = h.to_bytes(4, "big")
            log.append(
                committed,
                [ACCEPTED],
                (),
                [event_id(committed.block.events[0])],
                {"nonces": {key: encode(h)}},
                {},
            )
            rows.adopt({"nonces": {key: h}})
            assert rows.get("nonces", key) == h
            prev = committed.block.hash
        assert log.head_height == 20
        assert [n for _, n in rows.rows("nonces")] == list(range(1, 21))


def test_readonly_open_of_a_non_consortium_directory_says_so(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="not a consortium data directory"):
        EventLog(tmp_path / "nothing", readonly=True)


def test_a_second_writing_process_is_refused(tmp_path: Path) -> None:
    import subprocess
    import sys

    _fill(tmp_path, 1)
    with EventLog(tmp_path, GENESIS):
        code = (
            "import sys\nfrom storage.log import EventLog\n"
            "from tests.ledger_fixtures import GENESIS\n"
            "try:\n    EventLog(sys.argv[1], GENESIS)\nexcept Exception as e:\n"
            "    print(type(e).__name__, e); sys.exit(3)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path)],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
    assert done.returncode == 3 and "in use by another process" in done.stdout
