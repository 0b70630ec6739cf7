"""Snapshots, paced by events, speed up restarts and are checked against their header on load."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import lmdb
import msgspec

from events.payments import Transfer
from storage.records import StoredSnapshot, frame, unframe
from tests.consortium_fixtures import FAST, funded_users, start, wait_until

SNAPSHOTTING = dataclasses.replace(FAST, snapshot_every=5)


def _commit_blocks(path: Path, snapshots: int) -> list[bytes]:
    """Transfer until validator 0 has taken ``snapshots`` snapshots; the state digests."""
    c = start(path, SNAPSHOTTING)
    try:
        alice, bob = funded_users(c, 2)
        taken: set[int] = set()
        while len(taken) < snapshots:
            alice.submit(Transfer(token="NORTH", to=bob.public_key, amount=1)).result(10)
            taken.add(c.inspect(lambda node: node.log.latest_snapshot_height(), 0))
            taken.discard(0)
        assert wait_until(lambda: len({c.height(i) for i in range(4)}) == 1)
        return [c.state_digest(i) for i in range(4)]
    finally:
        c.stop()


def _snapshot_heights(path: Path) -> list[int]:
    env = lmdb.open(str(path), max_dbs=8, readonly=True, lock=False)
    with env.begin(db=env.open_db(b"snapshots", create=False)) as txn:
        heights = [int.from_bytes(k, "big") for k, _ in txn.cursor()]
    env.close()
    return heights


def test_restart_from_snapshot_gives_the_same_digests(tmp_path: Path) -> None:
    digests = _commit_blocks(tmp_path, 3)
    heights = _snapshot_heights(tmp_path / "validator-0")
    assert len(heights) == 2 and heights[0] < heights[1]  # only the latest two are kept
    c = start(tmp_path, SNAPSHOTTING)
    try:
        assert [c.state_digest(i) for i in range(4)] == digests
    finally:
        c.stop()


def test_a_snapshot_that_does_not_match_its_header_is_not_used(tmp_path: Path) -> None:
    digests = _commit_blocks(tmp_path, 2)
    path = tmp_path / "validator-1"
    env = lmdb.open(str(path), max_dbs=8)
    snapshots = env.open_db(b"snapshots")
    with env.begin(write=True, db=snapshots) as txn:
        cursor = txn.cursor()
        cursor.last()
        key, record = cursor.key(), cursor.value()
        stored = msgspec.msgpack.decode(unframe(record), type=StoredSnapshot)
        # A well-formed snapshot with a valid checksum whose state is not the committed one.
        forged = StoredSnapshot(stored.height, msgspec.msgpack.encode({"nonces": []}))
        txn.put(key, frame(msgspec.msgpack.encode(forged)))
    env.close()
    c = start(tmp_path, SNAPSHOTTING)
    try:
        assert c.state_digest(1) == digests[1]
    finally:
        c.stop()
