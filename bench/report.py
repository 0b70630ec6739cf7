"""The human-readable report: every throughput figure as a ratio of the machine's limits.

C  = cores / (n/V + 1/S): committed events/s if each event were signed once and verified by
     each of n validators and nothing else cost anything (V = one-thread verifications/s,
     S = signatures/s).
C1 = cores / (1/V + 1/S): the same when validators sharing a process verify an event once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from consortium.bench.compare import Comparison
from consortium.bench.limits import RawLimits
from consortium.bench.workload import WorkloadResult


def ideal_cpu_us(raw: RawLimits, verifications_per_event: int) -> float:
    """CPU microseconds per event if signing and verifying were all a validator did."""
    return (verifications_per_event / raw.verify_per_s + 1 / raw.sign_per_s) * 1e6


def signature_bound(raw: RawLimits, verifications_per_event: int) -> float:
    return raw.cores / (ideal_cpu_us(raw, verifications_per_event) / 1e6)


def report_lines(
    raw: RawLimits, runs: Sequence[WorkloadResult], comparison: Comparison | None = None
) -> Iterator[str]:
    yield f"Raw limits ({raw.cores} cores)"
    yield f"  Ed25519 sign/s (1 thread)       {raw.sign_per_s:>12,.0f}"
    yield f"  Ed25519 verify/s (1 thread)     {raw.verify_per_s:>12,.0f}"
    yield f"  Ed25519 verify/s (all cores)    {raw.verify_all_cores_per_s:>12,.0f}"
    yield f"  msgspec envelope+body decode/s  {raw.decode_per_s:>12,.0f}"
    yield f"  LMDB appends/s (batched)        {raw.lmdb_append_per_s:>12,.0f}"
    yield f"  LMDB durable commits/s          {raw.lmdb_durable_commits_per_s:>12,.0f}"
    yield ""
    header = (
        f"{'workload':<12} {'n':>3} {'mode':>10} {'sharing':>11} "
        f"{'offered/s':>10} {'committed/s':>12} "
        f"{'/C':>6} {'/C1':>6} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'ev/block':>9} {'replay ev/s':>12} "
        f"{'audit ev/s':>11} {'/Vall':>6} {'B/event':>8} {'RSS MB':>7} {'CPU µs/ev':>10}"
    )
    yield header
    for r in runs:
        c = signature_bound(raw, r.validators)
        c1 = signature_bound(raw, 1)
        offered = "max" if r.offered_per_s is None else f"{r.offered_per_s:,.0f}"
        yield (
            f"{r.workload:<12} {r.validators:>3} {r.mode:>10} {r.sharing:>11} "
            f"{offered:>10} {r.committed_per_s:>12,.0f} "
            f"{r.committed_per_s / c:>6.2f} {r.committed_per_s / c1:>6.2f} "
            f"{r.latency_p50_ms:>8.1f} {r.latency_p95_ms:>8.1f} {r.latency_p99_ms:>8.1f} "
            f"{r.events / max(1, r.blocks):>9.0f} {r.replay_events_per_s:>12,.0f} "
            f"{r.audit_events_per_s:>11,.0f} "
            f"{r.audit_events_per_s / raw.verify_all_cores_per_s:>6.2f} "
            f"{r.bytes_per_event:>8.0f} {r.peak_rss_mb:>7.0f} {r.cpu_us_per_event:>10.0f}"
        )
    yield from _spread_lines(runs)
    if runs:
        yield ""
        c4, c1 = signature_bound(raw, 4), signature_bound(raw, 1)
        yield f"C (n=4) = {c4:,.0f} events/s; C1 = {c1:,.0f} events/s"
        yield "(durable)" if runs[0].durable else "(no fsync)"
        wait = runs[0].block_time_ms
        yield (
            f"blocks: at most {runs[0].max_block_events:,} events; "
            + (f"a proposer waits up to {wait} ms for a full block" if wait else "proposed at once")
        )
        yield "sharing: none = every validator verifies every signature and executes every block"
        yield "      (full replicas: read /C); verify = one signature check per process (the"
        yield "      embedded default, one trust domain: read /C1); verify+exec = one execution"
        yield "      per block too"
        yield "workload: the business process driven (bench/scenarios.py); C counts one signature"
        yield "      per event, so rebate purchases (two signatures each) sit lower against it"
        yield (
            "CPU µs/ev: CPU time of the host and every validator per event; signatures alone "
            f"take {ideal_cpu_us(raw, 4):.0f} µs"
        )
        yield "      at n=4 (n verifications and one signing on one thread)"
        yield "mode: in-process = validators are actors of one process; processes = one"
        yield "      'consortium node' process per validator over ZeroMQ/CurveZMQ on 127.0.0.1, the"
        yield "      host submitting through RemoteConsortium (RSS MB: the largest node's peak)"
    if comparison is not None:
        yield from _comparison_lines(comparison)


def _comparison_lines(c: Comparison) -> Iterator[str]:
    """The same workload appended and replayed by eventsourcing (SQLite) and by consortium."""
    yield ""
    yield f"Against eventsourcing (SQLite), {c.events} events, {c.batch} per transaction:"
    yield (
        f"  durable append/s   eventsourcing {c.eventsourcing_append_per_s:>10,.0f}   "
        f"consortium {c.consortium_append_per_s:>10,.0f}   "
        f"x{c.consortium_append_per_s / c.eventsourcing_append_per_s:.2f}"
    )
    yield (
        f"  replay events/s    eventsourcing {c.eventsourcing_replay_per_s:>10,.0f}   "
        f"consortium {c.consortium_replay_per_s:>10,.0f}   "
        f"x{c.consortium_replay_per_s / c.eventsourcing_replay_per_s:.2f} (median of "
        f"{len(c.replay_ratios)} in turn, x{min(c.replay_ratios):.2f}-"
        f"x{max(c.replay_ratios):.2f})"
    )
    yield (
        f"  replay per CPU s   eventsourcing {c.eventsourcing_replay_cpu_per_s:>10,.0f}   "
        f"consortium {c.consortium_replay_cpu_per_s:>10,.0f}   "
        f"x{c.consortium_replay_cpu_per_s / c.eventsourcing_replay_cpu_per_s:.2f}"
    )


def _spread_lines(runs: Sequence[WorkloadResult]) -> Iterator[str]:
    """With ``--repeat``, the figures above are medians; here is how far the runs were apart."""
    repeated = [r for r in runs if r.repeats]
    if not repeated:
        return
    yield ""
    yield "Spread of the repeated runs (min to max; the table shows each figure's median):"
    for r in repeated:
        offered = "max" if r.offered_per_s is None else f"{r.offered_per_s:,.0f}/s"
        yield (
            f"  {r.workload} n={r.validators} {r.mode} {r.sharing} {offered}, "
            f"{len(r.repeats)} runs: committed/s {_span(r.repeats, 'committed_per_s')}; "
            f"p50 ms {_span(r.repeats, 'latency_p50_ms')}; "
            f"p99 ms {_span(r.repeats, 'latency_p99_ms')}"
        )


def _span(runs: Sequence[WorkloadResult], field: str) -> str:
    values = [getattr(run, field) for run in runs]
    return f"{min(values):,.1f} to {max(values):,.1f}"
