"""A validator's ledger machinery: intake, mempool, block building and checking, commit.

This is the ``Application`` the consensus core drives. It owns the state and the log of one
validator and is used from that validator's actor thread only. Events are verified once, on
arrival; a proposal's events that did not pass through this validator's intake are verified when
the proposal is checked.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from consortium.consensus.application import Head
from consortium.consensus.certificates import Verifier
from consortium.events.block import Block, BlockHeader, CommittedBlock, event_leaves, state_digest
from consortium.events.envelope import (
    MAX_EVENT_BYTES,
    DecodedEvent,
    Envelope,
    decode_event,
    event_id,
)
from consortium.events.errors import MalformedError
from consortium.events.genesis import Genesis
from consortium.events.logs import get_logger
from consortium.events.merkle import root_from_leaf_hashes
from consortium.events.results import Code, EventResult
from consortium.events.signing import Domain, verify_signature
from consortium.ledger.liveness import Liveness
from consortium.ledger.mempool import Mempool
from consortium.ledger.node_state import open_state
from consortium.ledger.process_shares import NOTHING_SHARED, ProcessShares
from consortium.rules.engine import Ruleset
from consortium.rules.faults import ExecutionFault
from consortium.rules.lthash import ExpansionCache, Expansions
from consortium.rules.replay import BlockRun, header_mismatch, run_block
from consortium.rules.schedule import earliest_due
from consortium.storage.log import INTAKE_KEPT, EventLog
from consortium.storage.records import IntakeRejection

log = get_logger(__name__)

TableChanges = Mapping[str, Mapping[bytes, Any]]
"""Rows a block changed, by table; a deleted row maps to None."""


class CommitRecord:
    """What listeners learn of each committed block.

    ``changes`` may be given as a function: most commits have no subscriber that reads them, and
    listing a large block's changed rows in key order is not free, so it is done on first read.
    """

    __slots__ = ("_changes", "committed", "event_ids", "results")

    def __init__(
        self,
        committed: CommittedBlock,
        event_ids: Sequence[bytes],
        results: Sequence[EventResult],
        changes: TableChanges | Callable[[], TableChanges],
    ) -> None:
        self.committed = committed
        self.event_ids = event_ids
        self.results = results
        self._changes = changes

    @property
    def changes(self) -> TableChanges:
        if callable(self._changes):
            self._changes = self._changes()
        return self._changes


CommitListener = Callable[[CommitRecord], None]
"""Called on the validator's thread after each commit: it must return quickly."""


@dataclass(frozen=True, slots=True)
class NodeSettings:
    max_block_events: int = 2000
    mempool_capacity: int = 20_000
    state_cache_rows: int = 50_000
    """Decoded state rows kept on the heap; the rest are read from the log's file when used."""
    intake_records_kept: int = INTAKE_KEPT
    """Records of events refused at intake kept in the log, for forensics: the most recent."""


def _decoded(envelope_bytes: bytes) -> tuple[Envelope, DecodedEvent] | EventResult:
    """The envelope and its event if the bytes are a well-formed event, else why not."""
    if len(envelope_bytes) > MAX_EVENT_BYTES:
        return EventResult(Code.MALFORMED, f"event larger than {MAX_EVENT_BYTES} bytes")
    try:
        envelope, event = decode_event(envelope_bytes)
    except MalformedError as exc:
        return EventResult(Code.MALFORMED, str(exc))
    if not event.signers or event.signers[0] != event.body.author:
        return EventResult(Code.MISSING_SIGNATURE, "the first signature must be the author's")
    return envelope, event


class LedgerNode:
    def __init__(
        self,
        index: int,
        genesis: Genesis,
        ruleset: Ruleset,
        event_log: EventLog,
        settings: NodeSettings,
        verify: Verifier = verify_signature,
        shared: ProcessShares = NOTHING_SHARED,
    ) -> None:
        self.index = index
        self.genesis = genesis
        self.ruleset = ruleset
        self.log = event_log
        self.settings = settings
        self._verify = verify
        self._shared = shared
        event_log.intake_kept = settings.intake_records_kept
        self.open_state()
        self._runs: dict[bytes, BlockRun] = {}
        self._faulted: set[bytes] = set()
        """Blocks whose execution faulted at the height being decided (see ``check_block``)."""
        self.listeners: list[CommitListener] = []
        self.mempool = Mempool(settings.mempool_capacity)
        self.liveness: Liveness | None = None
        """Set by the validator loop around this node: what the "status" query adds."""
        self.last_append_s = 0.0
        """How long the last commit's log write took (monotonic; for metrics only)."""

    def open_state(self) -> None:
        """(Re)open the state and log tree at the log's head: at start, and to replace a
        damaged state. The state keeps its rows' expansions in the process's shared memo when
        there is one, and sums small table updates as the process needs (``ProcessShares``)."""
        expansions: ExpansionCache | None = self._shared.expansions
        if expansions is None:
            expansions = Expansions(array_min_rows=self._shared.array_min_rows)
        self.state, self.log_tree = open_state(
            self.genesis, self.ruleset, self.log, self.settings.state_cache_rows, expansions
        )

    # ------------------------------------------------------------------ intake

    def admit(self, envelope_bytes: bytes, eid: bytes) -> EventResult | None:
        """Verify a participant's event and pool it; a typed rejection, kept in the intake log,
        if it may not be pooled."""
        return self.admit_many([envelope_bytes], [eid])[0]

    def admit_many(
        self, envelopes: Sequence[bytes], ids: Sequence[bytes]
    ) -> list[EventResult | None]:
        """``admit`` for a batch of participants' events: None for each pooled event, else its
        rejection."""
        return self._intake(envelopes, ids, record_duplicates=True)

    def admit_gossip(self, envelopes: Sequence[bytes]) -> int:
        """Pool the events a peer forwarded; returns how many were new.

        Events this validator already has are routine and not recorded.
        """
        ids = [event_id(e) for e in envelopes]
        outcomes = self._intake(envelopes, ids, record_duplicates=False)
        return sum(1 for outcome in outcomes if outcome is None)

    def _intake(
        self, envelopes: Sequence[bytes], ids: Sequence[bytes], record_duplicates: bool
    ) -> list[EventResult | None]:
        """Screen, verify and pool a batch, each event judged as if admitted alone. One read
        transaction answers which events are already committed, rather than one per event. The
        mempool's room is counted against the events ahead in the batch that passed screening,
        so a batch never overfills it."""
        committed = self.log.committed_ids(ids)
        outcomes: list[EventResult | None] = [None] * len(ids)
        room = self.mempool.capacity - len(self.mempool)
        seen: set[bytes] = set()
        passed: list[int] = []
        for i, eid in enumerate(ids):
            problem = self._screen(eid in self.mempool or eid in seen, eid in committed, room <= 0)
            seen.add(eid)
            if problem is None:
                passed.append(i)
                room -= 1
            outcomes[i] = problem
        verified = self._verified_many([envelopes[i] for i in passed])
        for i, event in zip(passed, verified, strict=True):
            if isinstance(event, EventResult):
                outcomes[i] = event
            else:
                self.mempool.add(ids[i], envelopes[i], event)
        self.log.record_intake_rejections(
            [
                IntakeRejection(eid, outcome.code.value, outcome.detail, len(env), env[:256])
                for eid, env, outcome in zip(ids, envelopes, outcomes, strict=True)
                if outcome is not None and (record_duplicates or outcome.code is not Code.DUPLICATE)
            ]
        )
        return outcomes

    @staticmethod
    def _screen(waiting: bool, committed: bool, full: bool) -> EventResult | None:
        """Why an event may not enter the mempool, before its bytes are even looked at, if so.
        ``waiting``: in the mempool, or earlier in the same batch."""
        if waiting:
            return EventResult(Code.DUPLICATE, "this event is already waiting for a block")
        if committed:
            return EventResult(Code.DUPLICATE, "this event is already on the ledger")
        if full:
            return EventResult(Code.OVERLOADED, "the validator's mempool is full; retry later")
        return None

    def _verified_many(self, envelopes: Sequence[bytes]) -> list[DecodedEvent | EventResult]:
        """Decode each event and verify every signature; each event decoded, or its typed
        rejection naming the first signature that does not verify. An event another validator
        of this process has verified already (``ProcessShares.intake``) is taken as it decoded
        it."""
        outcomes: list[DecodedEvent | EventResult] = []
        memo = self._shared.intake
        for envelope_bytes in envelopes:
            known = memo.get(envelope_bytes) if memo is not None else None
            if known is not None:
                outcomes.append(known)
                continue
            decoded = _decoded(envelope_bytes)
            if isinstance(decoded, EventResult):
                outcomes.append(decoded)
                continue
            envelope, event = decoded
            bad = self._first_bad_signer(envelope)
            if bad is None:
                outcomes.append(event)
                if memo is not None:
                    memo.put(envelope_bytes, event)
            else:
                detail = f"signature of {bad.hex()[:16]}… does not verify"
                outcomes.append(EventResult(Code.BAD_SIGNATURE, detail))
        return outcomes

    def _first_bad_signer(self, envelope: Envelope) -> bytes | None:
        chain = self.genesis.chain_id
        for sig in envelope.signatures:
            if not self._verify(sig.signer, sig.signature, Domain.EVENT, chain, envelope.body):
                return sig.signer
        return None

    # ------------------------------------------------------------ Application

    def head(self) -> Head:
        return Head(self.log.head_height, self.log.head_hash, self.log.head_time_ms)

    def has_pending_events(self) -> bool:
        return len(self.mempool) > 0

    def has_full_block(self) -> bool:
        return len(self.mempool) >= self.settings.max_block_events

    def next_due_ms(self) -> int | None:
        """The earliest due time in the committed state's schedules: a few row reads."""
        return earliest_due(self.state, self.ruleset.schema)

    def build_block(
        self, height: int, round_: int, proposer: int, time_ms: int, allow_empty: bool
    ) -> Block | None:
        """A block of the oldest pending events. An event whose execution faults is set aside
        (dropped from the mempool, logged) and the block built again without it; a fault no
        event caused means there is no block to propose."""
        while True:
            chosen = self.mempool.oldest(self.settings.max_block_events)
            if not chosen and not allow_empty:
                return None
            envelopes = tuple(env for _, env in chosen)
            ids = [eid for eid, _ in chosen]
            decoded = [self.mempool.decoded(eid) for eid in ids]
            try:
                run = run_block(
                    self.state,
                    self.ruleset,
                    self.log_tree,
                    height,
                    time_ms,
                    envelopes,
                    ids,
                    decoded,
                )
                break
            except ExecutionFault as fault:
                self._report_fault(fault, "building a proposal")
                if fault.event_id not in ids:
                    return None  # no event to leave out: a hook or the state encoding faulted
        header = BlockHeader(
            chain_id=self.genesis.chain_id,
            height=height,
            round=round_,
            prev_hash=self.log.head_hash,
            proposer=proposer,
            time_ms=time_ms,
            event_count=len(envelopes),
            events_root=run.events_root,
            results_root=run.results_root,
            log_size=run.log_tree.size,
            log_root=run.log_tree.root(),
            table_digests=run.execution.table_digests,
        )
        block = Block(header, envelopes)
        self._runs[block.hash] = run
        if self._shared.executions is not None:
            self._shared.executions.put((block.hash, self._pre_state()), run)
        return block

    def check_block(self, block: Block) -> str | None:
        header = block.header
        # The block hash covers the header only: a peer can pair a genuine header (and its real
        # certificate) with other events. Found by the simulator: such a catch-up answer hit the
        # cached run of the genuine block and the altered events were written to the log.
        leaves = event_leaves(list(block.events))
        events_root = root_from_leaf_hashes(leaves)
        if events_root != header.events_root:
            return "the events do not match the header's events root"
        if block.hash in self._runs:
            return None
        problem = self._link_problem(header, len(block.events))
        if problem is not None:
            return problem
        memo = self._shared.executions
        pre_state = self._pre_state() if memo is not None else b""
        shared = memo.get((block.hash, pre_state)) if memo is not None else None
        if shared is not None:
            self._runs[block.hash] = shared
            return None
        ids = [event_id(e) for e in block.events]
        decoded = [self.mempool.decoded(eid) for eid in ids]  # verified at intake
        unseen = [i for i, event in enumerate(decoded) if event is None]
        verified = self._verified_many([block.events[i] for i in unseen])
        for i, event in zip(unseen, verified, strict=True):
            if isinstance(event, EventResult):
                return f"event {ids[i].hex()[:16]}…: {event.detail}"
            decoded[i] = event
        try:
            run = run_block(
                self.state,
                self.ruleset,
                self.log_tree,
                header.height,
                header.time_ms,
                block.events,
                ids,
                decoded,
                leaves,
                events_root,
            )
        except ExecutionFault as fault:
            return self._faulted_block(block, fault)
        problem = header_mismatch(header, run)
        if problem is None:
            self._runs[block.hash] = run
            if memo is not None:
                memo.put((block.hash, pre_state), run)
        return problem

    def _faulted_block(self, block: Block, fault: ExecutionFault) -> str:
        """Refuse a block whose execution faulted, the first time; raise the fault the second.

        A fault is no verdict on the block: it may be this machine's (a ``MemoryError``, a
        deeper stack) or a bug every validator hits. Either way this validator must not vote
        for the block, and it must not write down results it could not compute. The consensus
        core checks a proposal once per height and keeps the verdict; it checks a block again
        at that height only when the block comes back with a quorum certificate (catch-up), that
        is, when 2f+1 validators executed it where this one cannot. Then refusing would leave
        this validator behind for good and guessing would diverge, so it stops, as it does when
        it cannot persist.
        """
        self._report_fault(fault, f"checking block {block.header.height}")
        if block.hash in self._faulted:
            raise fault
        self._faulted.add(block.hash)
        return f"execution fault: {fault}"

    def _report_fault(self, fault: ExecutionFault, doing: str) -> None:
        """Log ``fault`` as critical and drop the event that caused it from the mempool, so this
        validator does not propose it again."""
        log.critical(
            "validator %d: execution fault while %s: %s",
            self.index,
            doing,
            fault,
            exc_info=fault,
            extra={
                "validator": self.index,
                "height": fault.height,
                "event_id": fault.event_id.hex() if fault.event_id else None,
            },
        )
        if fault.event_id is not None:
            self.mempool.remove([fault.event_id])

    def _pre_state(self) -> bytes:
        """What a shared execution must have started from: the head block and the state."""
        return self.log.head_hash + state_digest(self.state.table_digests())

    def _link_problem(self, header: BlockHeader, event_count: int) -> str | None:
        head = self.head()
        if header.chain_id != self.genesis.chain_id:
            return f"chain id {header.chain_id!r} is not this chain's"
        if header.height != head.height + 1 or header.prev_hash != head.block_hash:
            return "does not extend the last committed block"
        if header.time_ms <= head.time_ms:
            return "block time is not after the previous block's"
        if header.event_count != event_count or event_count > self.settings.max_block_events:
            return f"event count {event_count} is wrong or above the block limit"
        if not 0 <= header.proposer < len(self.genesis.validators):
            return "proposer is not a validator"
        return None

    def commit(self, committed: CommittedBlock) -> None:
        block = committed.block
        run = self._runs.pop(block.hash)
        height = block.header.height
        execution = run.execution
        writes = execution.encoded_writes
        started = time.perf_counter()
        self.log.append(
            committed,
            execution.results,
            run.log_tree.frontier,
            run.event_ids,
            writes,
            {name: execution.hashes[name].to_bytes() for name in writes},
        )
        self.last_append_s = time.perf_counter() - started
        self.state.adopt(execution.overlay, execution.hashes)
        self.log_tree = run.log_tree
        self._runs.clear()
        self._faulted.clear()
        self.mempool.remove(run.event_ids)
        log.debug(
            "validator %d committed height %d with %d events",
            self.index,
            height,
            len(block.events),
            extra={"validator": self.index, "height": height, "events": len(block.events)},
        )
        changes = run.execution.overlay.changes
        record = CommitRecord(committed, run.event_ids, run.execution.results, changes)
        for listener in self.listeners:
            listener(record)

    def committed_blocks(self, from_height: int, limit: int) -> list[CommittedBlock]:
        to_height = from_height + limit - 1
        return [s.committed for s in self.log.stored_blocks(from_height, to_height)]
