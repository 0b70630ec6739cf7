"""Consensus parameters shared by every validator of a chain."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConsensusConfig:
    chain_id: str
    validators: tuple[bytes, ...]  # Ed25519 public keys; the index is the validator's id
    timeout_propose_ms: int = 1000
    timeout_vote_ms: int = 500
    timeout_delta_ms: int = 500  # added per failed round, so timeouts grow until rounds succeed
    max_clock_drift_ms: int = 5_000
    sync_retry_ms: int = 250
    status_interval_ms: int = 1_000
    sync_batch_blocks: int = 64

    @property
    def n(self) -> int:
        return len(self.validators)

    @property
    def f(self) -> int:
        return (self.n - 1) // 3

    @property
    def quorum(self) -> int:
        """Votes needed: more than two thirds, i.e. 2f+1 when n = 3f+1."""
        return self.n * 2 // 3 + 1

    def proposer(self, height: int, round_: int) -> int:
        return (height + round_) % self.n

    def timeout_ms(self, base_ms: int, round_: int) -> int:
        return base_ms + round_ * self.timeout_delta_ms
