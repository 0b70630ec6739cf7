"""``--plot FILE.png``: throughput against validators and latency against offered load.

Readable at a glance: the title carries the run's parameters, the throughput panel the
signature bounds C(n) and C1 that its points are ratios of, and the latency panel appears only
when ``--rates`` gave offered loads to draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from consortium.bench.limits import RawLimits
from consortium.bench.report import signature_bound
from consortium.bench.workload import WorkloadResult

_SATURATED_SERIES = (
    ("in-process", "none"),
    ("in-process", "verify"),
    ("in-process", "verify+exec"),
    ("processes", "none"),
)


def plot(runs: Sequence[WorkloadResult], raw: RawLimits, path: Path) -> list[str]:
    """Write the figure to ``path``; the titles of the panels drawn, for the caller to report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paced = [r for r in runs if r.offered_per_s]
    panels = 2 if paced else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels + 0.5, 4.4), squeeze=False)
    _throughput(axes[0][0], runs, raw)
    if paced:
        _latency(axes[0][1], paced)
    fig.suptitle(_title(runs, raw), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return [str(axis.get_title()) for axis in axes[0]]


def _title(runs: Sequence[WorkloadResult], raw: RawLimits) -> str:
    if not runs:
        return f"Consortium benchmark ({raw.cores} cores): no runs"
    first = runs[0]
    workloads = ", ".join(sorted({r.workload for r in runs}))
    wait = f"{first.block_time_ms} ms block wait" if first.block_time_ms else "no block wait"
    return (
        f"Consortium benchmark: {workloads}; {first.events:,} events per run; "
        f"{'durable' if first.durable else 'no fsync'}; blocks of at most "
        f"{first.max_block_events:,} events, {wait}; {raw.cores} cores"
    )


def _throughput(axis: Any, runs: Sequence[WorkloadResult], raw: RawLimits) -> None:
    for mode, sharing in _SATURATED_SERIES:
        saturated = sorted(
            (
                r
                for r in runs
                if r.offered_per_s is None and r.sharing == sharing and r.mode == mode
            ),
            key=lambda r: r.validators,
        )
        if saturated:
            xs = [r.validators for r in saturated]
            ys = [r.committed_per_s for r in saturated]
            axis.plot(xs, ys, "o-", label=f"{mode}, sharing {sharing}")
    sizes = sorted({r.validators for r in runs}) or [4]
    span = range(min(sizes) - 1, max(sizes) + 2)
    bound_xs = [n for n in span if n >= 1]
    axis.plot(bound_xs, [signature_bound(raw, n) for n in bound_xs], "k--", label="C(n)")
    axis.axhline(signature_bound(raw, 1), color="grey", linestyle=":", label="C1")
    axis.set_xticks(sizes)  # whole validators only, even when one size was run
    axis.set_xlim(min(sizes) - 1, max(sizes) + 1)
    axis.set_ylim(bottom=0)
    axis.legend(loc="best", fontsize=8)
    axis.set(xlabel="validators", ylabel="committed events/s", title="Throughput at saturation")


def _latency(axis: Any, paced: Sequence[WorkloadResult]) -> None:
    for n in sorted({r.validators for r in paced}):
        for mode in ("in-process", "processes"):
            series = sorted(
                (r for r in paced if r.validators == n and r.mode == mode),
                key=lambda r: r.offered_per_s or 0,
            )
            if series:
                loads = [r.offered_per_s for r in series]
                name = f"n={n} {mode}"
                axis.plot(loads, [r.latency_p50_ms for r in series], "o-", label=f"{name} p50")
                axis.plot(loads, [r.latency_p99_ms for r in series], "x--", label=f"{name} p99")
    axis.set_ylim(bottom=0)
    axis.legend(fontsize=8)
    axis.set(
        xlabel="offered events/s", ylabel="commit latency, ms", title="Latency against offered load"
    )
