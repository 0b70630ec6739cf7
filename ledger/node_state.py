"""Where a validator's state comes from when it starts: its log's stored state, or a replay.

The stored state is used when it sits at the log's head and its table hashes give the digests
the head's header committed to; that check costs one hash per table, not a pass over the rows.
Otherwise (a new log, a state marked stale, a log written by a validator that kept no state)
the state is rebuilt by replaying the log, each block held against its header, and stored.
"""

from __future__ import annotations

from collections.abc import Mapping

from consortium.events.codec import encode
from consortium.events.genesis import Genesis
from consortium.events.log_tree import LogTree
from consortium.events.logs import get_logger
from consortium.rules.engine import Ruleset, genesis_state
from consortium.rules.lane_worker import lane_worker_for
from consortium.rules.lthash import ExpansionCache, LtHash
from consortium.rules.replay import SETTLE_ROWS, replay_blocks
from consortium.rules.state import State
from consortium.storage.errors import LogCorruptError
from consortium.storage.log import EventLog

log = get_logger(__name__)


def rebuild_state(genesis: Genesis, ruleset: Ruleset, event_log: EventLog) -> tuple[State, LogTree]:
    """The state (in memory) and log tree at the log's head, by replaying every block from
    genesis; each block is held against its header, its table digests at least at the head."""
    state = genesis_state(genesis, ruleset)
    blocks = (s.committed.block for s in event_log.stored_blocks())
    with lane_worker_for(_event_count(event_log)) as lanes:
        replay = replay_blocks(state, ruleset, LogTree(), blocks, SETTLE_ROWS, lanes)
    if replay.divergence is not None:
        raise LogCorruptError(
            replay.divergence.height, f"replay differs from the header: {replay.divergence.what}"
        )
    return state, replay.log_tree


def _event_count(event_log: EventLog) -> int | None:
    """Events in the log, by its head's header (None if the head cannot be read: the replay
    will say why)."""
    if event_log.head_height == 0:
        return 0
    try:
        return event_log.stored_block(event_log.head_height).committed.block.header.log_size
    except (KeyError, LogCorruptError):
        return None


def open_state(
    genesis: Genesis,
    ruleset: Ruleset,
    event_log: EventLog,
    cache_rows: int,
    expansions: ExpansionCache | None = None,
) -> tuple[State, LogTree]:
    """The validator's state at the log's head, its rows read from the log's LMDB environment;
    its rows' expansions are kept in ``expansions`` when validators of the process share them."""
    head = event_log.head_height
    stored = event_log.stored_state()
    hashes = None
    if stored is not None and stored.height == head:
        hashes = _hashes(stored.table_lanes)
        if set(hashes) != set(ruleset.schema) or not _matches_head(
            genesis, ruleset, event_log, State(ruleset.schema, hashes=hashes)
        ):
            log.warning(
                "%s: the stored state does not match the head; rebuilding it", event_log.path
            )
            hashes = None
    elif stored is not None:
        log.warning(
            "%s: the stored state is at height %d, the log at %d; rebuilding it",
            event_log.path,
            stored.height,
            head,
        )
    if hashes is None:
        rebuilt, _ = rebuild_state(genesis, ruleset, event_log)
        rows = {
            name: {key: encode(row) for key, row in rebuilt.rows(name)} for name in rebuilt.schema
        }
        lanes = rebuilt.table_lanes()
        event_log.replace_state(head, rows, lanes)
        hashes = _hashes(lanes)
    stored_rows = event_log.state_rows(ruleset.schema, cache_rows)
    state = State(ruleset.schema, stored_rows, hashes, expansions)
    return state, _log_tree_at_head(event_log)


def _hashes(table_lanes: Mapping[str, bytes]) -> dict[str, LtHash]:
    return {name: LtHash.from_bytes(lanes) for name, lanes in table_lanes.items()}


def _matches_head(genesis: Genesis, ruleset: Ruleset, event_log: EventLog, state: State) -> bool:
    if event_log.head_height == 0:
        return state.table_digests() == genesis_state(genesis, ruleset).table_digests()
    header = event_log.stored_block(event_log.head_height).committed.block.header
    return state.table_digests() == header.table_digests


def _log_tree_at_head(event_log: EventLog) -> LogTree:
    if event_log.head_height == 0:
        return LogTree()
    stored = event_log.stored_block(event_log.head_height)
    return LogTree(stored.committed.block.header.log_size, stored.log_frontier)
