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
    """The clock precision: a fresh proposal's block time may be at most this far ahead of a
    voter's clock (the upper bound; docs/consensus.md, "Block time")."""
    message_delay_ms: int = 2_000
    """With the precision, how far behind a voter's clock a fresh proposal's block time may be
    in round 0 (the lower bound); each later round allows ``timeout_delta_ms`` more."""
    sync_retry_ms: int = 250
    status_interval_ms: int = 1_000
    sync_batch_blocks: int = 64
    block_time_ms: int = 0
    """How long a round-0 proposer lets its block fill: it proposes once a full block's events
    are waiting or ``block_time_ms`` after its height began, whichever comes first; 0 proposes
    as soon as one event waits. Larger blocks amortise votes and writes over more events at the
    cost of up to this much latency; at most half of ``timeout_propose_ms``, or peers would
    give up on a proposer that entered the height after them while it waits."""
    double_sign_check_heights: int = 2
    """A validator started without its signing record signs nothing until it has committed this
    many blocks proposed after its start without its signature (docs/consensus.md, rule 11);
    0 turns the check off."""
    reputation_turns: int = 1
    """Round 0 skips a validator that proposed none of the last ``reputation_turns * n``
    committed blocks (it missed that many round-0 turns); 0 is plain round robin."""
    reputation_probation_heights: int = 1000
    """The first n heights of every this many are plain round robin in round 0 too, so a skipped
    validator that came back gets a turn: readmission within this many heights, at the price of
    one propose timeout per this many heights while a validator is down; 0 never (at most n:
    every height is round robin)."""

    def __post_init__(self) -> None:
        # Each bound names its own field; the block time is checked against the propose
        # timeout only once that timeout is known to be sensible.
        for name, least in (
            ("timeout_propose_ms", 1),
            ("timeout_vote_ms", 1),
            ("sync_retry_ms", 1),
            ("status_interval_ms", 1),
            ("sync_batch_blocks", 1),
            ("timeout_delta_ms", 0),
            ("max_clock_drift_ms", 0),
            ("message_delay_ms", 0),
            ("reputation_turns", 0),
            ("reputation_probation_heights", 0),
            ("double_sign_check_heights", 0),
        ):
            value = getattr(self, name)
            if value < least:
                raise ValueError(f"{name} is {value}; it must be at least {least}")
        check_block_time(self.block_time_ms, self.timeout_propose_ms)

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

    @property
    def reputation_window(self) -> int:
        """How many recent committed blocks' proposers round 0 looks at (0: none)."""
        return self.reputation_turns * self.n

    def proposer(self, height: int, round_: int) -> int:
        """Plain round robin: every round >= 1, and round 0 while every validator is active
        (``ProposerSchedule`` picks round 0 from the committed chain)."""
        return (height + round_) % self.n

    def timely(self, time_ms: int, now_ms: int, round_: int) -> bool:
        """Whether a fresh proposal of ``round_`` dated ``time_ms`` is timely at ``now_ms``."""
        earliest = now_ms - self.max_clock_drift_ms - self.timeout_ms(self.message_delay_ms, round_)
        return earliest <= time_ms <= now_ms + self.max_clock_drift_ms

    def timeout_ms(self, base_ms: int, round_: int) -> int:
        return base_ms + round_ * self.timeout_delta_ms


def check_block_time(block_time_ms: int, timeout_propose_ms: int) -> None:
    """Refuse a fill wait that peers would take for a silent proposer. Peers start their propose
    timers when they enter the height, and a proposer that commits later, or restarts, enters
    after them and waits from then: half the timeout is the margin left for that lag."""
    if not 0 <= block_time_ms <= timeout_propose_ms // 2:
        raise ValueError(
            f"block_time_ms is {block_time_ms}; it must be between 0 and half of "
            f"timeout_propose_ms ({timeout_propose_ms // 2}), or peers time out a proposer that "
            "entered the height after them while its block fills"
        )
