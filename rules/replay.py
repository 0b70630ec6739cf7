"""Re-execute stored blocks and hold every result against what the block header committed to.

The same functions serve a proposer building a block, a validator checking a proposal, a
restarting validator and an auditor: ``run_block`` executes, ``header_mismatch`` says which
committed value the execution does not reproduce.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from events.block import Block, BlockHeader, TableDigest, event_leaves
from events.codec import encode
from events.envelope import DecodedEvent, event_id
from events.log_tree import LogTree
from events.merkle import leaf_hash, root_from_leaf_hashes
from events.results import EventResult
from rules.engine import Execution, Ruleset, execute_block
from rules.state import State


def results_root(event_ids: Iterable[bytes], results: Iterable[EventResult]) -> bytes:
    """Merkle root binding each event id to its result."""
    leaves = [leaf_hash(eid + encode(r)) for eid, r in zip(event_ids, results, strict=True)]
    return root_from_leaf_hashes(leaves)


@dataclass(slots=True)
class BlockRun:
    """A block executed on a state and appended to a copy of the log tree; nothing committed."""

    execution: Execution
    event_ids: list[bytes]
    leaves: list[bytes]
    log_tree: LogTree

    @property
    def events_root(self) -> bytes:
        return root_from_leaf_hashes(self.leaves)

    @property
    def results_root(self) -> bytes:
        return results_root(self.event_ids, self.execution.results)


def run_block(
    state: State,
    ruleset: Ruleset,
    log_tree: LogTree,
    height: int,
    time_ms: int,
    envelopes: Sequence[bytes],
    event_ids: Sequence[bytes] | None = None,
    decoded: Sequence[DecodedEvent | None] | None = None,
    leaves: Sequence[bytes] | None = None,
) -> BlockRun:
    """``event_ids``, ``decoded`` and ``leaves`` may be passed when the caller has them."""
    ids = list(event_ids) if event_ids is not None else [event_id(e) for e in envelopes]
    leaves = list(leaves) if leaves is not None else event_leaves(list(envelopes))
    tree = log_tree.copy()
    tree.extend(leaves)
    execution = execute_block(state, ruleset, height, time_ms, envelopes, ids, decoded)
    return BlockRun(execution, ids, leaves, tree)


def header_mismatch(header: BlockHeader, run: BlockRun) -> str | None:
    """What in ``header`` the run does not reproduce, or None."""
    if run.events_root != header.events_root:
        return "events root differs"
    if run.results_root != header.results_root:
        return "results root differs"
    if run.log_tree.size != header.log_size or run.log_tree.root() != header.log_root:
        return "log tree head differs"
    return digest_mismatch(header.table_digests, run.execution.table_digests)


def digest_mismatch(
    expected: tuple[TableDigest, ...], found: tuple[TableDigest, ...]
) -> str | None:
    if expected == found:
        return None
    exp = {d.name: d.digest for d in expected}
    got = {d.name: d.digest for d in found}
    for name in sorted(exp.keys() | got.keys()):
        if exp.get(name) != got.get(name):
            e, g = exp.get(name, b"").hex()[:16], got.get(name, b"").hex()[:16]
            return f"table {name!r} digest differs: header {e}…, replay {g}…"
    return "table digests differ"


@dataclass(frozen=True, slots=True)
class Divergence:
    height: int
    what: str


@dataclass(slots=True)
class Replay:
    """Where a replay stopped: the first divergence (None if every block held) and the log
    tree after the last block that held."""

    divergence: Divergence | None
    log_tree: LogTree


def replay_blocks(
    state: State,
    ruleset: Ruleset,
    log_tree: LogTree,
    blocks: Iterable[Block],
    on_block: Callable[[Block, BlockRun], None] | None = None,
) -> Replay:
    """Apply ``blocks`` to ``state`` in order, from the log tree ``log_tree``; stop at the first
    block whose header the execution does not reproduce."""
    for block in blocks:
        header = block.header
        run = run_block(state, ruleset, log_tree, header.height, header.time_ms, block.events)
        problem = header_mismatch(header, run)
        if problem is not None:
            return Replay(Divergence(header.height, problem), log_tree)
        state.adopt(run.execution.overlay, run.execution.hashes)
        log_tree = run.log_tree
        if on_block is not None:
            on_block(block, run)
    return Replay(None, log_tree)
