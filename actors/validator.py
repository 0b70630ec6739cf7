"""The validator actor: a thin pykka shell around the consensus core and the ledger node.

It turns inbox messages into core inputs (with the current time), and the core's actions into
transport sends and timers. No handler lets an exception out: pykka stops an actor whose handler
raises, and one bad message must never take a validator down. Storage failures are the exception
to the exception: a validator that cannot persist stops rather than diverge.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pykka

from consortium.actors.messages import FireTimeout, Inspect, Receipt, ReplyTo, SubmitEvent
from consortium.actors.timers import TimerService
from consortium.actors.transport import PeerDelivery, Transport
from consortium.consensus.actions import Action, Broadcast, ScheduleTimeout, SendTo
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
from consortium.ledger.execution_memo import ExecutionMemo
from consortium.ledger.node import CommitRecord, LedgerNode, NodeSettings
from consortium.ledger.sign_guard import SignGuard
from consortium.rules.engine import Ruleset
from consortium.storage.errors import StorageError
from consortium.storage.log import EventLog

log = get_logger(__name__)

Clock = Callable[[], int]
GOSSIP_BATCH = 256
_ADMISSION_FAILED = EventResult(
    Code.OVERLOADED, "the validator failed while admitting this event (see its log); retry later"
)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class ValidatorActor(pykka.ThreadingActor):
    def __init__(
        self,
        index: int,
        identity: Identity,
        genesis: Genesis,
        data_dir: Path,
        transport: Transport,
        timers: TimerService,
        ruleset: Ruleset,
        consensus: ConsensusConfig,
        settings: NodeSettings,
        durable: bool = True,
        clock: Clock = wall_clock_ms,
        verify: Verifier = verify_signature,
        shared_executions: ExecutionMemo | None = None,
    ) -> None:
        super().__init__()
        self.index = index
        self._transport = transport
        self._timers = timers
        self._clock = clock
        self._log = EventLog(data_dir, genesis, durable=durable)
        try:
            self.node = LedgerNode(
                index, genesis, ruleset, self._log, settings, verify, shared_executions
            )
        except Exception:
            self._log.close()
            raise
        self.node.listeners.append(self._answer_submitters)
        self._sign_guard = SignGuard(identity, genesis.chain_id, self._log)
        self.core = ConsensusCore(
            consensus,
            index,
            self._sign_guard.sign,
            self.node,
            verify,
        )
        lock = self._sign_guard.lock_at(self.core.height)
        if lock is not None:
            self.core.restore_lock(lock)
        self._evidence = EvidenceReporter(identity, genesis.chain_id)
        self._waiting: dict[bytes, list[ReplyTo]] = {}
        self._gossip: list[bytes] = []
        self._submitted: list[SubmitEvent] = []
        self._new_events = False

    def on_start(self) -> None:
        self._transport.attach(self.index, self.actor_ref)
        self._carry_out(self.core.start(self._clock()))

    def on_stop(self) -> None:
        self._transport.detach(self.index)
        self._log.close()

    def on_failure(self, *_: object) -> None:
        self._transport.detach(self.index)
        self._log.close()

    def on_receive(self, message: Any) -> Any:
        answer = self._guarded(lambda: self._dispatch(message), type(message).__name__)
        self._guarded(self._flush_when_idle, "admitting and gossiping after a message")
        return answer

    def _guarded(self, handle: Callable[[], Any], what: str) -> Any:
        try:
            return handle()
        except StorageError:
            log.critical(
                "validator %d cannot persist; stopping",
                self.index,
                exc_info=True,
                extra={"validator": self.index},
            )
            self.stop()
        except Exception:
            log.exception(
                "validator %d: handler failed on %s",
                self.index,
                what,
                extra={"validator": self.index},
            )
        return None

    def _dispatch(self, message: Any) -> Any:
        if isinstance(message, PeerDelivery):
            self._on_peer(message)
        elif isinstance(message, SubmitEvent):
            self._on_submit(message)
        elif isinstance(message, FireTimeout):
            self._carry_out(self.core.on_timeout(message.timeout, self._clock()))
        elif isinstance(message, Inspect):
            return message.fn(self.node)
        return None

    def _on_submit(self, message: SubmitEvent) -> None:
        """Submissions wait for the inbox to drain and are admitted as one batch, with one read
        of the log."""
        self._submitted.append(message)

    def _admit_submitted(self) -> None:
        batch, self._submitted = self._submitted, []
        envelopes = [m.envelope for m in batch]
        ids = [event_id(e) for e in envelopes]
        try:
            outcomes = self.node.admit_many(envelopes, ids)
        except Exception:
            # Answer now rather than leave the submitters to time out. An event pooled before
            # the failure goes on to a block like any other; the rest may be submitted again.
            for message, eid in zip(batch, ids, strict=True):
                if eid in self.node.mempool:
                    self._pooled(message, eid)
                else:
                    self._reply(message.reply_to, Receipt(eid, _ADMISSION_FAILED, None, self.index))
            raise
        for message, eid, rejection in zip(batch, ids, outcomes, strict=True):
            if rejection is None:
                self._pooled(message, eid)
            else:
                self._reply(message.reply_to, Receipt(eid, rejection, None, self.index))

    def _pooled(self, message: SubmitEvent, eid: bytes) -> None:
        """A submitted event is in the mempool: its submitter waits for the commit, and the
        peers hear of it with the next gossip."""
        if message.reply_to is not None:
            self._waiting.setdefault(eid, []).append(message.reply_to)
        self._gossip.append(message.envelope)
        self._new_events = True

    def _on_peer(self, delivery: PeerDelivery) -> None:
        try:
            message = decode_peer_message(delivery.payload)
        except MalformedError as exc:
            log.info(
                "validator %d: malformed message from %d: %s", self.index, delivery.sender, exc
            )
            return
        if isinstance(message, EventGossip):
            if self.node.admit_gossip(message.envelopes):
                self._new_events = True
            return
        self._carry_out(self.core.on_message(delivery.sender, message, self._clock()))

    def _flush_when_idle(self) -> None:
        """Batch: admit submissions, gossip and wake consensus once the inbox is drained, not
        per event."""
        if not self.actor_inbox.empty() and len(self._gossip) + len(self._submitted) < GOSSIP_BATCH:
            return
        for report in self._evidence.new_reports(self.core.evidence, self.node.state):
            self._on_submit(SubmitEvent(report, None))
        if self._submitted:
            self._admit_submitted()
        if self._gossip:
            batch, self._gossip = tuple(self._gossip), []
            self._transport.broadcast(self.index, encode(EventGossip(batch)))
        if self._new_events:
            self._new_events = False
            self._carry_out(self.core.on_events_available(self._clock()))

    def _carry_out(self, actions: Sequence[Action]) -> None:
        for action in self._sign_guard.released(actions):
            if isinstance(action, Broadcast):
                self._transport.broadcast(self.index, action.payload)
            elif isinstance(action, SendTo):
                self._transport.send(self.index, action.validator, action.payload)
            elif isinstance(action, ScheduleTimeout):
                self._timers.call_later(action.delay_ms, self._timeout_teller(action))

    def _timeout_teller(self, action: ScheduleTimeout) -> Callable[[], None]:
        ref = self.actor_ref

        def tell() -> None:
            if ref.is_alive():
                try:
                    ref.tell(FireTimeout(action.timeout))
                except pykka.ActorDeadError:
                    pass

        return tell

    def _answer_submitters(self, record: CommitRecord) -> None:
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
