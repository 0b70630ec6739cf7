"""A simulated validator process: the production ``ValidatorLoop`` on a real log.

The loop is the one ``actors.validator.ValidatorActor`` wraps; this shell is its pykka-free
twin: inputs arrive from the scheduler, the outbox is the simulated network (through the
validator's Byzantine behaviours, if any), timers are scheduler items, and the clock is virtual
time plus this validator's skew. There is no inbox, so the loop flushes after every input. A
storage error stops the process. A crash drops everything in memory; a restart reopens the log on
disk, which rebuilds the state and checks the hash chain.

The logs are opened without syncing, so a crash may also lose the writes since the last durable
point (``crash_losing_unsynced``). The durable points are what the validator told anyone: every
signing record (the log syncs it before the signature leaves) and every receipt with a height
(a committed event acknowledged to its client). Between them a validator commits blocks it got
from peers or that hold none of its clients' events, and writes refusal records; a crash there
may take those back, and the validator must fetch the blocks again.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from consortium.actors.messages import Receipt
from consortium.consensus.actions import Timeout
from consortium.consensus.config import ConsensusConfig
from consortium.events.genesis import Genesis
from consortium.events.identity import Identity
from consortium.events.verify_memo import VerificationMemo
from consortium.ledger.node import CommitRecord, LedgerNode, NodeSettings
from consortium.ledger.validator_loop import HALTING_ERRORS, ValidatorLoop
from consortium.rules.engine import Ruleset
from consortium.storage.errors import LogCorruptError
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


class WatchedLog(EventLog):
    """The production log, telling its validator after each signing record it wrote."""

    def __init__(self, path: Path, genesis: Genesis, on_signed: Callable[[], None]) -> None:
        super().__init__(path, genesis, durable=False)
        self._on_signed = on_signed

    def record_signed(self, records: Sequence[tuple[int, bytes, bytes]]) -> None:
        super().record_signed(records)
        if records:
            self._on_signed()


class Hooks(Protocol):
    """What the simulation learns from a validator."""

    def on_commit(self, v: SimValidator, record: CommitRecord) -> None: ...

    def on_receipt(self, v: SimValidator, client: int, receipt: Receipt) -> None: ...

    def on_stopped(self, v: SimValidator, error: Exception) -> None: ...

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
        """The clock's offset from virtual time at the start of the run (jumps move it)."""
        self.rate_ppm = 0
        """How fast the clock runs wrong, in millionths: it gains ``rate_ppm`` ms per 1,000 s."""
        self._epoch_ms = ctx.scheduler.now
        self.behaviours = behaviours
        self.up = False
        self.paused_until: int | None = None
        self.incarnation = 0
        self.generation = 0
        self.loop: ValidatorLoop | None = None
        self._reported_before = 0
        self._durable_height = 0
        self.keeping_durable_copy = False
        """Copy the log's file at each durable point, so a crash can lose what came after."""

    @property
    def clock(self) -> int:
        """This validator's local clock: virtual time plus its skew plus its drift so far."""
        return self.ctx.scheduler.now + self.offset_ms

    @property
    def offset_ms(self) -> int:
        elapsed = self.ctx.scheduler.now - self._epoch_ms
        return self.skew_ms + elapsed * self.rate_ppm // 1_000_000

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
            self.loop = self._open()
        except LogCorruptError:
            self.ctx.observed[Observed.CORRUPTION_DETECTED] += 1
            self.rebuild_from_peers()
            return
        except Exception as exc:
            self.ctx.hooks.violation("restart", f"{self.endpoint} failed to open its log: {exc!r}")
            self.rebuild_from_peers()
            return
        self.up = True
        self._guard(self._loop.start)

    def rebuild_from_peers(self) -> None:
        """What an operator does with a log that fails its checks: set it aside, start empty."""
        self.crash()
        shutil.rmtree(self.path, ignore_errors=True)
        self._durable_copy.unlink(missing_ok=True)
        self.keeping_durable_copy = False
        self.generation += 1
        self.ctx.observed[Observed.REBUILT_FROM_PEERS] += 1
        self.boot()

    def _open(self) -> ValidatorLoop:
        ctx = self.ctx
        loop = ValidatorLoop(
            self.index,
            self.identity,
            ctx.genesis,
            WatchedLog(self.path, ctx.genesis, self._at_durable_point),
            ctx.ruleset,
            ctx.config,
            ctx.settings,
            self,
            self,
            lambda: self.clock,
            VerificationMemo().verify,
        )
        loop.node.listeners.insert(0, self._on_commit)  # the run sees a commit before receipts
        return loop

    def crash(self) -> None:
        """Lose everything in memory; what was committed stays in the log."""
        if self.loop is not None:
            self._reported_before += self.loop.evidence_reported
            self.loop.close()
        self.up = False
        self.loop = None

    def keep_durable_copy(self) -> None:
        """From now on keep the log's file as of its last durable point (now, to begin with)."""
        self.keeping_durable_copy = True
        self._at_durable_point()

    def crash_losing_unsynced(self) -> int:
        """Crash as power loss would: the file goes back to the last durable point. Returns how
        many committed heights that took back."""
        lost = self.height - self._durable_height
        self.crash()
        self.keeping_durable_copy = False
        self._durable_copy.replace(self.path / "data.mdb")
        return lost

    @property
    def _durable_copy(self) -> Path:
        return self.path.with_name(f"{self.generation}.durable.mdb")

    def _at_durable_point(self) -> None:
        if self.keeping_durable_copy and self.loop is not None:
            shutil.copyfile(self.path / "data.mdb", self._durable_copy)
            self._durable_height = self.height

    # -------------------------------------------------------------------- inputs

    def deliver(self, sender: int, payload: bytes) -> None:
        for behaviour in self.behaviours:
            behaviour.incoming(self, sender, payload)
        self._guard(lambda: self._loop.on_peer(sender, payload))

    def fire(self, timeout: Timeout) -> None:
        self._guard(lambda: self._loop.on_timeout(timeout))

    def submit(self, envelopes: list[bytes], client: int) -> None:
        """Events handed over at once, in order: one flush, so one gossip batch keeps it."""

        def answer(receipt: Receipt) -> None:
            if receipt.height is not None:
                self._at_durable_point()  # the client now holds an acknowledgement
            self.ctx.hooks.on_receipt(self, client, receipt)

        def intake() -> None:
            for envelope in envelopes:
                self._loop.submit(envelope, answer)

        self._guard(intake)

    def tick(self) -> None:
        for behaviour in self.behaviours:
            behaviour.tick(self)

    def _guard(self, step: Callable[[], None]) -> None:
        """Run one input as the actor does, then flush (the inbox is always empty here): a
        storage error stops the process, any other exception is a bug the run reports."""
        try:
            step()
            if self.loop is not None:
                self.loop.flush(inbox_empty=True)
        except HALTING_ERRORS as exc:
            self.crash()
            self.ctx.hooks.on_stopped(self, exc)
        except Exception as exc:
            self.ctx.hooks.violation("handler", f"{self.endpoint} raised {exc!r}")

    # --------------------------------------------------- the loop's outbox, timers

    def broadcast(self, payload: bytes) -> None:
        self._send(None, payload)

    def send(self, recipient: int, payload: bytes) -> None:
        self._send(recipient, payload)

    def schedule(self, delay_ms: int, timeout: Timeout) -> None:
        self.ctx.scheduler.after(delay_ms, Fire(self.endpoint, self.incarnation, timeout))

    def _send(self, recipient: int | None, payload: bytes) -> None:
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

    # ------------------------------------------------------------------- access

    @property
    def _loop(self) -> ValidatorLoop:
        assert self.loop is not None, f"{self.endpoint} is down"
        return self.loop

    @property
    def node(self) -> LedgerNode | None:
        return self.loop.node if self.loop is not None else None

    @property
    def log(self) -> EventLog | None:
        return self.loop.log if self.loop is not None else None

    @property
    def evidence_reported(self) -> int:
        """Double-vote reports of every incarnation of this validator."""
        current = self.loop.evidence_reported if self.loop is not None else 0
        return self._reported_before + current

    @property
    def height(self) -> int:
        """The last committed height (0 when down or empty)."""
        return self.loop.log.head_height if self.loop is not None else 0
