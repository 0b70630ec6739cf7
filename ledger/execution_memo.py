"""Blocks executed by one validator of this process, offered to the others.

Validators that share a process share one trust domain (as with ``VerificationMemo``): when one
of them has executed a block on a given state and found that it reproduces its header, the
others, holding the same state, may adopt that execution instead of repeating it. The key is the
block hash together with the digest of the state it was executed on, so a validator whose state
differs never adopts another's result. Only executions that matched their header (or that the
proposer built) are offered. Validators in other processes execute everything themselves.
"""

from __future__ import annotations

from consortium.events.bounded_memo import BoundedMemo
from consortium.rules.replay import BlockRun

EXECUTION_MEMO_BLOCKS = 32
"""Blocks kept: every validator of the process checks a block within a few heights of it."""


class ExecutionMemo(BoundedMemo[tuple[bytes, bytes], BlockRun]):
    """(block hash, digest of the state it ran on) -> the run."""

    def __init__(self, capacity: int = EXECUTION_MEMO_BLOCKS) -> None:
        super().__init__(capacity)
