"""Every fault the simulator can inject, named in one place, and the mixes that combine them.

A run draws its faults from one ``Mix``; the summary counts what was injected by ``Fault``. The
budget follows the model: crashes, pauses, network faults, drifting clocks and clock steps within
the drift bound may hit any validator, while Byzantine behaviours, storage faults, whole-log loss
and clock steps beyond the bound together hit at most f validators (the ``canary`` mix alone
breaks that budget, to prove the checker can fail).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Fault(enum.StrEnum):
    # Network: per message, or per episode.
    LOSS = "net.loss"
    DUPLICATE = "net.duplicate"
    DELAY = "net.delay"  # held far beyond normal latency, so later messages overtake it
    PARTITION = "net.partition"  # symmetric split into two groups
    ASYMMETRIC = "net.asymmetric"  # some links cut in one direction only
    ISOLATE_PROPOSER = "net.isolate_proposer"  # the next proposer cut off both ways
    HEAL = "net.heal"
    # Processes.
    CRASH = "proc.crash"  # stop, then restart from the log on disk
    PAUSE = "proc.pause"  # stop processing; messages and timers wait
    CRASH_UNSYNCED = "proc.crash_unsynced"  # power loss right after a commit: back to the last
    # durable point (signing record or receipt), losing the unsynced writes since
    LOG_LOSS = "proc.log_loss"  # the whole log is gone; the validator rebuilds from peers
    # Clocks of honest validators: a rate error, and steps that keep within the precision.
    CLOCK_DRIFT = "clock.drift"  # runs fast or slow all run long
    CLOCK_JUMP = "clock.jump"  # steps forward or back, staying within the drift bound
    # A clock that steps beyond the drift bound makes its validator faulty (at most f).
    CLOCK_JUMP_BEYOND = "clock.jump_beyond"
    # Storage, on a crashed validator's log (at most f validators).
    BIT_FLIP = "disk.bit_flip"
    TORN_WRITE = "disk.torn_write"
    WRONG_KEY = "disk.wrong_key"
    # Byzantine validators (at most f).
    TWINS = "byz.twins"  # two copies of one key: equivocating proposals and double votes
    INVALID_VOTES = "byz.invalid_votes"  # proposes invalid blocks and votes for them
    FORGED_QC = "byz.forged_qc"  # serves blocks with forged or under-signed certificates
    BAD_BLOCK_TIME = "byz.bad_block_time"  # far-future or past clock, so block times
    MALFORMED_FLOOD = "byz.malformed_flood"


class Observed(enum.StrEnum):
    """What the simulator saw happen because of a fault (counted beside the faults)."""

    EQUIVOCATING_PROPOSAL = "seen.equivocating_proposal"
    DOUBLE_VOTE = "seen.double_vote"
    CORRUPTION_DETECTED = "seen.corruption_detected"
    REBUILT_FROM_PEERS = "seen.rebuilt_from_peers"
    UNSYNCED_LOST = "seen.unsynced_heights_lost"  # committed heights a power loss took back
    EVIDENCE_ON_LEDGER = "seen.evidence_on_ledger"


NETWORK_EPISODES = (Fault.PARTITION, Fault.ASYMMETRIC, Fault.ISOLATE_PROPOSER)
STORAGE_FAULTS = (Fault.BIT_FLIP, Fault.TORN_WRITE, Fault.WRONG_KEY)
BYZANTINE = (
    Fault.TWINS,
    Fault.INVALID_VOTES,
    Fault.FORGED_QC,
    Fault.BAD_BLOCK_TIME,
    Fault.MALFORMED_FLOOD,
)


@dataclass(frozen=True, slots=True)
class Mix:
    """Upper bounds of each fault for one run; the run draws its actual rates below them."""

    name: str
    loss: float = 0.0  # message loss probability during the fault phase
    duplicate: float = 0.0
    delay: float = 0.0  # probability of a long delay
    episodes: int = 0  # network partitions of the kinds in NETWORK_EPISODES
    crashes: int = 0
    pauses: int = 0
    unsynced_crashes: int = 0  # crashes losing what was written since the last durable point
    log_losses: int = 0
    storage: int = 0  # storage faults (kinds in STORAGE_FAULTS) on faulty validators
    byzantine: tuple[Fault, ...] = ()  # behaviours the Byzantine validators draw from
    drift: bool = False  # honest clocks run fast or slow (CLOCK_DRIFT)
    clock_jumps: int = 0  # steps within the drift bound, on any validator (CLOCK_JUMP)
    bad_clock_jumps: int = 0  # steps beyond it, on faulty validators (CLOCK_JUMP_BEYOND)
    extra_byzantine: int = 0  # beyond f: only the canary
    workflows: bool = False  # insurance, restitution, rebate and personal data beside payments
    hostile: bool = False  # hostile clients (tests/sim/hostile.py) beside the honest ones
    expect_violation: bool = False


MIXES: dict[str, Mix] = {
    m.name: m
    for m in (
        Mix("network", loss=0.3, duplicate=0.5, delay=0.05, episodes=3),
        Mix("process", loss=0.05, duplicate=0.1, delay=0.01, crashes=4, pauses=3, log_losses=1),
        Mix("storage", loss=0.02, duplicate=0.1, crashes=2, storage=2),
        Mix("byzantine", loss=0.05, duplicate=0.2, delay=0.02, episodes=1, byzantine=BYZANTINE),
        Mix(
            "chaos",
            loss=0.2,
            duplicate=0.3,
            delay=0.03,
            episodes=2,
            crashes=3,
            pauses=2,
            log_losses=1,
            storage=1,
            byzantine=BYZANTINE,
        ),
        Mix("hostile", loss=0.05, duplicate=0.1, delay=0.01, crashes=1, hostile=True),
        Mix(
            "unsynced",
            loss=0.1,
            duplicate=0.1,
            delay=0.02,
            episodes=1,
            crashes=1,
            pauses=1,
            unsynced_crashes=4,
        ),
        Mix(
            "workflows", loss=0.1, duplicate=0.2, delay=0.02, episodes=1, crashes=2, workflows=True
        ),
        Mix(
            "clock",
            loss=0.05,
            duplicate=0.1,
            delay=0.01,
            episodes=1,
            crashes=1,
            drift=True,
            clock_jumps=4,
            bad_clock_jumps=1,
        ),
        Mix("canary", byzantine=(Fault.TWINS,), extra_byzantine=1, expect_violation=True),
    )
}

SWEEP_MIXES = (
    "network",
    "process",
    "storage",
    "byzantine",
    "chaos",
    "hostile",
    "clock",
    "unsynced",
    "workflows",
)
