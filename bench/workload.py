"""Run a workload on an embedded consortium and measure what a host would see.

Throughput is committed events per second from the first submission to the last receipt;
latency is submit-to-receipt per event. With ``rate`` the events are offered at that pace
(open loop), which is how latency is meant to be read; without it, as fast as backpressure allows.
"""

from __future__ import annotations

import math
import resource
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from consortium.actors.messages import Receipt
from consortium.api import Consortium
from consortium.audit.verify import audit
from consortium.bench.scenarios import SCENARIOS, Stream, identity
from consortium.config import ConsortiumConfig
from consortium.events.genesis import Genesis, GenesisParticipant, GenesisValidator, TokenDefinition
from consortium.events.identity import Identity
from consortium.ledger.node_state import rebuild_state
from consortium.rules.restitution import RESTITUTION_WORKFLOWS
from consortium.rules.rulebook import RULESET
from consortium.storage.log import EventLog

Progress = Callable[[str], None]
MAX_IN_FLIGHT = 8_000

SHARING_LEVELS = ("none", "verify", "verify+exec")
"""What validators of one process share: ``none``, four full replicas that each verify every
signature and execute every block (the setting C describes); ``verify``, one signature check per
process (the embedded default, one trust domain: C1); ``verify+exec``, one execution per block
too."""


@dataclass(frozen=True, slots=True)
class BlockBounds:
    """The harness's block size and block time bounds, as ``ConsortiumConfig`` names them."""

    max_block_events: int = ConsortiumConfig().max_block_events
    block_time_ms: int = ConsortiumConfig().block_time_ms

    def as_ledger(self) -> dict[str, int]:
        """The ``[ledger]`` settings of a node config that set these bounds."""
        return {"max_block_events": self.max_block_events, "block_time_ms": self.block_time_ms}


DEFAULT_BOUNDS = BlockBounds()


def sharing_config(sharing: str, durable: bool, bounds: BlockBounds) -> ConsortiumConfig:
    if sharing not in SHARING_LEVELS:
        raise ValueError(f"sharing {sharing!r} is not one of {', '.join(SHARING_LEVELS)}")
    return ConsortiumConfig(
        durable=durable,
        share_verifications=sharing != "none",
        share_executions=sharing == "verify+exec",
        max_block_events=bounds.max_block_events,
        block_time_ms=bounds.block_time_ms,
    )


@dataclass(frozen=True, slots=True)
class WorkloadResult:
    workload: str
    sharing: str
    """One of ``SHARING_LEVELS``; ``none`` for node processes, which share nothing."""
    validators: int
    durable: bool
    offered_per_s: float | None
    events: int
    accepted: int
    seconds: float
    committed_per_s: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    blocks: int
    replay_events_per_s: float
    audit_events_per_s: float
    bytes_per_event: float
    peak_rss_mb: float
    cpu_us_per_event: float
    """CPU time (user and system) of every process involved, host and validators, while the
    events were driven, per event: beside ``n / verify + 1 / sign``, what a signature-bound
    system would spend, it says where the machine's time went."""
    max_block_events: int
    block_time_ms: int
    mode: str = "in-process"
    """``in-process``: every validator an actor of this process; ``processes``: one
    ``consortium node`` process per validator over ZeroMQ, the host submitting remotely."""
    repeats: tuple[WorkloadResult, ...] = ()
    """With ``--repeat``: the runs whose medians the figures above are."""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


_MEDIAN_FIELDS = (
    "seconds",
    "committed_per_s",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "replay_events_per_s",
    "audit_events_per_s",
    "bytes_per_event",
    "peak_rss_mb",
    "cpu_us_per_event",
)


def median_of(runs: Sequence[WorkloadResult]) -> WorkloadResult:
    """One result for repeated runs of one configuration: each figure's median, the runs kept.

    On a shared machine latency drifts between identical runs by more than most changes move
    it (p50 from 26 to 51 ms at 1,000 events/s on the machine this was written on), so one run
    says little; the median of several, beside their spread, says more."""
    if len(runs) == 1:
        return runs[0]
    medians: dict[str, Any] = {
        name: statistics.median(getattr(r, name) for r in runs) for name in _MEDIAN_FIELDS
    }
    return replace(
        runs[0],
        accepted=min(r.accepted for r in runs),
        blocks=round(statistics.median(r.blocks for r in runs)),
        repeats=tuple(runs),
        **medians,
    )


def bench_genesis(validators: int) -> tuple[Genesis, list[Identity]]:
    keys = [identity(f"validator-{i}") for i in range(validators)]
    genesis = Genesis(
        chain_id="bench",
        genesis_time_ms=1_767_225_600_000,
        validators=tuple(
            GenesisValidator(k.name, f"org-{i}", k.public_key) for i, k in enumerate(keys)
        ),
        participants=(
            GenesisParticipant("admin", "org-0", "org_admin", identity("admin").public_key),
        ),
        tokens=(TokenDefinition("EUR", "org-0"),),
        workflows=RESTITUTION_WORKFLOWS,
    )
    return genesis, keys


def run_workload(
    validators: int,
    events: int,
    durable: bool,
    offered_per_s: float | None = None,
    progress: Progress = lambda _: None,
    sharing: str = "none",
    workload: str = "payments",
    bounds: BlockBounds = DEFAULT_BOUNDS,
) -> WorkloadResult:
    genesis, keys = bench_genesis(validators)
    with tempfile.TemporaryDirectory(prefix="consortium-bench-") as tmp:
        data = Path(tmp)
        with Consortium(genesis, data, keys, sharing_config(sharing, durable, bounds)) as c:
            stream = SCENARIOS[workload](c.participant(identity("admin")), c.participant)
            start_height = c.height()
            cpu_before = own_cpu_s()
            driven = drive(stream, events, offered_per_s, progress)
            cpu_s = own_cpu_s() - cpu_before
            blocks = c.height() - start_height
        return measured(
            workload,
            driven,
            blocks,
            genesis,
            data / "validator-0",
            sharing=sharing,
            durable=durable,
            peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            cpu_s=cpu_s,
            bounds=bounds,
        )


@dataclass(frozen=True, slots=True)
class Drive:
    """What the host saw of one workload: per-event latencies, acceptances, wall time."""

    events: int
    offered_per_s: float | None
    latencies: list[float]
    accepted: int
    seconds: float


def measured(
    workload: str,
    drive: Drive,
    blocks: int,
    genesis: Genesis,
    log_dir: Path,
    *,
    sharing: str,
    durable: bool,
    peak_rss_mb: float,
    cpu_s: float,
    bounds: BlockBounds,
    mode: str = "in-process",
) -> WorkloadResult:
    """The result of a run, with replay, audit and size figures read from one validator's log
    (which must be closed by now)."""
    latencies = sorted(drive.latencies)
    size = sum(f.stat().st_blocks * 512 for f in log_dir.iterdir())
    with EventLog(log_dir, genesis, readonly=True) as log:
        logged = log.stored_block(log.head_height).committed.block.header.log_size
    return WorkloadResult(
        workload=workload,
        sharing=sharing,
        validators=len(genesis.validators),
        durable=durable,
        offered_per_s=drive.offered_per_s,
        events=drive.events,
        accepted=drive.accepted,
        seconds=drive.seconds,
        committed_per_s=drive.events / drive.seconds,
        latency_p50_ms=_percentile(latencies, 0.50),
        latency_p95_ms=_percentile(latencies, 0.95),
        latency_p99_ms=_percentile(latencies, 0.99),
        blocks=blocks,
        replay_events_per_s=_replay_rate(genesis, log_dir),
        audit_events_per_s=audit(log_dir).events_per_s,
        bytes_per_event=size / max(1, logged),
        peak_rss_mb=peak_rss_mb,
        cpu_us_per_event=cpu_s / max(1, drive.events) * 1e6,
        max_block_events=bounds.max_block_events,
        block_time_ms=bounds.block_time_ms,
        mode=mode,
    )


def drive(stream: Stream, events: int, offered_per_s: float | None, progress: Progress) -> Drive:
    """Submit events 0..events-1 of ``stream``, open loop at ``offered_per_s`` or as fast as
    ``MAX_IN_FLIGHT`` allows, and time each until its receipt."""
    latencies: list[float] = []
    accepted = 0
    lock = threading.Lock()
    in_flight = threading.Semaphore(MAX_IN_FLIGHT)
    all_done = threading.Event()
    answered = 0

    def on_receipt(sent: float, receipt: Receipt) -> None:
        nonlocal accepted, answered
        elapsed_ms = (time.perf_counter() - sent) * 1000
        with lock:
            latencies.append(elapsed_ms)
            accepted += receipt.accepted
            answered += 1
            if answered == events:
                all_done.set()
        in_flight.release()

    started = time.perf_counter()
    for i in range(events):
        if offered_per_s:
            delay = started + i / offered_per_s - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        in_flight.acquire()
        sent = time.perf_counter()
        stream(i).add_receipt_callback(partial(on_receipt, sent))
        if i % 5000 == 0 and i:
            progress(f"  submitted {i}/{events}")
    if not all_done.wait(600):
        raise TimeoutError("the benchmark's receipts did not all arrive within 10 minutes")
    return Drive(events, offered_per_s, latencies, accepted, time.perf_counter() - started)


def own_cpu_s() -> float:
    """User and system CPU seconds of this process, all of its threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _replay_rate(genesis: Genesis, path: Path) -> float:
    """Events per second rebuilding every projection from the log, without signature checks."""
    with EventLog(path, genesis, readonly=True) as log:
        events = log.stored_block(log.head_height).committed.block.header.log_size
        started = time.perf_counter()
        rebuild_state(genesis, RULESET, log)
        return events / (time.perf_counter() - started)


def _percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))]
