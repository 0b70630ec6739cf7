"""Verify every event signature of stored blocks, here or in audit worker processes.

``check_block_signatures`` is the one verdict logic, used inline by the auditor and by its
worker processes. A worker opens the log read-only itself (LMDB serves readers in any number of
processes) and is handed only height ranges, so no block bytes cross a pipe; it sends back one
small ``SignatureVerdict`` per height. The verdict carries the events root of the bytes it
verified, which the auditor holds against the bytes it re-executes: a verdict can only vouch for
the block that is replayed.

This module lives in ``storage`` rather than ``consortium.audit`` on purpose: a spawned worker
imports it by name, and importing anything under ``consortium`` loads the whole package (about
0.2 s per worker), whereas this needs only ``events``, ``storage.records`` and ``lmdb`` (about
0.06 s).
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import lmdb
import msgspec

from events.block import event_leaves
from events.envelope import decode_event, event_id
from events.errors import MalformedError
from events.merkle import root_from_leaf_hashes
from events.signing import Domain, verify_signature
from storage.records import BLOCK_DECODER, unframe


@dataclass(frozen=True, slots=True)
class SignatureVerdict:
    """What checking one block's event signatures found; small enough to pickle per height.

    ``problem`` is None when every event decodes and every signature verifies; otherwise it says
    what failed first, at ``event_index`` (``event_id``), and ``signer`` names the key whose
    signature does not verify. ``signatures`` counts the signatures checked up to that point.
    """

    height: int
    signatures: int
    events_root: bytes
    problem: str | None = None
    event_index: int | None = None
    event_id: bytes | None = None
    signer: bytes | None = None


def check_block_signatures(
    height: int, envelopes: Sequence[bytes], chain_id: str
) -> SignatureVerdict:
    """Decode every event of a block and verify every signature, stopping at the first failure."""
    root = root_from_leaf_hashes(event_leaves(list(envelopes)))
    signatures = 0
    for index, envelope_bytes in enumerate(envelopes):
        try:
            envelope, _ = decode_event(envelope_bytes)
        except MalformedError as exc:
            return SignatureVerdict(
                height,
                signatures,
                root,
                f"event does not decode: {exc}",
                index,
                event_id(envelope_bytes),
            )
        for sig in envelope.signatures:
            signatures += 1
            if not verify_signature(
                sig.signer, sig.signature, Domain.EVENT, chain_id, envelope.body
            ):
                return SignatureVerdict(
                    height,
                    signatures,
                    root,
                    "event signature does not verify",
                    index,
                    event_id(envelope_bytes),
                    sig.signer,
                )
    return SignatureVerdict(height, signatures, root)


@dataclass(frozen=True, slots=True)
class _WorkerLog:
    env: lmdb.Environment
    blocks: lmdb._Database
    chain_id: str


_log: _WorkerLog | None = None


def start_worker(path: str, chain_id: str) -> None:
    """Process-pool initializer: open the log read-only once for every task of this worker.

    Ctrl-C is left to the auditing process, which cancels outstanding work and shuts the pool
    down; a worker that died of it would only break the pool and hide the auditor's own report.
    """
    global _log
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    env = lmdb.open(str(Path(path)), readonly=True, lock=False, max_dbs=8, subdir=True)
    _log = _WorkerLog(env, env.open_db(b"blocks", create=False), chain_id)


def check_heights(start: int, stop: int) -> list[SignatureVerdict]:
    """Verdicts for the stored blocks at heights ``start`` to ``stop - 1``, in a worker.

    A record that fails its checksum or does not decode gets no verdict: the auditor's own read
    of it reports the damage, with the same words as for any other unreadable record.
    """
    assert _log is not None, "start_worker must run first (it is the pool's initializer)"
    verdicts: list[SignatureVerdict] = []
    with _log.env.begin(db=_log.blocks) as txn:
        cursor = txn.cursor()
        if not cursor.set_range(start.to_bytes(8, "big")):
            return verdicts
        for key, record in cursor:
            height = int.from_bytes(key, "big")
            if height >= stop:
                break
            envelopes = _stored_events(record)
            if envelopes is not None:
                verdicts.append(check_block_signatures(height, envelopes, _log.chain_id))
    return verdicts


def _stored_events(record: bytes) -> tuple[bytes, ...] | None:
    payload = unframe(record)
    if payload is None:
        return None
    try:
        return BLOCK_DECODER.decode(payload).committed.block.events
    except msgspec.DecodeError:
        return None
