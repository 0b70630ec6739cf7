"""Settings of an embedded consortium, with defaults that suit a single machine."""

from __future__ import annotations

from dataclasses import dataclass, field

from consortium.consensus.config import ConsensusConfig
from consortium.ledger.scrubber import ScrubberConfig
from consortium.metrics import parse_address


@dataclass(frozen=True, slots=True)
class ConsortiumConfig:
    durable: bool = True
    """fsync every committed block (LMDB ``sync``); off only for throwaway benchmarks."""
    max_block_events: int = 2000
    """The block size bound: a proposer puts at most this many events in a block."""
    block_time_ms: int = 0
    """The block time bound: a proposer waits up to this long after its height began for a
    full block before proposing what is waiting; 0 proposes at once. At most half of
    ``timeout_propose_ms``."""
    mempool_capacity: int = 20_000
    max_pending_submissions: int = 20_000
    """Submissions of this host's participant handles that may wait for a receipt at once;
    beyond it ``submit`` answers ``overloaded`` before signing (``consortium/admission.py``)."""
    submit_wait_s: float = 0.0
    """How long ``submit`` waits for room under ``max_pending_submissions`` before it answers
    ``overloaded``; 0 answers at once. Waiting blocks the submitting thread."""
    state_cache_rows: int = 50_000
    """Decoded state rows each validator keeps on the heap; the state itself is in its log."""
    intake_records_kept: int = 10_000
    """Records of events refused at intake each validator keeps in its log, for forensics: the
    most recent; older ones are pruned."""
    timeout_propose_ms: int = 1000
    timeout_vote_ms: int = 500
    timeout_delta_ms: int = 500
    max_clock_drift_ms: int = 5_000
    share_verifications: bool = True
    """Validators of this process verify each signature once between them (one trust domain),
    and decode each event once: an event one of them has verified is taken in by the others as
    it decoded it (``ledger/intake_memo.py``). They also expand each changed state row for the
    table digests once between them (``rules/lthash.py``, ``SharedExpansions``). A validator
    alone in its process (a node process) keeps no memo of either: nobody would read it
    (``ledger/process_shares.py``)."""
    share_executions: bool = False
    """Validators of this process holding the same state execute each block once between them
    (not a validator alone in its process).

    Off by default, so that every validator is a full replica that re-executes every block;
    benchmarks of one trust domain turn it on."""
    scrubbing: ScrubberConfig = field(default_factory=ScrubberConfig)
    """How each validator re-reads its log in the background to find damage (``ledger.scrubber``);
    in a node file, the ``[ledger.scrubbing]`` table."""

    metrics: str | None = None
    """``HOST:PORT`` where this process serves Prometheus metrics of its validators at
    ``/metrics`` and their health at ``/health`` (``consortium.metrics``; needs the ``metrics``
    extra); None serves nothing. In a node file, ``metrics`` under ``[node]``."""

    def __post_init__(self) -> None:
        if self.max_block_events < 1:
            raise ValueError(
                f"max_block_events is {self.max_block_events}; a block must hold at least 1 event"
            )
        for name in ("mempool_capacity", "max_pending_submissions", "intake_records_kept"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} is {getattr(self, name)}; it must be at least 1")
        if self.state_cache_rows < 0:
            raise ValueError(f"state_cache_rows is {self.state_cache_rows}; it must be >= 0")
        if not self.submit_wait_s >= 0:  # NaN too
            raise ValueError(f"submit_wait_s is {self.submit_wait_s}; it must be >= 0")
        # The consensus settings are checked, each by its name, where they are defined.
        ConsensusConfig(
            "",
            (),
            timeout_propose_ms=self.timeout_propose_ms,
            timeout_vote_ms=self.timeout_vote_ms,
            timeout_delta_ms=self.timeout_delta_ms,
            max_clock_drift_ms=self.max_clock_drift_ms,
            block_time_ms=self.block_time_ms,
        )
        if self.metrics is not None:
            parse_address(self.metrics)
