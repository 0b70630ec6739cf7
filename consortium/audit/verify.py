"""``consortium audit``: check everything a log claims, and name the first thing that fails.

Order of checks per block: the record reads (checksum), heights are consecutive, the block links
to the one before and matches its header record, its quorum certificate holds 2f+1 distinct valid
precommit signatures for it, every event decodes and every signature verifies (on all cores: the
verifications run in a thread pool while the main thread re-executes, PyNaCl releases the GIL),
and re-executing the block reproduces its events root, results, log tree head and every table
digest.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from consensus.certificates import qc_problem
from consensus.config import ConsensusConfig
from consortium.audit.source import BlockRecord, LogSource
from events.block import Block, state_digest
from events.envelope import DecodedEvent, decode_event, event_id
from events.errors import MalformedError
from events.log_tree import LogTree
from events.results import EventResult
from events.signing import Domain, verify_signature
from rules.engine import genesis_state
from rules.replay import BlockRun, header_mismatch, run_block
from rules.rulebook import RULESET
from storage.log import ZERO_HASH

Progress = Callable[[int, int], None]
PREFETCH_BLOCKS = 8


@dataclass(frozen=True, slots=True)
class Divergence:
    """The first thing that does not hold, as precisely as the check can say."""

    height: int
    what: str
    event_index: int | None = None
    event_id: bytes | None = None
    expected: str | None = None
    found: str | None = None

    def describe(self) -> str:
        where = f"height {self.height}"
        if self.event_index is not None:
            where += f", event {self.event_index}"
        if self.event_id is not None:
            where += f" ({self.event_id.hex()})"
        text = f"{where}: {self.what}"
        if self.expected is not None or self.found is not None:
            text += f"\n  expected: {self.expected}\n  found:    {self.found}"
        return text


@dataclass(slots=True)
class AuditReport:
    blocks: int = 0
    events: int = 0
    signatures: int = 0
    quorum_certificates: int = 0
    seconds: float = 0.0
    threads: int = 1
    divergence: Divergence | None = None
    head_state_digest: bytes = b""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.divergence is None

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


@dataclass(frozen=True, slots=True)
class _Checked:
    """Signature verdict for one block's events, computed off the main thread."""

    decoded: list[DecodedEvent] | None
    problem: Divergence | None
    signatures: int


def audit(
    path: Path | str, progress: Progress | None = None, threads: int | None = None
) -> AuditReport:
    started = time.perf_counter()
    threads = threads or os.cpu_count() or 1
    report = AuditReport(threads=threads)
    with LogSource(path) as source, ThreadPoolExecutor(threads) as pool:
        genesis = source.genesis
        config = ConsensusConfig(genesis.chain_id, genesis.validator_keys)
        total = source.block_count()
        state, tree = genesis_state(genesis, RULESET), LogTree()
        prev_hash, prev_time = ZERO_HASH, genesis.genesis_time_ms
        window: deque[tuple[BlockRecord, Future[_Checked] | None]] = deque()
        records = source.records()
        while True:
            while len(window) < PREFETCH_BLOCKS and (record := next(records, None)) is not None:
                stored = record.stored
                check = (
                    pool.submit(_check_signatures, stored.committed.block, genesis.chain_id)
                    if stored is not None
                    else None
                )
                window.append((record, check))
            if not window:
                break
            record, check = window.popleft()
            height = report.blocks + 1
            problem = _structure_problem(record, height, prev_hash, prev_time, config)
            if problem is None and check is not None:
                checked = check.result()
                report.signatures += checked.signatures
                problem = checked.problem
            if problem is None:
                stored = record.stored
                assert stored is not None and check is not None
                block = stored.committed.block
                report.quorum_certificates += 1
                run = run_block(
                    state,
                    RULESET,
                    tree,
                    height,
                    block.header.time_ms,
                    block.events,
                    None,
                    checked.decoded,
                )
                problem = _execution_problem(block, run, stored.results)
                if problem is None:
                    state.adopt(run.execution.overlay, run.execution.hashes)
                    tree = run.log_tree
                    prev_hash, prev_time = block.hash, block.header.time_ms
                    report.events += len(block.events)
            if problem is not None:
                report.divergence = problem
                for _, pending in window:
                    if pending is not None:
                        pending.cancel()
                break
            report.blocks += 1
            if progress is not None:
                progress(report.blocks, total)
        if report.divergence is None and report.blocks < total:
            report.divergence = Divergence(report.blocks + 1, "block records end early")
        report.head_state_digest = state_digest(state.table_digests())
    report.seconds = time.perf_counter() - started
    return report


def _structure_problem(
    record: BlockRecord, height: int, prev_hash: bytes, prev_time: int, config: ConsensusConfig
) -> Divergence | None:
    if record.key_height != height:
        return Divergence(
            height,
            f"block {height} is missing or out of order "
            f"(found a record stored under height {record.key_height})",
        )
    if record.stored is None:
        return Divergence(height, record.problem or "block record unreadable")
    committed = record.stored.committed
    block, qc = committed.block, committed.qc
    header = block.header
    if header.height != height:
        return Divergence(
            height,
            "block header names another height",
            expected=str(height),
            found=str(header.height),
        )
    if header.chain_id != config.chain_id:
        return Divergence(
            height,
            "block belongs to another chain",
            expected=config.chain_id,
            found=header.chain_id,
        )
    if header.prev_hash != prev_hash:
        return Divergence(
            height,
            "block does not link to the previous block",
            expected=prev_hash.hex(),
            found=header.prev_hash.hex(),
        )
    if header.time_ms <= prev_time:
        return Divergence(
            height,
            "block time is not after the previous block's",
            expected=f"> {prev_time}",
            found=str(header.time_ms),
        )
    if record.header_record != header:
        return Divergence(height, "the header record differs from the block's header")
    if qc.height != height or qc.block_hash != block.hash:
        return Divergence(
            height,
            "quorum certificate is for another block",
            expected=block.hash.hex(),
            found=qc.block_hash.hex(),
        )
    problem = qc_problem(qc, config.chain_id, config.validators, config.quorum)
    if problem is not None:
        return Divergence(height, f"quorum certificate invalid: {problem}")
    if header.event_count != len(block.events):
        return Divergence(
            height,
            "event count differs from the header",
            expected=str(header.event_count),
            found=str(len(block.events)),
        )
    return None


def _check_signatures(block: Block, chain_id: str) -> _Checked:
    decoded: list[DecodedEvent] = []
    signatures = 0
    height = block.header.height
    for index, envelope_bytes in enumerate(block.events):
        eid = event_id(envelope_bytes)
        try:
            envelope, event = decode_event(envelope_bytes)
        except MalformedError as exc:
            return _Checked(
                None, Divergence(height, f"event does not decode: {exc}", index, eid), signatures
            )
        for sig in envelope.signatures:
            signatures += 1
            if not verify_signature(
                sig.signer, sig.signature, Domain.EVENT, chain_id, envelope.body
            ):
                return _Checked(
                    None,
                    Divergence(
                        height,
                        "event signature does not verify",
                        index,
                        eid,
                        found=f"signer {sig.signer.hex()}",
                    ),
                    signatures,
                )
        decoded.append(event)
    return _Checked(decoded, None, signatures)


def _execution_problem(
    block: Block, run: BlockRun, stored_results: Sequence[EventResult]
) -> Divergence | None:
    height = block.header.height
    if run.events_root != block.header.events_root:
        return Divergence(
            height,
            "events do not match the header's events root (changed, removed, added or reordered)",
            expected=block.header.events_root.hex(),
            found=run.events_root.hex(),
        )
    if len(stored_results) != len(run.execution.results):
        return Divergence(height, "number of stored results differs from the events")
    for index, (stored, computed) in enumerate(
        zip(stored_results, run.execution.results, strict=True)
    ):
        if stored != computed:
            return Divergence(
                height,
                "stored result differs from re-execution",
                index,
                run.event_ids[index],
                expected=f"{computed.code}: {computed.detail}",
                found=f"{stored.code}: {stored.detail}",
            )
    problem = header_mismatch(block.header, run)
    if problem is None:
        return None
    if problem.startswith("table"):
        name = problem.split("'")[1]
        expected = {d.name: d.digest.hex() for d in block.header.table_digests}.get(name)
        found = {d.name: d.digest.hex() for d in run.execution.table_digests}.get(name)
        return Divergence(
            height,
            f"projection digest of table {name!r} differs from replay",
            expected=expected,
            found=found,
        )
    return Divergence(height, problem)
