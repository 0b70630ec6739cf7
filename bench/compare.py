"""The same two jobs done by Consortium's log and by the Python ``eventsourcing`` library.

Both append events durably and rebuild a balance projection from what they stored.
- Append: eventsourcing uses SQLite in WAL mode, one transaction per save; Consortium uses LMDB
  with fsync, one transaction per block holding the events, their results and the event-id index.
  A validator also writes the block's changed state rows in that transaction; an eventsourcing
  append does nothing like it, so they are left out here.
- Replay: eventsourcing reads its notification log and maps it back to domain events;
  Consortium re-executes every block by the payment rules, with all three projections and the
  state digest. Consortium does strictly more per event, so the ratio is conservative. Each
  store is replayed ``REPLAY_ROUNDS`` times, the two in turn, and the medians are reported.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeAlias
from uuid import UUID

from msgspec.structs import replace

from consortium.bench.workload import bench_genesis
from consortium.events.block import Block, BlockHeader, CommittedBlock, QuorumCertificate
from consortium.events.genesis import Genesis
from consortium.events.log_tree import LogTree
from consortium.events.payments import IssueTokens, RegisterParticipant, Transfer
from consortium.events.results import EventResult
from consortium.ledger.node_state import rebuild_state
from consortium.rules.engine import genesis_state
from consortium.rules.replay import run_block
from consortium.rules.rulebook import RULESET
from consortium.storage.log import ZERO_HASH, EventLog

# The arguments of one ``EventLog.append``: a committed block, its results, the log tree's
# frontier after it, its event ids, and no state rows (see the module docstring).
BlockAppend: TypeAlias = tuple[
    CommittedBlock,
    Sequence[EventResult],
    Sequence[bytes],
    Sequence[bytes],
    Mapping[str, Mapping[bytes, bytes | None]],
    Mapping[str, bytes],
]


REPLAY_ROUNDS = 5
"""Replays of each store, taken in turn (eventsourcing, consortium, eventsourcing, …)."""


@dataclass(frozen=True, slots=True)
class Comparison:
    """Append rates from one pass each; replay rates are medians of ``REPLAY_ROUNDS``
    interleaved replays, by the wall clock and by this process's CPU time. On a shared machine
    the CPU figures move far less between rounds than the wall-clock ones."""

    events: int
    batch: int
    eventsourcing_append_per_s: float
    consortium_append_per_s: float
    eventsourcing_replay_per_s: float
    consortium_replay_per_s: float
    eventsourcing_replay_cpu_per_s: float
    consortium_replay_cpu_per_s: float
    replay_ratios: tuple[float, ...]
    """Consortium's replay rate over eventsourcing's in each round, by the wall clock."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Replayer: TypeAlias = Callable[[], int]
"""Rebuilds a store's projection from scratch and returns the events it replayed."""


def compare(events: int = 20_000, batch: int = 100, rounds: int = REPLAY_ROUNDS) -> Comparison:
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        es_append, es_replay = _eventsourcing(Path(tmp), stack, events, batch)
        our_append, our_replay = _consortium(Path(tmp), stack, events, batch)
        es_rates, our_rates = [], []
        for _ in range(rounds):  # in turn, so the machine's drift reaches both alike
            es_rates.append(_timed(es_replay))
            our_rates.append(_timed(our_replay))
    ratios = tuple(ours[0] / es[0] for es, ours in zip(es_rates, our_rates, strict=True))
    return Comparison(
        events,
        batch,
        es_append,
        our_append,
        statistics.median(r[0] for r in es_rates),
        statistics.median(r[0] for r in our_rates),
        statistics.median(r[1] for r in es_rates),
        statistics.median(r[1] for r in our_rates),
        ratios,
    )


def _timed(replay: Replayer) -> tuple[float, float]:
    """Events per second of one replay, by the wall clock and by this process's CPU time."""
    wall, cpu = time.perf_counter(), time.process_time()
    replayed = replay()
    return replayed / (time.perf_counter() - wall), replayed / (time.process_time() - cpu)


def _eventsourcing(tmp: Path, stack: ExitStack, events: int, batch: int) -> tuple[float, Replayer]:
    from eventsourcing.application import Application

    from consortium.bench.eventsourcing_model import Account

    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp / "es.sqlite")}
    app: Application[UUID] = Application(env=env)
    stack.callback(app.close)
    accounts = [Account() for _ in range(64)]
    app.save(*accounts)
    started = time.perf_counter()
    for i in range(0, events, batch):
        touched = []
        for j in range(i, min(events, i + batch)):
            account = accounts[j % len(accounts)]
            account.credit(1)
            touched.append(account)
        app.save(*{id(a): a for a in touched}.values())  # one durable transaction
    append_rate = events / (time.perf_counter() - started)

    def replay() -> int:
        balances: dict[Any, int] = {}
        replayed, position = 0, 1
        while True:
            notifications = app.recorder.select_notifications(start=position, limit=1000)
            if not notifications:
                return replayed
            for notification in notifications:
                domain_event = app.mapper.to_domain_event(notification)
                if isinstance(domain_event, Account.Credited):
                    balances[domain_event.originator_id] = (
                        balances.get(domain_event.originator_id, 0) + domain_event.amount
                    )
                    replayed += 1
            position = notifications[-1].id + 1

    return append_rate, replay


def _consortium(tmp: Path, stack: ExitStack, events: int, batch: int) -> tuple[float, Replayer]:
    """Appends pre-executed blocks of ``batch`` signed payments; the replay rebuilds them all."""
    genesis, _ = bench_genesis(4)
    blocks = _payment_blocks(genesis, events, batch)
    log = stack.enter_context(EventLog(tmp / "consortium", genesis, durable=True))
    started = time.perf_counter()
    for block in blocks:
        log.append(*block)
    append_rate = events / (time.perf_counter() - started)
    accepted = sum(r.accepted for s in log.stored_blocks() for r in s.results)
    if accepted != events + 3:
        raise RuntimeError(f"benchmark blocks went wrong: {accepted} accepted of {events + 3}")

    def replay() -> int:
        rebuild_state(genesis, RULESET, log)  # raises if any block differs from its header
        return events

    return append_rate, replay


def _payment_blocks(genesis: Genesis, events: int, batch: int) -> list[BlockAppend]:
    """Signed payments (two enrolments, an issue, then transfers) executed into blocks."""
    from consortium.bench.scenarios import identity
    from consortium.events.envelope import seal

    admin, alice, bob = identity("admin"), identity("user-0"), identity("user-1")
    chain = genesis.chain_id
    setup = [
        RegisterParticipant(participant=alice.public_key, name="alice", role="user"),
        RegisterParticipant(participant=bob.public_key, name="bob", role="user"),
        IssueTokens(token="EUR", to=admin.public_key, amount=10**12),
    ]
    bodies = setup + [
        Transfer(token="EUR", to=(alice if i % 2 == 0 else bob).public_key, amount=1)
        for i in range(events)
    ]
    envelopes = [
        seal(replace(body, author=admin.public_key, seq=seq), chain, [admin])
        for seq, body in enumerate(bodies, start=1)
    ]
    state, tree, prev = genesis_state(genesis, RULESET), LogTree(), ZERO_HASH
    out: list[BlockAppend] = []
    for height, start in enumerate(range(0, len(envelopes), batch), start=1):
        chunk = tuple(envelopes[start : start + batch])
        run = run_block(state, RULESET, tree, height, 1_767_225_600_000 + height, chunk)
        header = BlockHeader(
            chain,
            height,
            0,
            prev,
            0,
            1_767_225_600_000 + height,
            len(chunk),
            run.events_root,
            run.results_root,
            run.log_tree.size,
            run.log_tree.root(),
            run.execution.table_digests,
        )
        block = Block(header, chunk)
        state.adopt(run.execution.overlay, run.execution.hashes)
        tree = run.log_tree
        prev = block.hash
        committed = CommittedBlock(block, QuorumCertificate(height, 0, block.hash, ()))
        out.append((committed, run.execution.results, tree.frontier, run.event_ids, {}, {}))
    return out
