"""The invariants, checked as the run goes (on every commit) and at its end (convergence).

The canonical chain is what honest validators committed; Byzantine endpoints are watched only
for what they make honest ones do. Each violation is kept with enough detail to debug the seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from consortium.consensus.certificates import qc_problem
from consortium.consensus.config import ConsensusConfig
from consortium.events.block import Block
from consortium.ledger.node import CommitRecord


@dataclass(frozen=True, slots=True)
class Violation:
    kind: str
    detail: str
    at_ms: int


@dataclass(slots=True)
class Checker:
    config: ConsensusConfig
    genesis_time_ms: int
    violations: list[Violation] = field(default_factory=list)
    chain: dict[int, Block] = field(default_factory=dict)
    acknowledged: dict[bytes, int] = field(default_factory=dict)  # event id -> height receipted
    commits: int = 0

    def violation(self, kind: str, detail: str, now_ms: int) -> None:
        self.violations.append(Violation(kind, detail, now_ms))

    def on_honest_commit(
        self, who: str, record: CommitRecord, now_ms: int, latest_honest_clock_ms: int
    ) -> None:
        """Agreement, linkage, certificates and block time, for one honest commit."""
        committed = record.committed
        block = committed.block
        height = block.header.height
        self.commits += 1
        known = self.chain.get(height)
        if known is not None:
            if known.hash != block.hash:
                self.violation(
                    "agreement",
                    f"{who} committed {block.hash.hex()[:12]} at height {height}, another "
                    f"honest validator {known.hash.hex()[:12]}",
                    now_ms,
                )
            return
        self.chain[height] = block
        problem = qc_problem(
            committed.qc, self.config.chain_id, self.config.validators, self.config.quorum
        )
        if problem is None and committed.qc.block_hash != block.hash:
            problem = "certificate is for another block"
        if problem is not None:
            self.violation("certificate", f"{who} height {height}: {problem}", now_ms)
        previous = self.chain.get(height - 1)
        if previous is not None and block.header.prev_hash != previous.hash:
            self.violation("linkage", f"height {height} does not link to {height - 1}", now_ms)
        previous_time = previous.header.time_ms if previous is not None else self.genesis_time_ms
        if block.header.time_ms <= previous_time:
            self.violation("block time", f"height {height} is not after its predecessor", now_ms)
        if block.header.time_ms > latest_honest_clock_ms + self.config.max_clock_drift_ms:
            self.violation(
                "block time",
                f"height {height} has time {block.header.time_ms}, beyond every honest clock "
                f"({latest_honest_clock_ms}) plus the allowed drift",
                now_ms,
            )

    def on_receipt(self, eid: bytes, height: int) -> None:
        self.acknowledged.setdefault(eid, height)
