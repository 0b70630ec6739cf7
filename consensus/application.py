"""What consensus needs from the validator it runs in: build, check, commit and read blocks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from consortium.events.block import Block, CommittedBlock


@dataclass(frozen=True, slots=True)
class Head:
    """The last committed block: height 0 and an all-zero hash before the first block."""

    height: int
    block_hash: bytes
    time_ms: int


class Application(Protocol):
    def head(self) -> Head: ...

    def build_block(
        self, height: int, round_: int, proposer: int, time_ms: int, allow_empty: bool
    ) -> Block | None:
        """A block of pending events executed on the head state; None if there is nothing to do."""

    def check_block(self, block: Block) -> str | None:
        """Why ``block`` may not follow the head (bad events, digests, links), or None if it may.

        Checking executes the block; the application keeps that execution for ``commit``. The
        core checks a proposal once per height and keeps the verdict; it checks a block again at
        that height only when the block arrives with a quorum certificate. An application that
        cannot execute a block (``ExecutionFault``) refuses it the first time and raises the
        second: the chain went on where this validator cannot follow.
        """

    def commit(self, committed: CommittedBlock) -> None:
        """Persist and apply a block that ``check_block`` accepted; it becomes the head."""

    def committed_blocks(self, from_height: int, limit: int) -> list[CommittedBlock]: ...

    def has_pending_events(self) -> bool: ...

    def has_full_block(self) -> bool:
        """Whether the pending events already fill the largest block ``build_block`` makes."""

    def next_due_ms(self) -> int | None:
        """The earliest ledger time at which the committed state has something falling due (a
        rebate, an automatic void), or None: once it has passed, a round-0 proposer proposes a
        block even with no events, so deadlines do not wait for traffic."""
