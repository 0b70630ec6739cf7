"""``python -m bench --soak SECONDS``: a steady offered load, resident memory sampled throughout.

A leak shows as resident memory that keeps rising after the first minute (allocator warm-up);
the report gives the samples and the growth from the end of warm-up to the end.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.scenarios import identity, payments
from bench.workload import Progress, bench_genesis
from consortium.api import Consortium
from consortium.config import ConsortiumConfig


@dataclass(frozen=True, slots=True)
class SoakResult:
    seconds: float
    offered_per_s: float
    events: int
    rss_mb_samples: tuple[float, ...]
    growth_after_warmup_mb: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _rss_mb() -> float:
    """Current (not peak) resident memory of this process."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status; the soak needs Linux")


def soak(seconds: float, offered_per_s: float, progress: Progress = lambda _: None) -> SoakResult:
    genesis, keys = bench_genesis(4)
    samples: list[float] = []
    events = 0
    with (
        tempfile.TemporaryDirectory(prefix="consortium-soak-") as tmp,
        Consortium(genesis, Path(tmp), keys, ConsortiumConfig(durable=False)) as c,
    ):
        stream = payments(c.participant(identity("admin")), c.participant)
        started = time.perf_counter()
        next_sample = started
        pending = []
        while (now := time.perf_counter()) - started < seconds:
            due = int((now - started) * offered_per_s)
            while events < due:
                pending.append(stream(events))
                events += 1
            pending = [f for f in pending if not f.done()]
            if now >= next_sample:
                samples.append(_rss_mb())
                progress(f"  {now - started:6.0f} s  {events} events  rss {samples[-1]:.0f} MB")
                next_sample += max(1.0, seconds / 20)
            time.sleep(0.005)
        for future in pending:
            future.result(60)
        samples.append(_rss_mb())
    warm = samples[min(len(samples) - 1, max(1, len(samples) // 4))]
    return SoakResult(seconds, offered_per_s, events, tuple(samples), samples[-1] - warm)
