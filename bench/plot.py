"""``--plot FILE.png``: throughput against validators and latency against offered load."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from consortium.bench.workload import WorkloadResult


def plot(runs: Sequence[WorkloadResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for mode, sharing in (
        ("in-process", "none"),
        ("in-process", "verify"),
        ("in-process", "verify+exec"),
        ("processes", "none"),
    ):
        saturated = sorted(
            (
                r
                for r in runs
                if r.offered_per_s is None and r.sharing == sharing and r.mode == mode
            ),
            key=lambda r: r.validators,
        )
        if saturated:
            label = f"{mode}, sharing {sharing}"
            xs = [r.validators for r in saturated]
            left.plot(xs, [r.committed_per_s for r in saturated], "o-", label=label)
    sizes = sorted({r.validators for r in runs})
    left.set_xticks(sizes)  # whole validators only, even when one size was run
    left.set_xlim(min(sizes) - 1, max(sizes) + 1)
    left.set_ylim(bottom=0)
    left.legend(loc="best")
    left.set(xlabel="validators", ylabel="committed events/s", title="Throughput at saturation")
    for n in sizes:
        for mode in ("in-process", "processes"):
            paced = sorted(
                (r for r in runs if r.validators == n and r.offered_per_s and r.mode == mode),
                key=lambda r: r.offered_per_s or 0,
            )
            if paced:
                loads = [r.offered_per_s for r in paced]
                name = f"n={n} {mode}"
                right.plot(loads, [r.latency_p50_ms for r in paced], "o-", label=f"{name} p50")
                right.plot(loads, [r.latency_p99_ms for r in paced], "x--", label=f"{name} p99")
    right.set_ylim(bottom=0)
    right.set(
        xlabel="offered events/s", ylabel="commit latency, ms", title="Latency against offered load"
    )
    if right.lines:
        right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
