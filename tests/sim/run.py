"""One simulated run: a seed, a validator count and a fault mix in; a trace hash and verdict out.

The run builds the consortium (real genesis, rules, ``LedgerNode`` on LMDB, ``ConsensusCore``),
draws its faults from the seed, drives clients, and checks invariants on every commit. The fault
phase is followed by healing: the network is repaired, stopped validators restart, and the honest
ones must converge to one log and one state digest within ``settle_ms`` of virtual time.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from consortium.actors.messages import Receipt
from consortium.consensus.config import ConsensusConfig
from consortium.events.genesis import Genesis, GenesisParticipant, GenesisValidator
from consortium.events.identity import Identity
from consortium.events.wire import SyncResponse, decode_peer_message
from consortium.ledger.node import CommitRecord, NodeSettings
from consortium.rules.restitution import RESTITUTION_WORKFLOWS
from consortium.rules.rulebook import RULESET
from consortium.storage.errors import LogCorruptError
from tests.sim.byzantine import behaviour_for
from tests.sim.checker import Checker, Violation
from tests.sim.faults import (
    BYZANTINE,
    MIXES,
    NETWORK_EPISODES,
    STORAGE_FAULTS,
    Fault,
    Mix,
    Observed,
)
from tests.sim.hostile import HOSTILE_CLIENT, HostileClients, hostile_identities
from tests.sim.network import Network
from tests.sim.scheduler import Deliver, Endpoint, Fire, Scheduler, Task
from tests.sim.storage_faults import corrupt
from tests.sim.validator import Behaviour, Context, SimValidator
from tests.sim.workflows import WORKFLOW_CLIENT, Workflows
from tests.sim.workload import (
    ORGANISATION,
    RETRY_MS,
    TOKEN,
    Workload,
    genesis_participants,
    identities,
)

START_MS = 1_700_000_000_000
TICK_MS = 500
CHECK_MS = 500
BAD_CLOCK_MS = 60_000
DRIFT_MS = 800
"""The most an honest clock drifts over a whole run: its rate is scaled to the run's length, so
drift matters in a short run and stays within the precision in a long one."""
STEPPED_MS = 1_500
"""The most an honest clock's skew plus its steps may put it off; with ``DRIFT_MS`` any two
honest clocks stay within ``max_clock_drift_ms`` (5 s) of each other."""
FAULT_MS = 15_000


@dataclass(frozen=True, slots=True)
class RunConfig:
    seed: int
    n: int = 4
    mix: str = "network"
    fault_ms: int = FAULT_MS
    settle_ms: int = 60_000
    users: int = 4
    block_time_ms: int = 0
    """How long proposers let a block fill (``ConsensusConfig.block_time_ms``)."""

    @property
    def replay_command(self) -> str:
        return (
            f"python -m tests.sim --seed {self.seed} --validators {self.n} --mix {self.mix} "
            f"--block-time {self.block_time_ms} --fault-ms {self.fault_ms}"
        )


@dataclass(slots=True)
class RunResult:
    config: RunConfig
    trace_hash: str
    height: int
    acknowledged: int
    virtual_ms: int
    faults: Counter[str]
    observed: Counter[str]
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


def validator_identities(n: int) -> list[Identity]:
    return [
        Identity.from_seed(f"validator-{i}", f"sim/{n}/validator/{i}".encode()) for i in range(n)
    ]


def chain_id(n: int) -> str:
    return f"sim-{n}"


def build_genesis(
    n: int, users: int, hostile: bool = False, workflows: Workflows | None = None
) -> tuple[Genesis, Identity, list[Identity]]:
    """``hostile``: Mallory is registered too (an issuer of the simulation's organisation).
    ``workflows``: the parties of the other business processes, their token and the
    restitution workflows."""
    issuer, people = identities(users)
    participants, tokens = genesis_participants(issuer, people)
    if hostile:
        mallory = hostile_identities()[0]
        participants += (GenesisParticipant("mallory", ORGANISATION, "issuer", mallory.public_key),)
    if workflows is not None:
        participants += workflows.participants
        tokens += (workflows.token,)
    validators = tuple(
        GenesisValidator(v.name, f"org-{i}", v.public_key)
        for i, v in enumerate(validator_identities(n))
    )
    flows = RESTITUTION_WORKFLOWS if workflows is not None else ()
    genesis = Genesis(chain_id(n), START_MS, validators, participants, tokens, flows)
    return genesis, issuer, people


class Simulation:
    """Also the validators' ``Hooks``: it learns of commits, receipts and stops."""

    def __init__(self, config: RunConfig, root: Path) -> None:
        self.config = config
        mix: Mix = MIXES[config.mix]
        self.mix = mix
        seed = config.seed
        self._fault_rng = random.Random(f"{seed}/faults")
        self.faults: Counter[str] = Counter()
        self.scheduler = Scheduler(START_MS)
        self.network = Network(self.scheduler, random.Random(f"{seed}/net"), self.faults, config.n)
        self.workflows = (
            Workflows(
                chain_id(config.n),
                ORGANISATION,
                random.Random(f"{seed}/workflows"),
                config.n,
                RETRY_MS,
            )
            if mix.workflows
            else None
        )
        genesis, issuer, users = build_genesis(config.n, config.users, mix.hostile, self.workflows)
        consensus = ConsensusConfig(
            genesis.chain_id, genesis.validator_keys, block_time_ms=config.block_time_ms
        )
        self.checker = Checker(consensus, genesis.genesis_time_ms)
        self.ctx = Context(
            genesis,
            RULESET,
            consensus,
            NodeSettings(max_block_events=200, mempool_capacity=5_000, state_cache_rows=64),
            root,
            self.scheduler,
            self.network,
            self,
        )
        self.workload = Workload(
            genesis.chain_id, issuer, users, random.Random(f"{seed}/work"), config.n
        )
        self.hostile = (
            HostileClients(genesis.chain_id, TOKEN, random.Random(f"{seed}/hostile"), config.n)
            if mix.hostile
            else None
        )
        self._trace = hashlib.sha256(f"{config}".encode())
        self._stopped = False
        self.validators: list[SimValidator] = []
        self._build_validators(random.Random(f"{seed}/byzantine"))
        # Faults added after the first mixes draw from their own stream: those mixes replay as
        # they did.
        self._later_rng = random.Random(f"{seed}/later faults")
        if mix.drift:
            self._drift_clocks()
        self.network.observers.append(self._watch_sync_responses)

    # ------------------------------------------------------------------ set-up

    def _build_validators(self, rng: random.Random) -> None:
        n, f = self.config.n, self.ctx.config.f
        keys = validator_identities(n)
        chosen = self._fault_rng.sample(range(n), min(n, f + self.mix.extra_byzantine))
        self.faulty = set(chosen)
        self.byzantine: set[int] = set()
        canary = self.mix.extra_byzantine > 0
        for index in range(n):
            skew = self._fault_rng.randint(-200, 200)
            behaviours: tuple[Behaviour, ...] = ()
            kind = None
            if index in self.faulty and self.mix.byzantine:
                kind = self._fault_rng.choice(self.mix.byzantine)
                self.byzantine.add(index)
                self.faults[kind] += 1
            if kind == Fault.BAD_BLOCK_TIME:
                skew = self._fault_rng.choice((-BAD_CLOCK_MS, BAD_CLOCK_MS))
            elif kind in (Fault.INVALID_VOTES, Fault.FORGED_QC, Fault.MALFORMED_FLOOD):
                behaviours = (behaviour_for(kind, random.Random(f"{self.config.seed}/{index}")),)
            primary = SimValidator(Endpoint(index), keys[index], self.ctx, skew, behaviours)
            self.validators.append(primary)
            if kind == Fault.TWINS:
                twin = SimValidator(Endpoint(index, 1), keys[index], self.ctx, skew + 700)
                self.validators.append(twin)
                self.network.endpoints[index] = [primary.endpoint, twin.endpoint]
        if canary:
            # Twins on both sides of a split of the honest validators: each side holds a quorum.
            honest = [i for i in range(n) if i not in self.byzantine]
            for position, index in enumerate(honest):
                self.network.sides[Endpoint(index)] = position % 2
            for index in self.byzantine:
                self.network.sides[Endpoint(index)] = 0
                self.network.sides[Endpoint(index, 1)] = 1
            self.network.split_honest = True
        self._endpoints = {v.endpoint: v for v in self.validators}
        for v in self.validators:
            v.boot()

    def _drift_clocks(self) -> None:
        """Every validator's clock runs fast or slow by up to ``DRIFT_MS`` over the run."""
        run_ms = self.config.fault_ms + self.config.settle_ms
        for v in self.validators:
            v.rate_ppm = self._later_rng.randint(-DRIFT_MS, DRIFT_MS) * 1_000_000 // run_ms
            self.faults[Fault.CLOCK_DRIFT] += v.rate_ppm != 0

    def honest(self) -> list[SimValidator]:
        return [v for v in self.validators if v.index not in self.byzantine]

    # ------------------------------------------------------------------- hooks

    def on_commit(self, v: SimValidator, record: CommitRecord) -> None:
        block = record.committed.block
        if v.keeping_durable_copy:  # armed: power goes once this commit's handler is done
            self._after(0, "power loss", lambda: self._lose_power(v), v.endpoint)
        self._trace.update(
            b"c%d|%s|%d|" % (self.scheduler.now, str(v.endpoint).encode(), block.header.height)
        )
        self._trace.update(block.hash)
        if v.index in self.byzantine:
            return
        latest_clock = max(h.clock for h in self.honest())
        self.checker.on_honest_commit(str(v.endpoint), record, self.scheduler.now, latest_clock)

    def on_receipt(self, v: SimValidator, client: int, receipt: Receipt) -> None:
        """Only an honest validator's receipt binds: a Byzantine one may say anything. An honest
        client retries elsewhere after a refusal at intake (no height)."""
        if client == HOSTILE_CLIENT:
            if self.hostile is not None:
                self.hostile.on_receipt(receipt)
            return
        if receipt.height is None:
            return
        if client >= WORKFLOW_CLIENT:
            acknowledged = self.workflows is not None and self.workflows.on_receipt(client, receipt)
        else:
            acknowledged = self.workload.on_receipt(client, receipt.event_id)
        if acknowledged and v.index not in self.byzantine:
            self.checker.on_receipt(receipt.event_id, receipt.height)

    def on_stopped(self, v: SimValidator, error: Exception) -> None:
        """A validator that found its log corrupt stops; the operator rebuilds it from peers."""
        if isinstance(error, LogCorruptError):
            self.ctx.observed[Observed.CORRUPTION_DETECTED] += 1
            self._after(1_000, "rebuild", v.rebuild_from_peers)
        else:
            self.violation("storage", f"{v.endpoint} stopped: {error}")

    def violation(self, kind: str, detail: str) -> None:
        self.checker.violation(kind, detail, self.scheduler.now)

    def _watch_sync_responses(self, sender: Endpoint, recipient: int, payload: bytes) -> None:
        """No honest validator serves a block other than the one the honest chain holds."""
        if sender.index in self.byzantine or b"sync_response" not in payload[:16]:
            return
        message = decode_peer_message(payload)
        assert isinstance(message, SyncResponse)
        for committed in message.blocks:
            block = committed.block
            known = self.checker.chain.get(block.header.height)
            if known is not None and known.hash != block.hash:
                self.violation("served", f"{sender} served a bad block {block.header.height}")

    # ------------------------------------------------------------------ faults

    def _after(
        self, delay_ms: int, label: str, run: Callable[[], None], target: Endpoint | None = None
    ) -> None:
        self.scheduler.after(delay_ms, Task(label, run, target))

    def _plan_faults(self) -> None:
        rng, mix, fault_ms = self._fault_rng, self.mix, self.config.fault_ms
        net = self.network
        net.loss = rng.uniform(0, mix.loss)
        net.duplicate = rng.uniform(0, mix.duplicate)
        net.delay = rng.uniform(0, mix.delay)

        def when() -> int:
            return self._when(rng)

        for _ in range(rng.randint(0, mix.episodes)):
            kind = rng.choice(NETWORK_EPISODES)
            self._after(when(), kind, self._episode(kind, rng.randint(1_000, 6_000)))
        for _ in range(rng.randint(0, mix.crashes)):
            victim = rng.randrange(self.config.n)
            self._after(when(), Fault.CRASH, self._crash(victim, rng.randint(300, 5_000)))
        for _ in range(rng.randint(0, mix.pauses)):
            victim = rng.randrange(self.config.n)
            self._after(when(), Fault.PAUSE, self._pause(victim, rng.randint(300, 5_000)))
        faulty = sorted(self.faulty - self.byzantine) or sorted(self.faulty)
        for _ in range(rng.randint(0, mix.log_losses)):
            self._after(when(), Fault.LOG_LOSS, self._lose_log(rng.choice(faulty)))
        for _ in range(rng.randint(0, mix.storage)):
            kind = rng.choice(STORAGE_FAULTS)
            self._after(when(), kind, self._corrupt(rng.choice(faulty), kind))
        self._plan_later_faults(faulty)
        self._after(fault_ms, Fault.HEAL, self._heal)

    def _when(self, rng: random.Random) -> int:
        """A time in the fault phase, early enough for the fault to end before healing."""
        return rng.randint(500, max(600, self.config.fault_ms - 3_000))

    def _plan_later_faults(self, faulty: list[int]) -> None:
        """Power losses and clock steps, drawn from a stream of their own."""
        rng, mix, n = self._later_rng, self.mix, self.config.n

        def when() -> int:
            return self._when(rng)

        for _ in range(rng.randint(0, mix.unsynced_crashes)):
            self._after(when(), "arm power loss", self._arm_power_loss(rng.randrange(n)))
        for _ in range(rng.randint(0, mix.clock_jumps)):
            victim = rng.randrange(n)
            self._after(when(), Fault.CLOCK_JUMP, self._step_clock(victim, beyond=False))
        for _ in range(rng.randint(0, mix.bad_clock_jumps)):
            victim = rng.choice(faulty)
            self._after(when(), Fault.CLOCK_JUMP_BEYOND, self._step_clock(victim, beyond=True))

    def _episode(self, kind: Fault, duration_ms: int) -> Callable[[], None]:
        def start() -> None:
            net, n, rng = self.network, self.config.n, self._fault_rng
            if kind is Fault.PARTITION:
                group = set(rng.sample(range(n), rng.randint(1, n - 1)))
                net.cut = frozenset(
                    (a, b) for a in range(n) for b in range(n) if (a in group) != (b in group)
                )
            elif kind is Fault.ASYMMETRIC:
                net.cut = frozenset(
                    (a, b) for a in range(n) for b in range(n) if a != b and rng.random() < 0.3
                )
            else:
                height = max(v.height for v in self.validators) + 1
                proposer = self.ctx.config.proposer(height, 0)
                net.cut = frozenset(
                    (a, b) for a in range(n) for b in range(n) if proposer in (a, b) and a != b
                )
            self.faults[kind] += 1
            self._after(duration_ms, "episode end", self._end_episode)

        return start

    def _end_episode(self) -> None:
        self.network.cut = frozenset()

    def _step_clock(self, index: int, beyond: bool) -> Callable[[], None]:
        """Step a clock (and its twin's) forward or back. Within the bound: to a new skew of at
        most ``STEPPED_MS``. Beyond it: by more than the drift bound, which makes the validator
        faulty from then on (it was drawn from the faulty ones, so f still holds)."""

        def step() -> None:
            rng, bound = self._later_rng, self.ctx.config.max_clock_drift_ms
            if beyond:
                change = rng.choice((-1, 1)) * rng.randint(bound + 1, BAD_CLOCK_MS)
                self.byzantine.add(index)
                kind = Fault.CLOCK_JUMP_BEYOND
            else:
                change = rng.randint(-STEPPED_MS, STEPPED_MS) - self._primary(index).skew_ms
                kind = Fault.CLOCK_JUMP
            for v in self.validators:
                if v.index == index:
                    v.skew_ms += change
            self.faults[kind] += 1

        return step

    def _primary(self, index: int) -> SimValidator:
        return next(v for v in self.validators if v.endpoint == Endpoint(index))

    def _crash(self, index: int, down_ms: int) -> Callable[[], None]:
        def crash() -> None:
            v = self._primary(index)
            if not v.up:
                return
            self.faults[Fault.CRASH] += 1
            v.crash()
            self._after(down_ms, "restart", self._restart(v))

        return crash

    def _arm_power_loss(self, index: int) -> Callable[[], None]:
        """The validator loses power right after its next commit, before it tells anyone."""

        def arm() -> None:
            v = self._primary(index)
            if v.up and not v.keeping_durable_copy:
                v.keep_durable_copy()

        return arm

    def _lose_power(self, v: SimValidator) -> None:
        """The log goes back to its last durable point (at least its last signing record and
        its last receipt); the validator restarts and fetches what it lost from its peers."""
        if not v.up or not v.keeping_durable_copy:
            return
        self.faults[Fault.CRASH_UNSYNCED] += 1
        self.ctx.observed[Observed.UNSYNCED_LOST] += v.crash_losing_unsynced()
        self._after(self._later_rng.randint(300, 5_000), "restart", self._restart(v))

    def _pause(self, index: int, pause_ms: int) -> Callable[[], None]:
        def pause() -> None:
            v = self._primary(index)
            if v.up and v.paused_until is None:
                self.faults[Fault.PAUSE] += 1
                v.paused_until = self.scheduler.now + pause_ms

        return pause

    def _lose_log(self, index: int) -> Callable[[], None]:
        def lose() -> None:
            v = self._primary(index)
            if not v.up:
                return
            self.faults[Fault.LOG_LOSS] += 1
            v.crash()
            shutil.rmtree(v.path, ignore_errors=True)
            self._after(self._fault_rng.randint(300, 3_000), "restart", self._restart(v))

        return lose

    def _corrupt(self, index: int, kind: Fault) -> Callable[[], None]:
        def damage() -> None:
            v = self._primary(index)
            if not v.up:
                return
            v.crash()
            if corrupt(v.path, kind, self._fault_rng):
                self.faults[kind] += 1
            self._after(self._fault_rng.randint(300, 3_000), "restart", self._restart(v))

        return damage

    @staticmethod
    def _restart(v: SimValidator) -> Callable[[], None]:
        """Restart unless healing (or an earlier restart) brought it back already."""
        return lambda: None if v.up else v.boot()

    def _heal(self) -> None:
        self.network.heal()
        for v in self.validators:
            v.paused_until = None
            if not v.up and v.index not in self.byzantine:
                v.boot()
        self._after(5_000, "workload closes", self._close_workload)

    def _close_workload(self) -> None:
        self.workload.open = False
        if self.workflows is not None:
            self.workflows.open = False

    # -------------------------------------------------------------------- loop

    def _every(self, period_ms: int, label: str, run: Callable[[], None]) -> None:
        def again() -> None:
            run()
            if not self._stopped:
                self._after(period_ms, label, again)

        self._after(period_ms, label, again)

    def _submit(self, index: int, envelope: bytes, client: int) -> None:
        self._submit_many(index, [envelope], client)

    def _submit_many(self, index: int, envelopes: list[bytes], client: int) -> None:
        v = self._primary(index)
        self._after(2, "submit", lambda: v.submit(envelopes, client) if v.up else None, v.endpoint)

    def _tick(self) -> None:
        for v in self.validators:
            if v.up and v.paused_until is None:
                v.tick()

    def _check_convergence(self) -> None:
        if self.scheduler.now < START_MS + self.config.fault_ms:
            return
        if self._converged():
            self._stopped = True
        elif self.workload.idle:
            self.workload.nudge(self.scheduler.now, self._submit)  # live traffic goes on

    @property
    def _idle(self) -> bool:
        return self.workload.idle and (self.workflows is None or self.workflows.idle)

    def _converged(self) -> bool:
        honest = self.honest()
        if not self._idle or not all(v.up and v.node is not None for v in honest):
            return False
        heads = {(v.log.head_height, v.log.head_hash) for v in honest if v.log is not None}
        digests = {v.node.state.table_digests() for v in honest if v.node is not None}
        return len(heads) == 1 and len(digests) == 1

    def run(self) -> RunResult:
        self._plan_faults()
        self._every(
            Workload.STEP_MS,
            "workload",
            lambda: self.workload.step(self.scheduler.now, self._submit),
        )
        if self.workflows is not None:
            flows = self.workflows
            self._every(
                Workload.STEP_MS,
                "workflows",
                lambda: flows.step(self.scheduler.now, self._submit_many),
            )
        if self.hostile is not None:
            hostile = self.hostile
            self._every(
                Workload.STEP_MS,
                "hostile",
                lambda: hostile.step(self._submit) if self.workload.open else None,
            )
        self._every(TICK_MS, "tick", self._tick)
        self._every(CHECK_MS, "check", self._check_convergence)
        deadline = START_MS + self.config.fault_ms + self.config.settle_ms
        while not self._stopped and self.scheduler.now <= deadline:
            item = self.scheduler.pop()
            if item is None:
                break
            self._dispatch(item)
            if self.mix.expect_violation and self.checker.violations:
                break
        return self._finish(deadline)

    def _dispatch(self, item: Deliver | Fire | Task) -> None:
        target = item.target
        if target is not None:
            v = self._by_endpoint(target)
            if v.paused_until is not None and self.scheduler.now < v.paused_until:
                self.scheduler.at(v.paused_until, item)
                return
            if v.paused_until is not None:
                v.paused_until = None
        if isinstance(item, Deliver):
            v = self._by_endpoint(item.target)
            if v.up:
                v.deliver(item.sender.index, item.payload)
        elif isinstance(item, Fire):
            v = self._by_endpoint(item.target)
            if v.up and v.incarnation == item.incarnation:
                v.fire(item.timeout)
        else:
            self._trace.update(b"t%d|%s|" % (self.scheduler.now, item.label.encode()))
            item.run()

    def _by_endpoint(self, endpoint: Endpoint) -> SimValidator:
        return self._endpoints[endpoint]

    def _finish(self, deadline: int) -> RunResult:
        now = self.scheduler.now
        honest = self.honest()
        if not self.mix.expect_violation:
            if not self._stopped:
                heights = {str(v.endpoint): v.height for v in honest}
                self.violation(
                    "convergence",
                    f"honest validators did not converge within {self.config.settle_ms} ms of "
                    f"healing (heights {heights}, workload idle {self._idle})",
                )
            for eid, height in sorted(self.checker.acknowledged.items()):
                for v in honest:
                    location = v.log.locate(eid) if v.log is not None else None
                    if location is None or location.height != height:
                        self.violation("lost event", f"{eid.hex()[:12]} missing from {v.endpoint}")
        evidence = [
            [row for _, row in v.node.state.rows("validator_evidence")] for v in honest if v.node
        ]
        self.ctx.observed[Observed.EVIDENCE_ON_LEDGER] += max(map(len, evidence), default=0)
        for offender in sorted({row.validator for rows in evidence for row in rows}):
            if offender not in self.faulty | self.byzantine:
                self.violation("double vote", f"v{offender} signed twice, its signing record kept")
        self.ctx.observed[Observed.DOUBLE_VOTE] += sum(v.evidence_reported for v in honest)
        if self.workflows is not None:
            for code, count in self.workflows.answers.items():
                self.ctx.observed[f"workflow {code}"] += count
        if self.hostile is not None:
            for code, count in self.hostile.answers.items():
                self.ctx.observed[f"hostile {code}"] += count
        height = max((v.height for v in honest), default=0)
        for v in self.validators:
            v.crash()
        return RunResult(
            self.config,
            self._trace.hexdigest(),
            height,
            len(self.checker.acknowledged),
            now - START_MS,
            self.faults,
            self.ctx.observed,
            list(self.checker.violations),
        )


def run_seed(config: RunConfig) -> RunResult:
    """One run in its own temporary directory, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"sim-{config.seed}-") as root:
        return Simulation(config, Path(root)).run()


__all__ = ["BYZANTINE", "RunConfig", "RunResult", "run_seed"]
