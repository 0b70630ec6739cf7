"""A deterministic in-memory network for the pure consensus core: virtual time, no threads.

Validators are ``ConsensusCore`` instances over ``MemoryApp``; every message and timeout goes
through one heap ordered by (virtual time, sequence), so a run is a function of its inputs.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from consortium.consensus.actions import Action, Broadcast, ScheduleTimeout, SendTo, Timeout
from consortium.consensus.application import Head
from consortium.consensus.config import ConsensusConfig
from consortium.consensus.core import ConsensusCore
from consortium.events.block import Block, BlockHeader, CommittedBlock
from consortium.events.identity import Identity
from consortium.events.signing import Domain
from consortium.events.wire import decode_peer_message

ZERO = bytes(32)


class MemoryApp:
    """An application whose events are opaque byte strings and whose state is the chain itself."""

    def __init__(self, chain_id: str) -> None:
        self.chain_id = chain_id
        self.chain: list[CommittedBlock] = []
        self.pending: list[bytes] = []
        self.bad_blocks: set[bytes] = set()
        self.max_block_events = 100
        self.deadlines: list[int] = []
        """Ledger times something falls due at; a block at or after one handles it."""

    def head(self) -> Head:
        if not self.chain:
            return Head(0, ZERO, 0)
        block = self.chain[-1].block
        return Head(block.header.height, block.hash, block.header.time_ms)

    def build_block(
        self, height: int, round_: int, proposer: int, time_ms: int, allow_empty: bool
    ) -> Block | None:
        if not self.pending and not allow_empty:
            return None
        events = tuple(self.pending[: self.max_block_events])
        root = hashlib.sha256(b"".join(events)).digest()
        header = BlockHeader(
            self.chain_id,
            height,
            round_,
            self.head().block_hash,
            proposer,
            time_ms,
            len(events),
            root,
            b"",
            0,
            b"",
            (),
        )
        return Block(header, events)

    def check_block(self, block: Block) -> str | None:
        head = self.head()
        h = block.header
        if h.height != head.height + 1 or h.prev_hash != head.block_hash:
            return "does not extend head"
        if h.time_ms <= head.time_ms:
            return "time not after previous"
        if hashlib.sha256(b"".join(block.events)).digest() != h.events_root:
            return "events root"
        return None

    def commit(self, committed: CommittedBlock) -> None:
        assert self.check_block(committed.block) is None
        self.chain.append(committed)
        done = set(committed.block.events)
        self.pending = [e for e in self.pending if e not in done]

    def committed_blocks(self, from_height: int, limit: int) -> list[CommittedBlock]:
        return self.chain[from_height - 1 : from_height - 1 + limit]

    def has_pending_events(self) -> bool:
        return bool(self.pending)

    def has_full_block(self) -> bool:
        return len(self.pending) >= self.max_block_events

    def next_due_ms(self) -> int | None:
        head_ms = self.head().time_ms
        return min((t for t in self.deadlines if t > head_ms), default=None)


@dataclass(order=True)
class _Item:
    due: int
    seq: int
    kind: str = field(compare=False)
    target: int = field(compare=False)
    sender: int = field(compare=False)  # of a message; of a timeout, the target's incarnation
    payload: object = field(compare=False)


class MemoryNetwork:
    def __init__(self, n: int, latency_ms: int = 5, timeouts: dict[str, int] | None = None) -> None:
        self.identities = [Identity.from_seed(f"v{i}", f"core-test/{i}".encode()) for i in range(n)]
        self.config = ConsensusConfig(
            "core-test", tuple(i.public_key for i in self.identities), **(timeouts or {})
        )
        self.latency_ms = latency_ms
        self.now = 1_000_000
        self._queue: list[_Item] = []
        self._seq = itertools.count()
        self.down: set[int] = set()
        self.incarnations = [0] * n
        self.link_ok: Callable[[int, int], bool] = lambda a, b: True
        self.apps = [MemoryApp("core-test") for _ in range(n)]
        self.signed: list[list[tuple[Domain, bytes]]] = [[] for _ in range(n)]
        """What each validator signed, in order (domain, body)."""
        self.cores = [self._core(i) for i in range(n)]
        for i in range(n):
            self._carry_out(i, self.cores[i].start(self.now))

    def _core(self, i: int) -> ConsensusCore:
        identity = self.identities[i]

        def sign(domain: Domain, body: bytes, _proof: bytes) -> tuple[bytes, bytes]:
            self.signed[i].append((domain, body))
            return body, identity.sign(domain, "core-test", body)

        return ConsensusCore(self.config, i, sign, self.apps[i])

    def submit(self, event: bytes, to: tuple[int, ...] | None = None) -> None:
        for i in to if to is not None else range(len(self.cores)):
            if i in self.down:
                continue
            self.apps[i].pending.append(event)
            self._carry_out(i, self.cores[i].on_events_available(self.now))

    def crash(self, i: int) -> None:
        self.down.add(i)

    def restart(
        self,
        i: int,
        lost_record: bool = False,
        wipe: bool = False,
        log_created_ms: int | None = None,
    ) -> None:
        """Restart from the app's committed chain: the in-memory stand-in for a log on disk.
        ``wipe`` loses the chain too (the whole log); ``lost_record`` tells the core its signing
        record is gone, as the shell does when the sign guard finds none; ``log_created_ms``:
        when the log it restarts on was first started (default: now, a new log)."""
        self.down.discard(i)
        self.incarnations[i] += 1
        if wipe:
            self.apps[i] = MemoryApp("core-test")
        self.cores[i] = self._core(i)
        if lost_record:
            chain = self.apps[i].chain
            first_ms = chain[0].block.header.time_ms if chain else None
            self.cores[i].watch_before_signing(self.now, log_created_ms, first_ms)
        self._carry_out(i, self.cores[i].start(self.now))

    def _push(self, due: int, kind: str, target: int, sender: int, payload: object) -> None:
        heapq.heappush(self._queue, _Item(due, next(self._seq), kind, target, sender, payload))

    def _carry_out(self, i: int, actions: list[Action]) -> None:
        for a in actions:
            if isinstance(a, Broadcast):
                for j in range(len(self.cores)):
                    if j != i:
                        self._push(self.now + self.latency_ms, "msg", j, i, a.payload)
            elif isinstance(a, SendTo):
                self._push(self.now + self.latency_ms, "msg", a.validator, i, a.payload)
            elif isinstance(a, ScheduleTimeout):
                # A timer remembers the incarnation that set it, as an actor's dies with it.
                self._push(self.now + a.delay_ms, "timeout", i, self.incarnations[i], a.timeout)

    def step(self) -> bool:
        if not self._queue:
            return False
        item = heapq.heappop(self._queue)
        self.now = max(self.now, item.due)
        i = item.target
        if i in self.down or (item.kind == "msg" and not self.link_ok(item.sender, i)):
            return True
        if item.kind == "timeout" and item.sender != self.incarnations[i]:
            return True
        core = self.cores[i]
        if item.kind == "timeout":
            assert isinstance(item.payload, Timeout)
            stale = not core.may_act_on(item.payload)
            actions = core.on_timeout(item.payload, self.now)
            # Validators' timer thread drops the timeouts may_act_on calls stale, unseen by the
            # core: every test on this network checks that dropping them changes nothing.
            assert not (stale and actions), (item.payload, actions)
            self._carry_out(i, actions)
        else:
            assert isinstance(item.payload, bytes)
            message = decode_peer_message(item.payload)
            self._carry_out(i, core.on_message(item.sender, message, self.now))
        return True

    def advance_to(self, time_ms: int) -> None:
        """Deliver everything due by ``time_ms``, then let the clock reach it."""
        while self._queue and self._queue[0].due <= time_ms:
            self.step()
        self.now = max(self.now, time_ms)

    def run_until(self, done: Callable[[], bool], max_ms: int = 120_000) -> bool:
        deadline = self.now + max_ms
        while not done():
            if not self.step() or self.now > deadline:
                return done()
        return True

    def commit_in_turn(self, count: int, among: tuple[int, ...] | None = None) -> int:
        """Submit ``count`` events to ``among`` (default: all), each once the previous one is
        committed there, as a client waiting for each would; the virtual time it took."""
        ids = among if among is not None else tuple(range(len(self.cores)))
        began = self.now
        for _ in range(count):
            target = max(self.heights()[i] for i in ids) + 1
            self.submit(f"event-{target}".encode(), to=ids)
            assert self.run_until(self._reached(target, ids))
        return self.now - began

    def _reached(self, height: int, ids: tuple[int, ...]) -> Callable[[], bool]:
        return lambda: all(self.heights()[i] >= height for i in ids)

    def heights(self) -> list[int]:
        return [len(app.chain) for app in self.apps]
