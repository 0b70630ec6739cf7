"""``consortium audit``: check everything a log claims, and name the first thing that fails.

Order of checks per block: the record reads (checksum), heights are consecutive, the block links
to the one before and matches its header record, its quorum certificate holds 2f+1 distinct valid
precommit signatures for it, every event decodes and every signature verifies, and re-executing
the block reproduces its events root, results, log tree head and every table digest. After the
walk, every other database is accounted for (``audit.stored``): the id index entry of every
event, the stored state's rows and table records against the replayed state at the head, the
meta records and counts, and no record under a key no log writes; those findings are all
listed, not only the first.

Signatures, most of the cost, are verified (certificates and events) on all cores by worker
processes while this process checks structure and re-executes. Processes, not threads: PyNaCl
releases the GIL while it verifies, but a verifying thread must take the GIL back after every
signature, and with the main thread busy re-executing Python it waits a switch interval (5 ms)
for it each time, so threads reached less than half the machine's verify rate. Each worker task
is a range of heights sized by the events the header records claim (``TASK_EVENTS``); the worker
reads those blocks from the log itself (read-only; LMDB serves readers in any number of
processes), so only heights go out and one small verdict per height comes back
(``storage.signature_check``). The verdict carries the events root and certificate hash of the
bytes it verified, held against the block this process replays. At most ``TASKS_PER_WORKER``
tasks per worker are outstanding, so memory stays bounded on any log, and the first divergence
cancels the rest. A height's verdict is always judged before it is re-executed, so the first
failure is named exactly as by a sequential check. Logs below ``INLINE_BELOW_EVENTS`` events, or
audits with one worker, verify in this process: starting worker processes would cost more than
it saves.

Workers are spawned, never forked, because the auditing process may be a host running actor
threads. As with any spawned process, a script that calls ``audit`` must do so under
``if __name__ == "__main__":``.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from consortium.audit.source import BlockRecord, LogSource
from consortium.audit.stored import (
    Findings,
    IdIndexCheck,
    database_findings,
    header_findings,
    intake_findings,
    meta_findings,
    signed_findings,
    state_findings,
)
from consortium.consensus.config import ConsensusConfig
from consortium.events.block import Block, CommittedBlock, event_leaves, state_digest
from consortium.events.log_tree import LogTree
from consortium.events.merkle import root_from_leaf_hashes
from consortium.events.results import EventResult
from consortium.rules.engine import genesis_state
from consortium.rules.replay import BlockRun, header_mismatch, run_block
from consortium.rules.rulebook import RULESET
from consortium.rules.state import State
from consortium.storage.log import ZERO_HASH
from consortium.storage.signature_check import (
    ChainKeys,
    SignatureVerdict,
    certificate_hash,
    check_block_signatures,
    check_heights,
    start_worker,
)

Progress = Callable[[int, int], None]

# Tasks are sized in events, not blocks: a busy log has blocks of up to 2,000 events, so a task
# of 16 blocks would leave a 20,000-event log one task. On 2 cores, 256 to 4,096 events a task
# measured alike (within noise) on logs of 2,000- and ~150-event blocks; 1,024 sits between.
TASK_EVENTS = 1024  # events (as header records claim) per worker task, at least one block
TASK_BLOCKS = 64  # and at most this many blocks, so that a task of tiny blocks stays short
TASKS_PER_WORKER = 2  # outstanding tasks per worker: one running, one queued behind it
# Starting a worker costs ~0.1 s of CPU; with 2 workers on 2 cores the break-even is ~4,000 events.
INLINE_BELOW_EVENTS = 4000


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
    """What an audit checked. ``workers`` is the number of processes that verified signatures:
    1 means this process did, inline."""

    blocks: int = 0
    events: int = 0
    signatures: int = 0
    quorum_certificates: int = 0
    seconds: float = 0.0
    workers: int = 1
    divergence: Divergence | None = None
    head_state_digest: bytes = b""
    notes: list[str] = field(default_factory=list)
    findings: Findings = field(default_factory=Findings)
    """What does not hold in the databases beside the blocks (ids, state, meta, ...)."""

    @property
    def ok(self) -> bool:
        return self.divergence is None and not self.findings

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def threads(self) -> int:
        """The name ``workers`` had when signatures were verified by threads."""
        return self.workers


def audit(
    path: Path | str,
    progress: Progress | None = None,
    workers: int | None = None,
    *,
    threads: int | None = None,
) -> AuditReport:
    """Audit the log in ``path``. ``workers`` (formerly ``threads``, still accepted) is how many
    processes verify signatures; the default is one per core."""
    started = time.perf_counter()
    wanted = workers if workers is not None else threads
    with LogSource(path) as source:
        count = _worker_count(source, wanted or os.cpu_count() or 1)
        with _Verdicts(source, count) as verdicts:
            report = _audit(source, verdicts, progress)
    report.seconds = time.perf_counter() - started
    return report


def _worker_count(source: LogSource, wanted: int) -> int:
    """``wanted``, or 1 (verify inline) when the log is too small to repay starting processes.
    A log whose size cannot be told is taken to be large."""
    claimed = source.claimed_events()
    if wanted <= 1 or (claimed is not None and claimed < INLINE_BELOW_EVENTS):
        return 1
    return wanted


class _Verdicts:
    """Signature verdicts by height: computed ahead by worker processes when ``workers`` > 1,
    otherwise (and for any height no worker could read) here, on demand."""

    def __init__(self, source: LogSource, workers: int) -> None:
        self.workers = workers
        config = ConsensusConfig(source.genesis.chain_id, source.genesis.validator_keys)
        self._keys = ChainKeys(config.chain_id, config.validators, config.quorum)
        self._ready: dict[int, SignatureVerdict] = {}
        self._pending: deque[tuple[int, Future[list[SignatureVerdict]]]] = deque()
        self._pool: ProcessPoolExecutor | None = None
        self._ranges: Iterator[tuple[int, int]] = iter(())
        if workers > 1:
            self._pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=start_worker,
                initargs=(str(source.path), self._keys),
            )
            self._ranges = task_ranges(source.claimed_event_counts(), TASK_EVENTS, TASK_BLOCKS)
            self._submit()

    def verdict(self, height: int, committed: CommittedBlock) -> SignatureVerdict:
        """The verdict on ``committed``, stored at ``height``: a worker's if one read it."""
        while height not in self._ready and self._pending and self._pending[0][0] <= height:
            _, task = self._pending.popleft()
            self._ready.update((v.height, v) for v in task.result())
            self._submit()
        verdict = self._ready.pop(height, None)
        if verdict is not None:
            return verdict
        return check_block_signatures(height, committed, self._keys)

    def _submit(self) -> None:
        assert self._pool is not None
        while len(self._pending) < self.workers * TASKS_PER_WORKER:
            span = next(self._ranges, None)
            if span is None:
                return
            self._pending.append((span[0], self._pool.submit(check_heights, *span)))

    def __enter__(self) -> _Verdicts:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Cancel what no one will read (after a divergence) and stop the workers."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def task_ranges(
    claimed_counts: Iterable[tuple[int, int]], events: int, blocks: int
) -> Iterator[tuple[int, int]]:
    """Consecutive height ranges ``(start, stop)`` from height 1, each of about ``events``
    events (a block is never split) and at most ``blocks`` blocks, from each height's claimed
    event count. A claim that lies only makes a task bigger or smaller, never a check weaker."""
    start = stop = 1
    load = 0
    for height, count in claimed_counts:
        stop, load = height + 1, load + count
        if load >= events or stop - start >= blocks:
            yield start, stop
            start, load = stop, 0
    if stop > start:
        yield start, stop


@dataclass(slots=True)
class _Chain:
    """What the next block must build on: state, log tree, previous hash and time."""

    state: State
    tree: LogTree
    prev_hash: bytes
    prev_time: int


def _audit(source: LogSource, verdicts: _Verdicts, progress: Progress | None) -> AuditReport:
    genesis = source.genesis
    total = source.block_count()
    chain = _Chain(genesis_state(genesis, RULESET), LogTree(), ZERO_HASH, genesis.genesis_time_ms)
    report = AuditReport(workers=verdicts.workers)
    ids = IdIndexCheck(source, report.findings)
    for record in source.records():
        problem = _block_problem(
            record, report.blocks + 1, chain, genesis.chain_id, verdicts, report
        )
        if problem is not None:
            report.divergence = problem
            break
        report.blocks += 1
        assert record.stored is not None
        ids.block(report.blocks, record.stored.committed.block)
        if progress is not None:
            progress(report.blocks, total)
    if report.divergence is None and report.blocks < total:
        report.divergence = Divergence(report.blocks + 1, "block records end early")
    _check_databases(source, report, ids, chain.state)
    report.head_state_digest = state_digest(chain.state.table_digests())
    return report


def _check_databases(
    source: LogSource, report: AuditReport, ids: IdIndexCheck, state: State
) -> None:
    """Everything beside the blocks. The id index and the stored state are judged only when
    the walk reached the head: before it, the replayed state is not the one stored."""
    findings, head = report.findings, source.block_count()
    database_findings(source, findings)
    header_findings(source, findings)
    meta_findings(source, head, findings)
    intake_findings(source, findings)
    signed_findings(source, head, findings)
    if report.divergence is None:
        ids.finish()
        state_findings(source, state, findings)


def _block_problem(
    record: BlockRecord,
    height: int,
    chain: _Chain,
    chain_id: str,
    verdicts: _Verdicts,
    report: AuditReport,
) -> Divergence | None:
    """Every check of one block, in order; on success ``chain`` moves on to it."""
    problem = _structure_problem(record, height, chain.prev_hash, chain.prev_time, chain_id)
    if problem is not None:
        return problem
    stored = record.stored
    assert stored is not None
    committed = stored.committed
    block = committed.block
    leaves = event_leaves(block.events)
    events_root = root_from_leaf_hashes(leaves)
    verdict = verdicts.verdict(height, committed)
    report.signatures += verdict.signatures
    problem = _verdict_problem(verdict, committed, events_root)
    if problem is not None:
        return problem
    report.quorum_certificates += 1
    header = block.header
    run = run_block(
        chain.state,
        RULESET,
        chain.tree,
        height,
        header.time_ms,
        block.events,
        leaves=leaves,
        events_root=events_root,
    )
    problem = _execution_problem(block, run, stored.results)
    if problem is not None:
        return problem
    chain.state.adopt(run.execution.overlay, run.execution.hashes)
    chain.tree, chain.prev_hash, chain.prev_time = run.log_tree, block.hash, header.time_ms
    report.events += len(block.events)
    return None


def _verdict_problem(
    verdict: SignatureVerdict, committed: CommittedBlock, replayed_root: bytes
) -> Divergence | None:
    """The signature checks, in the audit's order: certificate, event count, events."""
    height = verdict.height
    if verdict.events_root != replayed_root:
        return Divergence(
            height,
            "the events whose signatures were checked are not the events replayed "
            "(did the log change during the audit?)",
            expected=replayed_root.hex(),
            found=verdict.events_root.hex(),
        )
    if verdict.certificate != certificate_hash(committed.qc):
        return Divergence(
            height,
            "the certificate whose signatures were checked is not the one read "
            "(did the log change during the audit?)",
        )
    if verdict.certificate_problem is not None:
        return Divergence(height, f"quorum certificate invalid: {verdict.certificate_problem}")
    events, claimed = len(committed.block.events), committed.block.header.event_count
    if claimed != events:
        return Divergence(
            height, "event count differs from the header", expected=str(claimed), found=str(events)
        )
    if verdict.problem is None:
        return None
    return Divergence(
        verdict.height,
        verdict.problem,
        verdict.event_index,
        verdict.event_id,
        found=f"signer {verdict.signer.hex()}" if verdict.signer is not None else None,
    )


def _structure_problem(
    record: BlockRecord, height: int, prev_hash: bytes, prev_time: int, chain_id: str
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
    if header.chain_id != chain_id:
        return Divergence(
            height,
            "block belongs to another chain",
            expected=chain_id,
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
    if record.header_record is None:
        return Divergence(
            height, "the header record is missing, fails its checksum or is no header"
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
    return None


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
