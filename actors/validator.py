"""The validator actor: a thin pykka shell around ``ledger.validator_loop.ValidatorLoop``.

The loop holds all of a validator's message handling; this shell opens its log, gives it the
transport as its outbox, the process's timer thread as its timers and the clock, and turns inbox
messages into loop calls. An empty inbox is what lets the loop flush (admit the waiting
submissions, gossip, wake consensus), so a burst of messages is handled as one batch. No handler
lets an exception out: pykka stops an actor whose handler raises, and one bad message must never
take a validator down. The exceptions to the exception are ``HALTING_ERRORS``: a validator that
cannot persist, or cannot execute a block a quorum certified, stops rather than diverge.

Each validator also runs a scrubber (``ledger.scrubber``) on a thread of its own, which re-reads
the log at a bounded rate. The shell holds ``_log_lock`` while it handles a message and the
scrubber while it reads, so the scrubber never reads during a commit (which may remap the
file) or after the log is closed. Damage to the stored state comes back as ``StateDamaged``: the
validator then rebuilds its state from the log before it handles the next message, whichever
it is (``StateDamaged`` itself only wakes an idle validator).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pykka

from consortium.actors.messages import (
    FireTimeout,
    Inspect,
    ReadScrubberProgress,
    StateDamaged,
    SubmitEvent,
    Subscribe,
    Unsubscribe,
)
from consortium.actors.timers import TimerService
from consortium.actors.transport import PeerDelivery, Transport
from consortium.consensus.actions import Timeout
from consortium.consensus.certificates import Verifier
from consortium.consensus.config import ConsensusConfig
from consortium.events.genesis import Genesis
from consortium.events.identity import Identity
from consortium.events.logs import get_logger
from consortium.events.signing import verify_signature
from consortium.ledger.node import NodeSettings
from consortium.ledger.process_shares import NOTHING_SHARED, ProcessShares
from consortium.ledger.scrubber import (
    Damage,
    Pace,
    Scrubber,
    ScrubberConfig,
    ScrubberProgress,
    ScrubberThread,
    certified_digests,
    differing_keys,
)
from consortium.ledger.validator_loop import HALTING_ERRORS, Clock, LoopMetrics, ValidatorLoop
from consortium.rules.engine import Ruleset, genesis_state
from consortium.storage.log import EventLog

log = get_logger(__name__)
SCRUB_BY_DEFAULT = ScrubberConfig()


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

    def __init__(
        self,
        timers: TimerService,
        ref: pykka.ActorRef[Any],
        wanted: Callable[[Timeout], bool],
    ) -> None:
        self._timers = timers
        self._ref = ref
        self._wanted = wanted
        """The core's ``may_act_on``: stale timeouts are dropped on the timer thread."""

    def schedule(self, delay_ms: int, timeout: Timeout) -> None:
        ref = self._ref

        def tell() -> None:
            if ref.is_alive():
                try:
                    ref.tell(FireTimeout(timeout))
                except pykka.ActorDeadError:
                    pass

        self._timers.call_later(delay_ms, tell, lambda: self._wanted(timeout))


class ValidatorMetrics(LoopMetrics, Protocol):
    """What the loop reports, and the shell's part: the scrubber's progress, read at each
    scrape (``consortium.metrics.ValidatorMetrics`` implements both)."""

    def watch_scrubber(self, progress: Callable[[], ScrubberProgress | None]) -> None: ...


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
        shared: ProcessShares = NOTHING_SHARED,
        scrubbing: ScrubberConfig = SCRUB_BY_DEFAULT,
        metrics: ValidatorMetrics | None = None,
    ) -> None:
        super().__init__()
        self.index = index
        self._transport = transport
        self._scrubbing = scrubbing
        self._scrubber: ScrubberThread | None = None
        self._metrics = metrics
        self._damaged_state: Damage | None = None
        """Set by the scrubber's thread: the state is rebuilt before the next message."""
        self._damaged_blocks: set[tuple[int, str]] = set()
        """Damaged block records logged already (by the scrubber's thread): they stay damaged,
        and every pass finds them again."""
        self._log_lock = threading.Lock()
        self.loop = ValidatorLoop(
            index,
            identity,
            genesis,
            EventLog(data_dir, genesis, durable=durable),
            ruleset,
            consensus,
            settings,
            _TransportOutbox(index, transport),
            _ActorTimers(timers, self.actor_ref, lambda t: self.loop.core.may_act_on(t)),
            clock,
            verify,
            shared,
            metrics,
        )

    def on_start(self) -> None:
        self._transport.attach(self.index, self.actor_ref)
        self.loop.start()
        if self._scrubbing.enabled:
            self._scrubber = ScrubberThread(
                f"scrubber-{self.index}", self._make_scrubber, self._scrubbing
            )
            self._scrubber.start()
            if self._metrics is not None:
                self._metrics.watch_scrubber(self._scrubber.scrubber.progress)

    def _make_scrubber(self, pace: Pace) -> Scrubber:
        node = self.loop.node
        at_genesis = genesis_state(node.genesis, node.ruleset).table_digests()
        return Scrubber(
            node.log,
            node.ruleset.schema,
            certified_digests(node.log, at_genesis),
            self._scrubbing,
            self._log_lock,
            self._report_damage,
            pace,
        )

    def on_stop(self) -> None:
        self._close()

    def on_failure(self, *_: object) -> None:
        self._close()

    def _close(self) -> None:
        self._transport.detach(self.index)
        if self._scrubber is not None:
            self._scrubber.stop()
        with self._log_lock:
            if self._scrubber is not None:
                self._scrubber.scrubber.close()
            self.loop.close()

    def on_receive(self, message: Any) -> Any:
        with self._log_lock:
            damage, self._damaged_state = self._damaged_state, None
            if damage is not None:
                self._guarded(lambda: self._rebuild_state(damage), "rebuilding a damaged state")
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
        elif isinstance(message, StateDamaged):
            pass  # a wake-up: ``on_receive`` rebuilt the state before this message
        elif isinstance(message, ReadScrubberProgress):
            return None if self._scrubber is None else self._scrubber.scrubber.progress()
        return None

    def _report_damage(self, damage: Damage) -> None:
        """On the scrubber's thread: log what it found; have a damaged state rebuilt."""
        extra = {"validator": self.index, "height": damage.height, "table": damage.table}
        if not damage.in_state:
            if (damage.height, damage.what) in self._damaged_blocks:
                return
            self._damaged_blocks.add((damage.height, damage.what))
            log.error(
                "validator %d: the scrubber found a damaged block record: %s. Restore this "
                "validator's directory from a backup, or resync it from its peers",
                self.index,
                damage.describe(),
                extra=extra,
            )
            return
        log.warning(
            "validator %d: the scrubber found the stored state damaged (%s); rebuilding it "
            "from the log",
            self.index,
            damage.describe(),
            extra=extra,
        )
        self._damaged_state = damage
        try:
            self.actor_ref.tell(StateDamaged(damage))
        except pykka.ActorDeadError:
            pass

    def _rebuild_state(self, damage: Damage) -> None:
        """Replace the state by one replayed from the log, each block held against its header.
        Nothing else is handled meanwhile, so no query is answered from the damaged state.
        The damaged state's reader still sees the rows as they were (its read transaction is
        a snapshot), which says which rows the rebuild changed."""
        node = self.loop.node
        damaged = node.state
        node.log.mark_state_stale()
        node.open_state()
        changed = "no row"
        if damage.table is not None:
            keys, count, unreadable = differing_keys(damaged, node.state, damage.table)
            listed = ", ".join(key.hex() for key in keys) + (", …" if count > len(keys) else "")
            changed = f"{count} row(s) of {damage.table} ({listed})"
            if unreadable is not None:
                changed += f", and the damaged rows from there on could not be read: {unreadable}"
        node.log.release_state_rows(damaged.committed_rows)
        log.warning(
            "validator %d: state rebuilt from the log at height %d; it changed %s",
            self.index,
            node.log.head_height,
            changed,
            extra={"validator": self.index, "height": node.log.head_height},
        )
