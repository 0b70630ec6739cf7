"""Storage faults, applied to a stopped validator's LMDB files as a failing disk would.

The log must notice each before it serves or uses the damaged record: the header hash chain and
the head's block are checked on reopening, every other block record's checksum and key when it is
read (a restart reads the stored state, so it no longer replays old blocks). A validator that
notices sets the log aside and rebuilds from peers.
"""

from __future__ import annotations

import random
from pathlib import Path

import lmdb

from tests.sim.faults import Fault


def _key(height: int) -> bytes:
    return height.to_bytes(8, "big")


def corrupt(path: Path, kind: Fault, rng: random.Random) -> bool:
    """Damage the log in ``path``; False when it holds too few blocks for this kind."""
    env = lmdb.open(str(path), max_dbs=8, sync=False, metasync=False)
    try:
        headers, blocks = env.open_db(b"headers"), env.open_db(b"blocks")
        with env.begin(write=True) as txn:
            head = txn.stat(headers)["entries"]
            if head < 2:
                return False
            if kind is Fault.BIT_FLIP:
                height = rng.randint(1, head)
                record = bytearray(txn.get(_key(height), db=blocks))
                bit = rng.randrange(len(record) * 8)
                record[bit // 8] ^= 1 << (bit % 8)
                txn.put(_key(height), bytes(record), db=blocks)
            elif kind is Fault.TORN_WRITE:
                record = txn.get(_key(head), db=headers)
                txn.put(_key(head), record[: rng.randint(1, len(record) - 1)], db=headers)
            elif kind is Fault.WRONG_KEY:
                a, b = rng.sample(range(1, head + 1), 2)
                first, second = txn.get(_key(a), db=blocks), txn.get(_key(b), db=blocks)
                txn.put(_key(a), second, db=blocks)
                txn.put(_key(b), first, db=blocks)
            else:
                raise ValueError(f"{kind} is not a storage fault")
        return True
    finally:
        env.close()
