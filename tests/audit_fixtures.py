"""A tiny stopped consortium's data directories, and raw access to a copy of one, for the tests
of the audit tools: a few blocks are enough to damage each database and see it reported."""

from __future__ import annotations

import shutil
from pathlib import Path

import lmdb

from consortium.events.codec import encode
from consortium.events.payments import Transfer
from consortium.storage.records import BLOCK_DECODER, StoredBlock, frame, unframe
from tests.consortium_fixtures import funded_users, start, wait_until


def tiny_ledger(path: Path, transfers: int = 3) -> Path:
    """Run the demo consortium for a few transfers and stop it; returns its data directory."""
    c = start(path)
    try:
        users = funded_users(c, 2)
        for i in range(transfers):
            users[i % 2].submit(
                Transfer(token="NORTH", to=users[(i + 1) % 2].public_key, amount=i + 1)
            ).result(10)
        assert wait_until(lambda: len({c.height(v) for v in range(4)}) == 1)
    finally:
        c.stop()
    return path


def copy_validator(ledger: Path, target: Path, validator: int = 0) -> Path:
    shutil.copytree(ledger / f"validator-{validator}", target)
    return target


def open_raw(path: Path) -> lmdb.Environment:
    """The copy's LMDB environment, writable, to damage it as a disk or an editor would."""
    return lmdb.open(str(path), max_dbs=8)


def reframe(db: str, key: bytes, payload: bytes) -> bytes:
    """``payload`` framed as the log frames a record stored under ``key`` in ``db``."""
    return frame(db.encode(), key, payload)


def read_stored_block(env: lmdb.Environment, height: int) -> StoredBlock:
    key = height.to_bytes(8, "big")
    with env.begin() as txn:
        record = txn.get(key, db=env.open_db(b"blocks", txn=txn))
    assert record is not None
    found = unframe(b"blocks", key, record)
    assert found is not None
    return BLOCK_DECODER.decode(found)


def write_stored_block(env: lmdb.Environment, height: int, stored: StoredBlock) -> None:
    """Replace the block record at ``height``, correctly framed, leaving its header record."""
    key = height.to_bytes(8, "big")
    with env.begin(write=True) as txn:
        txn.put(key, reframe("blocks", key, encode(stored)), db=env.open_db(b"blocks", txn=txn))
