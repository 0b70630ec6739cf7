"""``consortium replay``: the projections as they stood at a height, or at a ledger time.

Signatures are not checked (that is ``consortium audit``), but the replay is held against the
headers: every block's events, results and log tree head, and the table digests at least at the
height reached (``replay_blocks`` with ``SETTLE_ROWS``), so the projections printed are the ones
the validators committed to there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from consortium.audit.source import LogSource
from consortium.events.block import Block
from consortium.events.errors import ConsortiumError
from consortium.events.log_tree import LogTree
from consortium.rules.engine import genesis_state
from consortium.rules.lane_worker import lane_worker_for
from consortium.rules.replay import SETTLE_ROWS, replay_blocks
from consortium.rules.rulebook import RULESET
from consortium.rules.state import State

Progress = Callable[[int, int], None]


class ReplayError(ConsortiumError):
    """The log cannot be replayed to the point asked: a block is unreadable or does not
    reproduce its header."""


def state_as_of(
    path: Path | str,
    height: int | None = None,
    time_ms: int | None = None,
    progress: Progress | None = None,
) -> tuple[State, int]:
    """Re-execute blocks up to ``height`` or to the last block whose time is at most
    ``time_ms``; returns the state and the height reached."""
    with LogSource(path) as source:
        total = source.block_count()
        total = total if height is None else min(height, total)
        state = genesis_state(source.genesis, RULESET)
        reached = 0

        def blocks() -> Iterator[Block]:
            nonlocal reached
            for record in source.records():
                if record.stored is None:
                    raise ReplayError(
                        f"block {record.key_height} is unreadable: {record.problem}; run "
                        f"`consortium audit {path}` for a full report"
                    )
                block = record.stored.committed.block
                header = block.header
                if height is not None and header.height > height:
                    return
                if time_ms is not None and header.time_ms > time_ms:
                    return
                yield block
                reached = header.height
                if progress is not None:
                    progress(reached, total)

        with lane_worker_for(source.claimed_events()) as lanes:
            replay = replay_blocks(state, RULESET, LogTree(), blocks(), SETTLE_ROWS, lanes)
    if replay.divergence is not None:
        raise ReplayError(
            f"block {replay.divergence.height} does not reproduce its header "
            f"({replay.divergence.what}); the projections there cannot be trusted. Run "
            f"`consortium audit {path}` to find the first block that differs"
        )
    return state, reached
