"""``python -m consortium.bench --overload SECONDS``: an embedded host submitting flat out.

Several host threads submit transfers as fast as ``submit`` returns, for ``SECONDS``, with no
pacing and no limit of their own: the only bound is the library's (the host's submission budget,
then each validator's mempool). Memory is sampled throughout. Afterwards every submission must
have an answer (a receipt, accepted or refused with a typed code), and the chain must still
commit a fresh event. The figures to read: the peak resident memory against the first sample,
the refusals by code, and ``unanswered`` (which must be 0).
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from consortium.actors.messages import Receipt
from consortium.actors.receipts import ReceiptFuture
from consortium.api import Consortium, ParticipantHandle
from consortium.bench.scenarios import identity
from consortium.bench.soak import MemorySample, _memory_mb
from consortium.bench.workload import Progress, bench_genesis
from consortium.config import ConsortiumConfig
from consortium.events.payments import IssueTokens, RegisterParticipant, Transfer

SUBMITTERS = 4
ANSWER_WAIT_S = 120.0


@dataclass(frozen=True, slots=True)
class OverloadResult:
    seconds: float
    submitted: int
    codes: dict[str, int]
    """Receipts by result code (``ok``, ``overloaded``, ...)."""
    unanswered: int
    """Submissions still without a receipt ``ANSWER_WAIT_S`` after the load stopped."""
    live_after: bool
    """A fresh transfer committed after the load."""
    samples: tuple[MemorySample, ...] = field(default=())

    @property
    def peak_rss_mb(self) -> float:
        return max(s.rss_mb for s in self.samples)

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "peak_rss_mb": self.peak_rss_mb}


def overload(
    seconds: float, progress: Progress = lambda _: None, budget: int = 20_000
) -> OverloadResult:
    """``budget``: the host's ``max_pending_submissions``."""
    genesis, keys = bench_genesis(4)
    config = ConsortiumConfig(durable=False, max_pending_submissions=budget)
    with (
        tempfile.TemporaryDirectory(prefix="consortium-overload-") as tmp,
        Consortium(genesis, Path(tmp), keys, config) as c,
    ):
        admin = c.participant(identity("admin"))
        payers = [identity(f"payer-{i}") for i in range(SUBMITTERS)]
        payee = identity("payee")
        for who in (*payers, payee):
            enrol = RegisterParticipant(participant=who.public_key, name=who.name, role="user")
            admin.submit(enrol).result(30).raise_if_rejected()
        for who in payers:
            fund = IssueTokens(token="EUR", to=who.public_key, amount=10**15)
            admin.submit(fund).result(30).raise_if_rejected()
        handles = [c.participant(p) for p in payers]
        tally = _Tally()
        stop = threading.Event()

        def flood(handle: ParticipantHandle) -> None:
            pay = Transfer(token="EUR", to=payee.public_key, amount=1)
            while not stop.is_set():
                tally.watch(handle.submit(pay))

        threads = [threading.Thread(target=flood, args=(h,)) for h in handles]
        samples: list[MemorySample] = []
        started = time.perf_counter()
        for t in threads:
            t.start()
        while (elapsed := time.perf_counter() - started) < seconds:
            samples.append(MemorySample(elapsed, tally.submitted, *_memory_mb()))
            progress(
                f"  {elapsed:5.0f} s  {tally.submitted:,} submitted, "
                f"{tally.submitted - tally.answered:,} waiting  rss {samples[-1].rss_mb:.0f} MB"
            )
            time.sleep(min(1.0, max(0.0, seconds - elapsed)))
        stop.set()
        for t in threads:
            t.join()
        progress(f"  load stopped after {tally.submitted:,} submissions; waiting for receipts")
        deadline = time.perf_counter() + ANSWER_WAIT_S
        while tally.answered < tally.submitted and time.perf_counter() < deadline:
            time.sleep(0.1)
        samples.append(MemorySample(time.perf_counter() - started, tally.submitted, *_memory_mb()))
        fresh = handles[0].submit(Transfer(token="EUR", to=payee.public_key, amount=1))
        live = fresh.result(60).accepted
        submitted, answered, codes = tally.submitted, tally.answered, dict(tally.codes)
    return OverloadResult(seconds, submitted, codes, submitted - answered, live, tuple(samples))


class _Tally:
    """Counts submissions and their outcomes without keeping the futures (millions of them
    would be the harness's memory, not the library's)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.submitted = 0
        self.answered = 0
        self.codes: Counter[str] = Counter()

    def watch(self, future: ReceiptFuture) -> None:
        with self._lock:
            self.submitted += 1
        future.when_resolved(self._answered)

    def _answered(self, outcome: Receipt | BaseException) -> None:
        code = outcome.result.code.value if isinstance(outcome, Receipt) else type(outcome).__name__
        with self._lock:
            self.answered += 1
            self.codes[code] += 1
