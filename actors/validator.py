"""The validator actor: a thin pykka shell around ``ledger.validator_loop.ValidatorLoop``.

The loop holds all of a validator's message handling; this shell opens its log, gives it the
transport as its outbox, the process's timer thread as its timers and the clock, and turns inbox
messages into loop calls. An empty inbox is what lets the loop flush (admit the waiting
submissions, gossip, wake consensus), so a burst of messages is handled as one batch. No handler
lets an exception out: pykka stops an actor whose handler raises, and one bad message must never
take a validator down. The exceptions to the exception are ``HALTING_ERRORS``: a validator that
cannot persist, or cannot execute a block a quorum certified, stops rather than diverge.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pykka

from consortium.actors.messages import FireTimeout, Inspect, SubmitEvent, Subscribe, Unsubscribe
from consortium.actors.timers import TimerService
from consortium.actors.transport import PeerDelivery, Transport
from consortium.consensus.actions import Timeout
from consortium.consensus.certificates import Verifier
from consortium.consensus.config import ConsensusConfig
from consortium.events.genesis import Genesis
from consortium.events.identity import Identity
from consortium.events.logs import get_logger
from consortium.events.signing import verify_signature
from consortium.ledger.execution_memo import ExecutionMemo
from consortium.ledger.node import NodeSettings
from consortium.ledger.validator_loop import HALTING_ERRORS, Clock, ValidatorLoop
from consortium.rules.engine import Ruleset
from consortium.storage.log import EventLog

log = get_logger(__name__)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class _TransportOutbox:
    """The loop's outbox: the transport, sending as validator ``index``."""

    def __init__(self, index: int, transport: Transport) -> None:
        self._index = index
        self._transport = transport

    def broadcast(self, payload: bytes) -> None:
        self._transport.broadcast(self._index, payload)

    def send(self, recipient: int, payload: bytes) -> None:
        self._transport.send(self._index, recipient, payload)


class _ActorTimers:
    """The loop's timers: the shared timer thread tells this actor ``FireTimeout``."""

    def __init__(self, timers: TimerService, ref: pykka.ActorRef[Any]) -> None:
        self._timers = timers
        self._ref = ref

    def schedule(self, delay_ms: int, timeout: Timeout) -> None:
        ref = self._ref

        def tell() -> None:
            if ref.is_alive():
                try:
                    ref.tell(FireTimeout(timeout))
                except pykka.ActorDeadError:
                    pass

        self._timers.call_later(delay_ms, tell)


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
        self.loop = ValidatorLoop(
            index,
            identity,
            genesis,
            EventLog(data_dir, genesis, durable=durable),
            ruleset,
            consensus,
            settings,
            _TransportOutbox(index, transport),
            _ActorTimers(timers, self.actor_ref),
            clock,
            verify,
            shared_executions,
        )

    def on_start(self) -> None:
        self._transport.attach(self.index, self.actor_ref)
        self.loop.start()

    def on_stop(self) -> None:
        self._transport.detach(self.index)
        self.loop.close()

    def on_failure(self, *_: object) -> None:
        self._transport.detach(self.index)
        self.loop.close()

    def on_receive(self, message: Any) -> Any:
        answer = self._guarded(lambda: self._dispatch(message), type(message).__name__)
        self._guarded(
            lambda: self.loop.flush(inbox_empty=self.actor_inbox.empty()),
            "admitting and gossiping after a message",
        )
        return answer

    def _guarded(self, handle: Callable[[], Any], what: str) -> Any:
        try:
            return handle()
        except HALTING_ERRORS:
            log.critical(
                "validator %d cannot persist or execute a committed block; stopping",
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
            self.loop.on_peer(message.sender, message.payload)
        elif isinstance(message, SubmitEvent):
            self.loop.submit(message.envelope, message.reply_to)
        elif isinstance(message, FireTimeout):
            self.loop.on_timeout(message.timeout)
        elif isinstance(message, Subscribe):
            self.loop.node.listeners.append(message.listener)
        elif isinstance(message, Unsubscribe):
            if message.listener in self.loop.node.listeners:
                self.loop.node.listeners.remove(message.listener)
        elif isinstance(message, Inspect):
            return message.fn(self.loop.node)
        return None
