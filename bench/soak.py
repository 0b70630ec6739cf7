"""``python -m consortium.bench --soak SECONDS``: a steady offered load, memory sampled throughout.

The validators' tables live in their LMDB files, so the heap should stop growing once the row
caches, queues and allocator have warmed up; each validator's log and state are memory-mapped,
so their pages count as resident too (file-backed, which the kernel can drop). The report
separates the two and gives the heap's growth per event after warm-up, beside the rows the
tables hold at the end.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from consortium.api import Consortium
from consortium.bench.scenarios import identity, payments
from consortium.bench.workload import Progress, bench_genesis
from consortium.config import ConsortiumConfig


@dataclass(frozen=True, slots=True)
class MemorySample:
    """Resident memory split as Linux reports it: ``anon_mb`` is the heap (projections, queues,
    caches); ``file_mb`` is pages of the memory-mapped LMDB logs, which the kernel can drop."""

    seconds: float
    events: int
    rss_mb: float
    anon_mb: float
    file_mb: float


@dataclass(frozen=True, slots=True)
class SoakResult:
    seconds: float
    offered_per_s: float
    events: int
    samples: tuple[MemorySample, ...]
    state_rows: int
    """Rows in all validators' tables at the end (on disk, not on the heap)."""

    @property
    def rss_mb_samples(self) -> tuple[float, ...]:
        return tuple(s.rss_mb for s in self.samples)

    @property
    def _warm(self) -> MemorySample:
        """The sample that ends warm-up (allocator and caches filling): a quarter of the way."""
        return self.samples[min(len(self.samples) - 1, max(1, len(self.samples) // 4))]

    @property
    def growth_after_warmup_mb(self) -> float:
        return self.samples[-1].rss_mb - self._warm.rss_mb

    @property
    def heap_bytes_per_event(self) -> float:
        """Heap growth after warm-up per event committed after warm-up."""
        events = self.samples[-1].events - self._warm.events
        return (self.samples[-1].anon_mb - self._warm.anon_mb) * 2**20 / max(1, events)

    @property
    def mapped_bytes_per_event(self) -> float:
        events = self.samples[-1].events - self._warm.events
        return (self.samples[-1].file_mb - self._warm.file_mb) * 2**20 / max(1, events)

    def as_dict(self) -> dict[str, object]:
        return {
            **asdict(self),
            "growth_after_warmup_mb": self.growth_after_warmup_mb,
            "heap_bytes_per_event": self.heap_bytes_per_event,
            "mapped_bytes_per_event": self.mapped_bytes_per_event,
        }


def _memory_mb() -> tuple[float, float, float]:
    """Current (not peak) resident memory of this process: total, anonymous, file-backed."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile"):
            fields[name] = int(value.split()[0]) / 1024
    if len(fields) < 3:
        raise RuntimeError("no VmRSS/RssAnon/RssFile in /proc/self/status; the soak needs Linux")
    return fields["VmRSS"], fields["RssAnon"], fields["RssFile"]


def soak(seconds: float, offered_per_s: float, progress: Progress = lambda _: None) -> SoakResult:
    genesis, keys = bench_genesis(4)
    samples: list[MemorySample] = []
    events = 0
    with (
        tempfile.TemporaryDirectory(prefix="consortium-soak-") as tmp,
        Consortium(genesis, Path(tmp), keys, ConsortiumConfig(durable=False)) as c,
    ):
        stream = payments(c.participant(identity("admin")), c.participant)
        started = time.perf_counter()
        next_sample = started

        def sample(now: float) -> None:
            samples.append(MemorySample(now - started, events, *_memory_mb()))
            last = samples[-1]
            progress(
                f"  {last.seconds:6.0f} s  {events} events  rss {last.rss_mb:.0f} MB "
                f"(heap {last.anon_mb:.0f}, mapped log {last.file_mb:.0f})"
            )

        pending = []
        while (now := time.perf_counter()) - started < seconds:
            due = int((now - started) * offered_per_s)
            while events < due:
                pending.append(stream(events))
                events += 1
            pending = [f for f in pending if not f.done()]
            if now >= next_sample:
                sample(now)
                next_sample += max(1.0, seconds / 20)
            time.sleep(0.005)
        for future in pending:
            future.result(60)
        sample(time.perf_counter())
        rows = sum(c.inspect(lambda node: node.state.row_count(), i) for i in range(c.size))
    return SoakResult(seconds, offered_per_s, events, tuple(samples), rows)
