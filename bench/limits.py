"""Raw limits of this machine: what signatures, decoding and LMDB can do with nothing else running.

These are the denominators of every ratio the harness reports.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import lmdb

from consortium.events.codec import encode
from consortium.events.envelope import decode_body, decode_envelope, seal
from consortium.events.identity import Identity
from consortium.events.payments import Transfer
from consortium.events.signing import Domain, verify_signature


@dataclass(frozen=True, slots=True)
class RawLimits:
    cores: int
    sign_per_s: float
    verify_per_s: float
    verify_all_cores_per_s: float
    decode_per_s: float
    lmdb_append_per_s: float
    lmdb_durable_commits_per_s: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn`` over about ``seconds`` (its result is discarded)."""
    count, started = 0, time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for _ in range(100):
            fn()
        count += 100
    return count / (time.perf_counter() - started)


def _best(rate: Callable[[], float], tries: int = 3) -> float:
    """The best of ``tries`` measurements: a limit is what the machine can do, and anything else
    running at the time only ever lowers a measurement. One all-cores verify measurement came
    out at 1.2 times one thread where others gave 1.8."""
    return max(rate() for _ in range(tries))


def measure(seconds: float = 0.5) -> RawLimits:
    alice = Identity.from_seed("bench-alice", b"bench")
    body = Transfer(author=alice.public_key, seq=1, token="EUR", to=bytes(32), amount=100)
    envelope = seal(body, "bench", [alice])
    signed = decode_envelope(envelope)
    sig = signed.signatures[0]
    message = signed.body

    def verify() -> None:
        verify_signature(sig.signer, sig.signature, Domain.EVENT, "bench", message)

    cores = os.cpu_count() or 1
    return RawLimits(
        cores=cores,
        sign_per_s=_best(
            lambda: _rate(lambda: alice.sign(Domain.EVENT, "bench", message), seconds)
        ),
        verify_per_s=_best(lambda: _rate(verify, seconds)),
        verify_all_cores_per_s=_best(lambda: _parallel_rate(verify, cores, seconds)),
        decode_per_s=_best(
            lambda: _rate(lambda: decode_body(decode_envelope(envelope).body), seconds)
        ),
        lmdb_append_per_s=_lmdb_rate(durable=False, per_txn=1000, seconds=seconds),
        lmdb_durable_commits_per_s=_lmdb_rate(durable=True, per_txn=1, seconds=seconds),
    )


def _parallel_rate(fn: Callable[[], None], threads: int, seconds: float) -> float:
    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(lambda _: _rate(fn, seconds), range(threads)))


def _lmdb_rate(durable: bool, per_txn: int, seconds: float) -> float:
    """Appends per second (``per_txn`` records per transaction) of 250-byte records."""
    record = encode(b"x" * 250)
    with tempfile.TemporaryDirectory() as path:
        env = lmdb.open(path, map_size=1 << 30, sync=durable, metasync=durable)
        key, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            with env.begin(write=True) as txn:
                for _ in range(per_txn):
                    key += 1
                    txn.put(key.to_bytes(8, "big"), record, append=True)
        rate = key / (time.perf_counter() - started)
        env.close()
    return rate
