"""Re-execute stored blocks and hold every result against what the block header committed to.

The same functions serve a proposer building a block, a validator checking a proposal, a
restarting validator and an auditor: ``run_block`` executes, ``header_mismatch`` says which
committed value the execution does not reproduce.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import msgspec

from consortium.events.block import Block, BlockHeader, TableDigest, event_leaves
from consortium.events.codec import encode
from consortium.events.envelope import DecodedEvent, event_id
from consortium.events.log_tree import LogTree
from consortium.events.merkle import leaf_hash, root_from_leaf_hashes
from consortium.events.results import EventResult
from consortium.rules.engine import Execution, Ruleset, execute_events
from consortium.rules.faults import ExecutionFault
from consortium.rules.lane_worker import HAND_OFF_ROWS, LaneWorker
from consortium.rules.state import Overlay, State


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
    events_root: bytes
    """The Merkle root of ``leaves``, computed once: the node, the auditor and replay each hold
    it against a header or a signature verdict, and it costs about 0.5 µs per event."""
    log_tree: LogTree

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
    events_root: bytes | None = None,
) -> BlockRun:
    """``event_ids``, ``decoded``, ``leaves`` and their ``events_root`` may be passed when the
    caller has them.

    Raises ``ExecutionFault`` if an event or hook faults, or if a row the block wrote cannot
    be encoded (the rules keep every integer in range, so that too would be a bug)."""
    run = _run_events(
        state,
        ruleset,
        log_tree,
        height,
        time_ms,
        envelopes,
        event_ids,
        decoded,
        leaves,
        events_root,
    )
    try:
        hashes, encoded = state.hashes_after(run.overlay)
    except (OverflowError, TypeError, msgspec.EncodeError) as exc:
        raise ExecutionFault(height, None, "while encoding the state", exc) from exc
    execution = Execution(run.overlay, run.results, hashes, encoded)
    return BlockRun(execution, run.event_ids, run.leaves, run.events_root, run.log_tree)


@dataclass(slots=True)
class _EventsRun:
    """A block's events executed and appended to a copy of the log tree, table hashes not yet
    computed."""

    overlay: Overlay
    results: list[EventResult]
    event_ids: list[bytes]
    leaves: list[bytes]
    events_root: bytes
    log_tree: LogTree


def _run_events(
    state: State,
    ruleset: Ruleset,
    log_tree: LogTree,
    height: int,
    time_ms: int,
    envelopes: Sequence[bytes],
    event_ids: Sequence[bytes] | None = None,
    decoded: Sequence[DecodedEvent | None] | None = None,
    leaves: Sequence[bytes] | None = None,
    events_root: bytes | None = None,
) -> _EventsRun:
    ids = list(event_ids) if event_ids is not None else [event_id(e) for e in envelopes]
    leaves = list(leaves) if leaves is not None else event_leaves(list(envelopes))
    root = events_root if events_root is not None else root_from_leaf_hashes(leaves)
    tree = log_tree.copy()
    tree.extend(leaves)
    overlay, results = execute_events(state, ruleset, height, time_ms, envelopes, ids, decoded)
    return _EventsRun(overlay, results, ids, leaves, root, tree)


def header_mismatch(header: BlockHeader, run: BlockRun) -> str | None:
    """What in ``header`` the run does not reproduce, or None."""
    return _roots_mismatch(
        header, run.events_root, run.event_ids, run.execution.results, run.log_tree
    ) or digest_mismatch(header.table_digests, run.execution.table_digests)


def _roots_mismatch(
    header: BlockHeader,
    events_root: bytes,
    event_ids: list[bytes],
    results: list[EventResult],
    log_tree: LogTree,
) -> str | None:
    """What in ``header``, other than the table digests, the execution does not reproduce."""
    if events_root != header.events_root:
        return "events root differs"
    if results_root(event_ids, results) != header.results_root:
        return "results root differs"
    if log_tree.size != header.log_size or log_tree.root() != header.log_root:
        return "log tree head differs"
    return None


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


# Changed rows a replay may adopt before it brings the table hashes up and holds them against a
# header (``replay_blocks``): enough to span many small blocks, and about 10 MB of old values.
SETTLE_ROWS = 65_536


@dataclass(frozen=True, slots=True)
class Divergence:
    height: int
    what: str


@dataclass(slots=True)
class Replay:
    """Where a replay stopped: the first divergence (None if every block held) and the log
    tree after the last block replayed. After a divergence, the state and log tree are only
    fit to be dropped."""

    divergence: Divergence | None
    log_tree: LogTree


def replay_blocks(
    state: State,
    ruleset: Ruleset,
    log_tree: LogTree,
    blocks: Iterable[Block],
    unhashed_rows: int = 0,
    lanes: LaneWorker | None = None,
) -> Replay:
    """Apply ``blocks`` to ``state`` in order, from the log tree ``log_tree``; stop at the first
    block whose header the execution does not reproduce.

    With ``unhashed_rows`` 0, every block's table digests are held against its header. Above 0,
    the table hashes wait until that many changed rows have been adopted without them; then,
    and after the last block, the digests are held against the header of the block just
    replayed. A row that changed in many blocks in between is then expanded once rather than
    once per block (see ``State.adopt_unhashed``), and since execution reads rows and never
    digests, the state at every check is exactly the one the headers commit to, or the check
    fails. What is lost is only where: a mismatch names the blocks since the last check, and
    ``consortium audit``, which checks every block, names the first that differs. Every other
    header field (events, results, log tree) is still held against each block.

    With ``lanes`` too, every ``HAND_OFF_ROWS`` such rows go to that child process to be summed
    while this one executes on (``rules/lane_worker.py``); the digests are the same.
    """
    if unhashed_rows <= 0:
        return _replay_each(state, ruleset, log_tree, blocks)
    return _replay_settling(state, ruleset, log_tree, blocks, unhashed_rows, lanes)


def _replay_each(
    state: State, ruleset: Ruleset, log_tree: LogTree, blocks: Iterable[Block]
) -> Replay:
    for block in blocks:
        header = block.header
        run = run_block(state, ruleset, log_tree, header.height, header.time_ms, block.events)
        problem = header_mismatch(header, run)
        if problem is not None:
            return Replay(Divergence(header.height, problem), log_tree)
        state.adopt(run.execution.overlay, run.execution.hashes)
        log_tree = run.log_tree
    return Replay(None, log_tree)


def _replay_settling(
    state: State,
    ruleset: Ruleset,
    log_tree: LogTree,
    blocks: Iterable[Block],
    unhashed_rows: int,
    lanes: LaneWorker | None,
) -> Replay:
    first: int | None = None  # the first block adopted since the digests were last held
    header: BlockHeader | None = None
    for block in blocks:
        header = block.header
        run = _run_events(state, ruleset, log_tree, header.height, header.time_ms, block.events)
        problem = _roots_mismatch(header, run.events_root, run.event_ids, run.results, run.log_tree)
        if problem is not None:
            return Replay(Divergence(header.height, problem), log_tree)
        state.adopt_unhashed(run.overlay)
        log_tree = run.log_tree
        first = header.height if first is None else first
        if lanes is not None and lanes.in_use:
            state.hand_off_unhashed(lanes, HAND_OFF_ROWS)
        if state.unhashed_rows >= unhashed_rows:
            divergence = _digest_divergence(state, header, first)
            if divergence is not None:
                return Replay(divergence, log_tree)
            first = None
    if first is None or header is None:
        return Replay(None, log_tree)
    return Replay(_digest_divergence(state, header, first), log_tree)


def _digest_divergence(state: State, header: BlockHeader, first: int) -> Divergence | None:
    problem = digest_mismatch(header.table_digests, state.table_digests())
    if problem is None:
        return None
    if first < header.height:
        problem += (
            f" (digests held only here since height {first}, so an earlier block's may differ"
            " too: `consortium audit` names the first)"
        )
    return Divergence(header.height, problem)
