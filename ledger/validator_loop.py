"""One validator's message handling, without threads: the loop both shells drive.

The pykka actor (``actors/validator.py``) and the fault simulator (``tests/sim/validator.py``)
run this same class, so what the simulator finds is about the validator that ships. It turns
inputs (peer messages, submissions, timeouts) into consensus-core inputs stamped with the
clock, and the core's actions into sends and timers, always through ``SignGuard.released`` so
no signature leaves before its record is durable. Submissions wait for ``flush`` and are
admitted as one batch, with one read of the log; the shell calls ``flush`` when its inbox is
empty (or after every input), and a backlog of ``GOSSIP_BATCH`` flushes regardless.

Submitters are answered here: an intake rejection at once, a pooled event when it commits. An
event submitted again is never refused as a duplicate: if it is committed the answer is its
original result and height, if it is pending the submitter waits for its commit like the first.
That makes "keep the envelope and submit it again" a safe retry.

What it needs from its shell comes in as parameters: an ``Outbox`` (broadcast, send), ``Timers``
(schedule a timeout) and a clock; optionally ``LoopMetrics`` (``consortium.metrics``), told of
each commit and intake refusal. The loop is its node's ``Liveness`` (round, peers heard from,
age of the last commit), which the "status" query and the metrics read from any thread.

Exceptions are the shell's to handle: one of ``HALTING_ERRORS`` (it cannot persist, or cannot
execute a block a quorum certified) means the validator must stop rather than diverge; anything
else is logged and the validator goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol

from consortium.actors.messages import Receipt, ReplyTo
from consortium.consensus.actions import Action, Broadcast, ScheduleTimeout, SendTo, Timeout
from consortium.consensus.certificates import Verifier
from consortium.consensus.config import ConsensusConfig
from consortium.consensus.core import ConsensusCore
from consortium.events.codec import encode
from consortium.events.envelope import event_id
from consortium.events.errors import MalformedError
from consortium.events.genesis import Genesis
from consortium.events.identity import Identity
from consortium.events.logs import get_logger
from consortium.events.results import Code, EventResult
from consortium.events.signing import verify_signature
from consortium.events.wire import EventGossip, decode_peer_message
from consortium.ledger.evidence import EvidenceReporter
from consortium.ledger.liveness import Liveness
from consortium.ledger.node import CommitRecord, LedgerNode, NodeSettings
from consortium.ledger.process_shares import NOTHING_SHARED, ProcessShares
from consortium.ledger.sign_guard import SignGuard
from consortium.rules.engine import Ruleset
from consortium.rules.faults import ExecutionFault
from consortium.storage.errors import StorageError
from consortium.storage.log import EventLog

log = get_logger(__name__)
HALTING_ERRORS: tuple[type[Exception], ...] = (StorageError, ExecutionFault)
"""Errors after which a validator stops: going on could only make it diverge or lose data."""

Clock = Callable[[], int]
"""Milliseconds of this validator's clock (wall clock, or the simulator's virtual one)."""

GOSSIP_BATCH = 256
"""Waiting submissions and gossip that flush even while the inbox still holds messages."""

PEER_SILENCE_STATUS_INTERVALS = 3
"""A peer is counted as heard from while its last message is at most this many status
intervals old (every validator announces its height once an interval)."""

ADMISSION_FAILED = EventResult(
    Code.OVERLOADED, "the validator failed while admitting this event (see its log); retry later"
)


class Outbox(Protocol):
    """Where a validator's peer messages go."""

    def broadcast(self, payload: bytes) -> None:
        """To every other validator."""

    def send(self, recipient: int, payload: bytes) -> None:
        """To validator ``recipient``."""


class Timers(Protocol):
    def schedule(self, delay_ms: int, timeout: Timeout) -> None:
        """Hand ``timeout`` back to this loop's ``on_timeout`` after ``delay_ms``."""


class LoopMetrics(Protocol):
    """Where a loop reports what happens, on the validator's thread: each call must be cheap."""

    def committed(self, events: int, rounds: int, append_s: float, commit_s: float) -> None:
        """A block is committed: its events, the rounds its height took, how long the log
        write took and how long since the message that decided it (monotonic seconds)."""

    def refused(self, code: Code) -> None:
        """A participant's event was refused at intake."""

    def watch(self, live: Liveness) -> None:
        """Read the loop's levels from ``live`` when asked (called once, at construction)."""


class ValidatorLoop:
    """The consensus core, the ledger node and the sign guard of one validator, on its log.

    The loop owns ``event_log`` from construction on (``close`` closes it, and so does a
    failure to open the node's state)."""

    def __init__(
        self,
        index: int,
        identity: Identity,
        genesis: Genesis,
        event_log: EventLog,
        ruleset: Ruleset,
        consensus: ConsensusConfig,
        settings: NodeSettings,
        outbox: Outbox,
        timers: Timers,
        clock: Clock,
        verify: Verifier = verify_signature,
        shared: ProcessShares = NOTHING_SHARED,
        metrics: LoopMetrics | None = None,
    ) -> None:
        self.index = index
        self.log = event_log
        try:
            self.node = LedgerNode(
                index,
                genesis,
                ruleset,
                event_log,
                settings,
                verify,
                shared,
            )
            log_created_ms = event_log.created_ms()
            if log_created_ms is None:
                log_created_ms = clock()
                event_log.mark_created(log_created_ms)
        except Exception:
            event_log.close()
            raise
        self.node.listeners.append(self._answer_submitters)
        self.sign_guard = SignGuard(identity, genesis.chain_id, event_log)
        self.core = ConsensusCore(consensus, index, self.sign_guard.sign, self.node, verify)
        lock = self.sign_guard.lock_at(self.core.height)
        if lock is not None:
            self.core.restore_lock(lock)
        if not self.sign_guard.has_signing_record(self.core.height - 1):
            first = event_log.stored_block(1).committed.block if event_log.head_height else None
            first_ms = None if first is None else first.header.time_ms
            self.core.watch_before_signing(clock(), log_created_ms, first_ms)
        self._outbox = outbox
        self._timers = timers
        self._clock = clock
        self._evidence = EvidenceReporter(identity, genesis.chain_id)
        self.evidence_reported = 0
        """Double-vote reports this loop submitted (the simulator counts them)."""
        self._waiting: dict[bytes, list[ReplyTo]] = {}
        self._submitted: list[tuple[bytes, ReplyTo | None]] = []
        self._gossip: list[bytes] = []
        self._new_events = False
        # Monotonic seconds, for liveness and metrics only: never given to consensus.
        self._heard: dict[int, float] = {}
        self._last_commit: float | None = None
        self._input_started = 0.0
        self._silence_s = PEER_SILENCE_STATUS_INTERVALS * consensus.status_interval_ms / 1000
        self._metrics = metrics
        self.node.liveness = self
        if metrics is not None:
            metrics.watch(self)

    # -------------------------------------------------------------------- inputs

    def start(self) -> None:
        self._carry_out(self.core.start(self._clock()))

    def on_peer(self, sender: int, payload: bytes) -> None:
        self._input_started = self._heard[sender] = time.monotonic()
        try:
            message = decode_peer_message(payload)
        except MalformedError as exc:
            log.info("validator %d: malformed message from %d: %s", self.index, sender, exc)
            return
        if isinstance(message, EventGossip):
            if self.node.admit_gossip(message.envelopes):
                self._new_events = True
            return
        self._carry_out(self.core.on_message(sender, message, self._clock()))

    def submit(self, envelope: bytes, reply_to: ReplyTo | None) -> None:
        """Queue a participant's event for the next ``flush``; ``reply_to`` gets its receipt."""
        self._submitted.append((envelope, reply_to))

    def on_timeout(self, timeout: Timeout) -> None:
        self._input_started = time.monotonic()
        self._carry_out(self.core.on_timeout(timeout, self._clock()))

    def flush(self, *, inbox_empty: bool) -> None:
        """Report new double votes, admit the waiting submissions, gossip and wake consensus:
        once the inbox is drained, not per event (or once a backlog has built up)."""
        if not inbox_empty and len(self._gossip) + len(self._submitted) < GOSSIP_BATCH:
            return
        for report in self._evidence.new_reports(self.core.evidence, self.node.state):
            self.evidence_reported += 1
            self.submit(report, None)
        if self._submitted:
            self._admit_submitted()
        if self._gossip:
            batch, self._gossip = tuple(self._gossip), []
            self._outbox.broadcast(encode(EventGossip(batch)))
        if self._new_events:
            self._new_events = False
            self._input_started = time.monotonic()  # a lone validator commits from here
            self._carry_out(self.core.on_events_available(self._clock()))

    def close(self) -> None:
        self.log.close()

    # ------------------------------------------------------------------ liveness

    @property
    def height(self) -> int:
        return self.log.head_height

    @property
    def round(self) -> int:
        return self.core.round

    @property
    def mempool_size(self) -> int:
        return len(self.node.mempool)

    @property
    def quorum_peers(self) -> int:
        return self.core.config.quorum - 1

    def peers_heard(self) -> int:
        since = time.monotonic() - self._silence_s
        return sum(1 for heard in list(self._heard.values()) if heard >= since)

    def last_commit_age_s(self) -> float | None:
        last = self._last_commit
        return None if last is None else time.monotonic() - last

    # ----------------------------------------------------------------- admission

    def _admit_submitted(self) -> None:
        batch, self._submitted = self._submitted, []
        envelopes = [envelope for envelope, _ in batch]
        ids = [event_id(e) for e in envelopes]
        try:
            outcomes = self.node.admit_many(envelopes, ids)
        except Exception:
            # Answer now rather than leave the submitters to time out. An event pooled before
            # the failure goes on to a block like any other; the rest may be submitted again.
            for (envelope, reply_to), eid in zip(batch, ids, strict=True):
                if eid in self.node.mempool:
                    self._pooled(envelope, eid, reply_to)
                else:
                    self._refuse(reply_to, eid, ADMISSION_FAILED)
            raise
        first_outcome: dict[bytes, EventResult | None] = {}
        for (envelope, reply_to), eid, outcome in zip(batch, ids, outcomes, strict=True):
            earlier = first_outcome.setdefault(eid, outcome)
            if outcome is None:
                self._pooled(envelope, eid, reply_to)
            elif outcome.code is Code.DUPLICATE:
                self._resubmitted(eid, reply_to, earlier if earlier is not outcome else None)
            else:
                self._refuse(reply_to, eid, outcome)

    def _refuse(self, reply_to: ReplyTo | None, eid: bytes, refusal: EventResult) -> None:
        if self._metrics is not None:
            self._metrics.refused(refusal.code)
        self._reply(reply_to, Receipt(eid, refusal, None, self.index))

    def _pooled(self, envelope: bytes, eid: bytes, reply_to: ReplyTo | None) -> None:
        """A submitted event is in the mempool: its submitter waits for the commit, and the
        peers hear of it with the next gossip."""
        if reply_to is not None:
            self._waiting.setdefault(eid, []).append(reply_to)
        self._gossip.append(envelope)
        self._new_events = True

    def _resubmitted(
        self, eid: bytes, reply_to: ReplyTo | None, earlier: EventResult | None
    ) -> None:
        """An event this validator has seen: a pending one is answered when it commits, a
        committed one with its original result and height. A copy earlier in the same batch
        that was refused (``earlier``) gets this one the same answer."""
        if reply_to is None:
            return
        if eid in self.node.mempool:
            self._waiting.setdefault(eid, []).append(reply_to)
            return
        location = self.log.locate(eid)
        if location is not None:
            result = self.log.stored_block(location.height).results[location.index]
            self._reply(reply_to, Receipt(eid, result, location.height, self.index))
            return
        refusal = earlier or EventResult(Code.DUPLICATE, "this event was submitted before")
        self._reply(reply_to, Receipt(eid, refusal, None, self.index))

    # ------------------------------------------------------------------- outputs

    def _carry_out(self, actions: Sequence[Action]) -> None:
        for action in self.sign_guard.released(actions):
            if isinstance(action, Broadcast):
                self._outbox.broadcast(action.payload)
            elif isinstance(action, SendTo):
                self._outbox.send(action.validator, action.payload)
            elif isinstance(action, ScheduleTimeout):
                self._timers.schedule(action.delay_ms, action.timeout)

    def _answer_submitters(self, record: CommitRecord) -> None:
        now = time.monotonic()
        self._last_commit = now
        if self._metrics is not None:
            self._metrics.committed(
                len(record.event_ids),
                record.committed.qc.round + 1,
                self.node.last_append_s,
                now - self._input_started,
            )
            self._input_started = now  # the next block of a catch-up batch starts here
        height = record.committed.block.header.height
        for eid, result in zip(record.event_ids, record.results, strict=True):
            for reply_to in self._waiting.pop(eid, ()):
                self._reply(reply_to, Receipt(eid, result, height, self.index))

    def _reply(self, reply_to: ReplyTo | None, receipt: Receipt) -> None:
        if reply_to is None:
            return
        try:
            reply_to(receipt)
        except Exception:
            log.exception("validator %d: a receipt callback failed", self.index)
