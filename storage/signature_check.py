"""Verify every signature of stored blocks (events and quorum certificate), here or in audit
worker processes.

``check_block_signatures`` is the one verdict logic, used inline by the auditor and by its
worker processes. A worker opens the log read-only itself (LMDB serves readers in any number of
processes) and is handed only height ranges, so no block bytes cross a pipe; it sends back one
small ``SignatureVerdict`` per height. The verdict carries the events root of the events and the
hash of the certificate it verified, which the auditor holds against the block it re-executes: a
verdict can only vouch for the block that is replayed. The certificate's 2f+1 precommits are
checked here too: for a log of small blocks they are a third of all signatures, and left to the
auditing process they were a sixth of its time while the workers waited.

This module lives in ``storage`` rather than ``consortium.audit`` on purpose: a spawned worker
imports it by name, and importing anything under ``consortium`` loads the whole package (about
0.2 s per worker), whereas this needs only ``events``, ``consensus.certificates``,
``storage.records`` and ``lmdb`` (about 0.06 s).
"""

from __future__ import annotations

import hashlib
import signal
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import lmdb
import msgspec

from consortium.consensus.certificates import qc_problem
from consortium.events.block import CommittedBlock, QuorumCertificate, event_leaves
from consortium.events.codec import encode
from consortium.events.envelope import decode_event, event_id
from consortium.events.errors import MalformedError
from consortium.events.merkle import root_from_leaf_hashes
from consortium.events.signing import Domain, verify_signature
from consortium.storage.records import BLOCK_DECODER, unframe


@dataclass(frozen=True, slots=True)
class ChainKeys:
    """What a certificate is checked against: the chain and its validators' keys."""

    chain_id: str
    validators: tuple[bytes, ...]
    quorum: int


@dataclass(frozen=True, slots=True)
class SignatureVerdict:
    """What checking one block's signatures found; small enough to pickle per height.

    ``certificate_problem`` says why the quorum certificate (hashed as ``certificate``) does not
    hold, or is None. ``problem`` is None when every event decodes and every event signature
    verifies; otherwise it says what failed first, at ``event_index`` (``event_id``), and
    ``signer`` names the key whose signature does not verify. ``signatures`` counts the event
    signatures checked up to that point.
    """

    height: int
    signatures: int
    events_root: bytes
    certificate: bytes
    certificate_problem: str | None
    problem: str | None = None
    event_index: int | None = None
    event_id: bytes | None = None
    signer: bytes | None = None


def certificate_hash(qc: QuorumCertificate) -> bytes:
    return hashlib.sha256(encode(qc)).digest()


def check_block_signatures(
    height: int, committed: CommittedBlock, keys: ChainKeys
) -> SignatureVerdict:
    """Check the block's quorum certificate, and decode every event and verify every event
    signature up to the first that fails (the auditor judges the certificate first)."""
    qc = committed.qc
    verdict = SignatureVerdict(
        height,
        0,
        root_from_leaf_hashes(event_leaves(list(committed.block.events))),
        certificate_hash(qc),
        qc_problem(qc, keys.chain_id, keys.validators, keys.quorum),
    )
    return _event_signatures(verdict, committed.block.events, keys.chain_id)


def _event_signatures(
    verdict: SignatureVerdict, envelopes: Sequence[bytes], chain_id: str
) -> SignatureVerdict:
    signatures = 0
    for index, envelope_bytes in enumerate(envelopes):
        try:
            envelope, _ = decode_event(envelope_bytes)
        except MalformedError as exc:
            return replace(
                verdict,
                signatures=signatures,
                problem=f"event does not decode: {exc}",
                event_index=index,
                event_id=event_id(envelope_bytes),
            )
        for sig in envelope.signatures:
            signatures += 1
            if not verify_signature(
                sig.signer, sig.signature, Domain.EVENT, chain_id, envelope.body
            ):
                return replace(
                    verdict,
                    signatures=signatures,
                    problem="event signature does not verify",
                    event_index=index,
                    event_id=event_id(envelope_bytes),
                    signer=sig.signer,
                )
    return replace(verdict, signatures=signatures)


@dataclass(frozen=True, slots=True)
class _WorkerLog:
    env: lmdb.Environment
    blocks: lmdb._Database
    keys: ChainKeys


_log: _WorkerLog | None = None


def start_worker(path: str, keys: ChainKeys) -> None:
    """Process-pool initializer: open the log read-only once for every task of this worker.

    Ctrl-C is left to the auditing process, which cancels outstanding work and shuts the pool
    down; a worker that died of it would only break the pool and hide the auditor's own report.
    """
    global _log
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    env = lmdb.open(str(Path(path)), readonly=True, lock=False, max_dbs=8, subdir=True)
    _log = _WorkerLog(env, env.open_db(b"blocks", create=False), keys)


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
            committed = _stored_block(bytes(key), record)
            if committed is not None:
                verdicts.append(check_block_signatures(height, committed, _log.keys))
    return verdicts


def _stored_block(key: bytes, record: bytes) -> CommittedBlock | None:
    payload = unframe(b"blocks", key, record)
    if payload is None:
        return None
    try:
        return BLOCK_DECODER.decode(payload).committed
    except msgspec.DecodeError:
        return None
