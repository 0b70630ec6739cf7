"""A simulated validator process: the real ``LedgerNode`` and ``ConsensusCore`` on a real log.

This is the shell ``actors.validator.ValidatorActor`` is, without pykka: inputs arrive from the
scheduler with the validator's local (virtual) clock, actions go to the simulated network and
timers, gossip and "events are waiting" are flushed after every input (the actor flushes when
its inbox drains), and a storage error stops the process. A crash drops everything in memory;
a restart reopens the log on disk, which rebuilds the state and checks the hash chain.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from consortium.consensus.actions import Action, Broadcast, ScheduleTimeout, SendTo, Timeout
from consortium.consensus.certificates import Verifier
from consortium.consensus.config import ConsensusConfig
from consortium.consensus.core import ConsensusCore
from consortium.events.codec import encode
from consortium.events.envelope import event_id
from consortium.events.errors import MalformedError
from consortium.events.genesis import Genesis
from consortium.events.identity import Identity
from consortium.events.results import Code
from consortium.events.verify_memo import VerificationMemo
from consortium.events.wire import EventGossip, decode_peer_message
from consortium.ledger.evidence import EvidenceReporter
from consortium.ledger.node import CommitRecord, LedgerNode, NodeSettings
from consortium.ledger.sign_guard import SignGuard
from consortium.rules.engine import Ruleset
from consortium.storage.errors import LogCorruptError, StorageError
from consortium.storage.log import EventLog
from tests.sim.faults import Observed
from tests.sim.network import Network
from tests.sim.scheduler import Endpoint, Fire, Scheduler


class Behaviour(Protocol):
    """A Byzantine deviation layered on an otherwise honest validator."""

    def outgoing(
        self, v: SimValidator, recipient: int | None, payload: bytes
    ) -> list[tuple[int | None, bytes]]:
        """What to send instead of ``payload`` (``recipient`` None: to everyone)."""

    def incoming(self, v: SimValidator, sender: int, payload: bytes) -> None:
        """React to a message before the honest code sees it."""

    def tick(self, v: SimValidator) -> None:
        """Called every ``TICK_MS`` while the validator is up."""


class Hooks(Protocol):
    """What the simulation learns from a validator."""

    def on_commit(self, v: SimValidator, record: CommitRecord) -> None: ...

    def on_receipt(self, v: SimValidator, client: int, eid: bytes, height: int) -> None: ...

    def on_stopped(self, v: SimValidator, error: StorageError) -> None: ...

    def violation(self, kind: str, detail: str) -> None: ...


@dataclass(slots=True)
class Context:
    """What every simulated validator of a run shares."""

    genesis: Genesis
    ruleset: Ruleset
    config: ConsensusConfig
    settings: NodeSettings
    root: Path
    scheduler: Scheduler
    network: Network
    hooks: Hooks
    observed: Counter[str] = field(default_factory=Counter)


class SimValidator:
    def __init__(
        self,
        endpoint: Endpoint,
        identity: Identity,
        ctx: Context,
        skew_ms: int,
        behaviours: tuple[Behaviour, ...] = (),
    ) -> None:
        self.endpoint = endpoint
        self.index = endpoint.index
        self.identity = identity
        self.ctx = ctx
        self.skew_ms = skew_ms
        self.behaviours = behaviours
        self.up = False
        self.paused_until: int | None = None
        self.incarnation = 0
        self.generation = 0
        self.log: EventLog | None = None
        self.node: LedgerNode | None = None
        self.core: ConsensusCore | None = None
        self.sign_guard: SignGuard | None = None
        self.waiting: dict[bytes, list[int]] = {}
        self._gossip: list[bytes] = []
        self._new_events = False
        self.reporter: EvidenceReporter | None = None
        self.evidence_reported = 0

    @property
    def clock(self) -> int:
        """This validator's local clock: virtual time plus its skew."""
        return self.ctx.scheduler.now + self.skew_ms

    @property
    def byzantine(self) -> bool:
        return bool(self.behaviours) or self.endpoint.twin > 0

    @property
    def path(self) -> Path:
        return self.ctx.root / f"{self.endpoint}".replace("'", "-twin") / str(self.generation)

    # ----------------------------------------------------------------- lifecycle

    def boot(self) -> None:
        """Start, or restart from the log on disk; a corrupt log is set aside and rebuilt."""
        self.incarnation += 1
        try:
            self._open()
        except LogCorruptError:
            self.ctx.observed[Observed.CORRUPTION_DETECTED] += 1
            self.rebuild_from_peers()
            return
        except Exception as exc:
            self.ctx.hooks.violation("restart", f"{self.endpoint} failed to open its log: {exc!r}")
            self.rebuild_from_peers()
            return
        self.up = True
        self._guard(lambda: self._carry_out(self._core.start(self.clock)))

    def rebuild_from_peers(self) -> None:
        """What an operator does with a log that fails its checks: set it aside, start empty."""
        self.crash()
        shutil.rmtree(self.path, ignore_errors=True)
        self.generation += 1
        self.ctx.observed[Observed.REBUILT_FROM_PEERS] += 1
        self.boot()

    def _open(self) -> None:
        ctx = self.ctx
        event_log = EventLog(self.path, ctx.genesis, durable=False)
        verify: Verifier = VerificationMemo().verify
        try:
            node = LedgerNode(self.index, ctx.genesis, ctx.ruleset, event_log, ctx.settings, verify)
        except Exception:
            event_log.close()
            raise
        node.listeners.append(self._on_commit)
        chain = ctx.genesis.chain_id
        sign_guard = SignGuard(self.identity, chain, event_log)
        self.core = ConsensusCore(
            ctx.config,
            self.index,
            sign_guard.sign,
            node,
            verify,
        )
        lock = sign_guard.lock_at(self.core.height)
        if lock is not None:
            self.core.restore_lock(lock)
        self.log, self.node, self.sign_guard = event_log, node, sign_guard
        self.reporter = EvidenceReporter(self.identity, chain)

    def crash(self) -> None:
        """Lose everything in memory; what was committed stays in the log."""
        if self.log is not None:
            self.log.close()
        self.up = False
        self.log = self.node = self.core = self.reporter = self.sign_guard = None
        self.waiting.clear()
        self._gossip.clear()
        self._new_events = False

    # -------------------------------------------------------------------- inputs

    def deliver(self, sender: int, payload: bytes) -> None:
        for behaviour in self.behaviours:
            behaviour.incoming(self, sender, payload)
        self._guard(lambda: self._on_peer(sender, payload))

    def fire(self, timeout: Timeout) -> None:
        self._guard(lambda: self._carry_out(self._core.on_timeout(timeout, self.clock)))

    def submit(self, envelope: bytes, client: int | None) -> None:
        self._guard(lambda: self._on_submit(envelope, client))

    def tick(self) -> None:
        for behaviour in self.behaviours:
            behaviour.tick(self)

    def _on_submit(self, envelope: bytes, client: int | None) -> None:
        eid = event_id(envelope)
        rejection = self._node.admit(envelope, eid)
        if rejection is not None:
            if client is None:
                return
            location = self._node.log.locate(eid)
            if location is not None:  # committed already: answer as the actor's receipt would
                self.ctx.hooks.on_receipt(self, client, eid, location.height)
            elif rejection.code is Code.DUPLICATE:  # pending here: answer when it commits
                self.waiting.setdefault(eid, []).append(client)
            return
        if client is not None:
            self.waiting.setdefault(eid, []).append(client)
        self._gossip.append(envelope)
        self._new_events = True

    def _on_peer(self, sender: int, payload: bytes) -> None:
        try:
            message = decode_peer_message(payload)
        except MalformedError:
            return
        if isinstance(message, EventGossip):
            if self._node.admit_gossip(message.envelopes):
                self._new_events = True
            return
        self._carry_out(self._core.on_message(sender, message, self.clock))

    def _guard(self, step: Callable[[], None]) -> None:
        """Run one input like the actor does: a storage error stops the process."""
        try:
            step()
            self._flush()
        except StorageError as exc:
            self.crash()
            self.ctx.hooks.on_stopped(self, exc)
        except Exception as exc:
            self.ctx.hooks.violation("handler", f"{self.endpoint} raised {exc!r}")

    def _flush(self) -> None:
        if not self.up:
            return
        assert self.reporter is not None
        for report in self.reporter.new_reports(self._core.evidence, self._node.state):
            self.evidence_reported += 1
            self._on_submit(report, None)
        if self._gossip:
            batch, self._gossip = tuple(self._gossip), []
            self.send(None, encode(EventGossip(batch)))
        if self._new_events:
            self._new_events = False
            self._carry_out(self._core.on_events_available(self.clock))

    # ------------------------------------------------------------------- outputs

    def _carry_out(self, actions: list[Action]) -> None:
        assert self.sign_guard is not None, f"{self.endpoint} is down"
        for action in self.sign_guard.released(actions):
            if isinstance(action, Broadcast):
                self.send(None, action.payload)
            elif isinstance(action, SendTo):
                self.send(action.validator, action.payload)
            elif isinstance(action, ScheduleTimeout):
                fire = Fire(self.endpoint, self.incarnation, action.timeout)
                self.ctx.scheduler.after(action.delay_ms, fire)

    def send(self, recipient: int | None, payload: bytes) -> None:
        """Send through this validator's behaviours (none for an honest one)."""
        messages = [(recipient, payload)]
        for behaviour in self.behaviours:
            messages = [m for r, p in messages for m in behaviour.outgoing(self, r, p)]
        self.send_raw(messages)

    def send_raw(self, messages: list[tuple[int | None, bytes]]) -> None:
        network = self.ctx.network
        for recipient, payload in messages:
            if recipient is None:
                network.broadcast(self.endpoint, payload)
            elif recipient != self.index:
                network.send(self.endpoint, recipient, payload)

    def _on_commit(self, record: CommitRecord) -> None:
        self.ctx.hooks.on_commit(self, record)
        height = record.committed.block.header.height
        for eid in record.event_ids:
            for client in self.waiting.pop(eid, ()):
                self.ctx.hooks.on_receipt(self, client, eid, height)

    # ------------------------------------------------------------------- access

    @property
    def _core(self) -> ConsensusCore:
        assert self.core is not None, f"{self.endpoint} is down"
        return self.core

    @property
    def _node(self) -> LedgerNode:
        assert self.node is not None, f"{self.endpoint} is down"
        return self.node

    @property
    def height(self) -> int:
        """The last committed height (0 when down or empty)."""
        return self.log.head_height if self.log is not None else 0
