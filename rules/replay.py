"""Re-execute stored blocks and hold every result against what the block header committed to.

The same function serves a restarting validator and an auditor: it stops at the first block
whose execution differs from its header and says which table differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from events.block import Block, BlockHeader, TableDigest
from events.codec import encode
from events.envelope import event_id
from events.merkle import leaf_hash, root_from_leaf_hashes
from events.results import EventResult
from rules.engine import Execution, Ruleset, execute_block
from rules.state import State


def results_root(event_ids: Iterable[bytes], results: Iterable[EventResult]) -> bytes:
    """Merkle root binding each event id to its result."""
    leaves = [leaf_hash(eid + encode(r)) for eid, r in zip(event_ids, results, strict=True)]
    return root_from_leaf_hashes(leaves)


def execute(state: State, ruleset: Ruleset, block: Block) -> tuple[Execution, list[bytes]]:
    ids = [event_id(e) for e in block.events]
    header = block.header
    return execute_block(state, ruleset, header.height, header.time_ms, block.events, ids), ids


def header_mismatch(header: BlockHeader, execution: Execution, ids: list[bytes]) -> str | None:
    """What in ``header`` the execution does not reproduce, or None."""
    if root_from_leaf_hashes(ids) != header.events_root:
        return "events root differs"
    if results_root(ids, execution.results) != header.results_root:
        return "results root differs"
    return digest_mismatch(header.table_digests, execution.table_digests)


def digest_mismatch(
    expected: tuple[TableDigest, ...], found: tuple[TableDigest, ...]
) -> str | None:
    if expected == found:
        return None
    names = {d.name for d in expected} | {d.name for d in found}
    exp = {d.name: d.digest for d in expected}
    got = {d.name: d.digest for d in found}
    for name in sorted(names):
        if exp.get(name) != got.get(name):
            e, g = exp.get(name, b"").hex()[:16], got.get(name, b"").hex()[:16]
            return f"table {name!r} digest differs: header {e}…, replay {g}…"
    return "table digests differ"


@dataclass(frozen=True, slots=True)
class Divergence:
    height: int
    what: str


def replay_blocks(
    state: State,
    ruleset: Ruleset,
    blocks: Iterable[Block],
    on_block: Callable[[Block, Execution], None] | None = None,
) -> Divergence | None:
    """Apply ``blocks`` to ``state`` in order; stop at the first that its header disowns."""
    for block in blocks:
        execution, ids = execute(state, ruleset, block)
        problem = header_mismatch(block.header, execution, ids)
        if problem is not None:
            return Divergence(block.header.height, problem)
        state.adopt(execution.overlay, execution.hashes)
        if on_block is not None:
            on_block(block, execution)
    return None
