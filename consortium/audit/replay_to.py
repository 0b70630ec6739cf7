"""``consortium replay``: the projections as they stood at a height, or at a ledger time."""

from __future__ import annotations

from pathlib import Path

from consortium.audit.source import LogSource
from events.log_tree import LogTree
from rules.engine import genesis_state
from rules.replay import run_block
from rules.rulebook import RULESET
from rules.state import State


def state_as_of(
    path: Path | str, height: int | None = None, time_ms: int | None = None
) -> tuple[State, int]:
    """Re-execute blocks (without signature checks) up to ``height`` or to the last block whose
    time is at most ``time_ms``; returns the state and the height reached."""
    with LogSource(path) as source:
        state, tree, reached = genesis_state(source.genesis, RULESET), LogTree(), 0
        for record in source.records():
            if record.stored is None:
                raise ValueError(
                    f"block {record.key_height} is unreadable: {record.problem}; "
                    "run `consortium audit` on this directory"
                )
            block = record.stored.committed.block
            header = block.header
            if height is not None and header.height > height:
                break
            if time_ms is not None and header.time_ms > time_ms:
                break
            run = run_block(state, RULESET, tree, header.height, header.time_ms, block.events)
            state.adopt(run.execution.overlay, run.execution.hashes)
            tree, reached = run.log_tree, header.height
    return state, reached
