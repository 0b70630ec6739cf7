"""A small payments ledger for tests of the rules: one organisation, a token, two users."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import msgspec

from consortium.events.body import EventBody
from consortium.events.envelope import event_id, seal
from consortium.events.genesis import Genesis, GenesisParticipant, GenesisValidator, TokenDefinition
from consortium.events.identity import Identity
from consortium.events.results import EventResult
from consortium.rules.engine import Ruleset, execute_events, genesis_state
from consortium.rules.rulebook import RULESET
from consortium.rules.state import State

CHAIN = "test-chain"


def ident(name: str) -> Identity:
    return Identity.from_seed(name, f"{CHAIN}/{name}".encode())


ADMIN = ident("admin")
ALICE = ident("alice")
BOB = ident("bob")
VALIDATORS = [ident(f"validator-{i}") for i in range(4)]

GENESIS = Genesis(
    chain_id=CHAIN,
    genesis_time_ms=1_000,
    validators=tuple(GenesisValidator(v.name, "org", v.public_key) for v in VALIDATORS),
    participants=(
        GenesisParticipant("admin", "org", "org_admin", ADMIN.public_key),
        GenesisParticipant("alice", "org", "user", ALICE.public_key),
        GenesisParticipant("bob", "org", "user", BOB.public_key),
    ),
    tokens=(TokenDefinition("EUR", "org"),),
)


class LedgerLike(Protocol):
    """What workflow scenarios use: the rules-only ``Ledger`` or the actor-run ``ActorLedger``."""

    def sign(self, who: Identity, body: EventBody, seq: int | None = None) -> bytes: ...

    def run(self, *envelopes: bytes, time_ms: int | None = None) -> list[EventResult]: ...

    @property
    def state(self) -> State: ...


LedgerFactory = Callable[..., LedgerLike]
"""``make(genesis=GENESIS)``: a fresh ledger; tests take one as the ``make_ledger`` fixture."""


def rules_ledger(genesis: Genesis = GENESIS) -> Ledger:
    return Ledger(state=genesis_state(genesis, RULESET))


def sign_as(
    seqs: dict[bytes, int], chain_id: str, who: Identity, body: EventBody, seq: int | None
) -> bytes:
    """Seal ``body`` as ``who`` with its next sequence number (or ``seq``, to test replays)."""
    if seq is None:
        seq = seqs.get(who.public_key, 0) + 1
    seqs[who.public_key] = max(seq, seqs.get(who.public_key, 0))
    body = msgspec.structs.replace(body, author=who.public_key, seq=seq)
    return seal(body, chain_id, [who])


@dataclass
class Ledger:
    """Executes blocks of events signed by test identities, committing each block."""

    ruleset: Ruleset = RULESET
    state: State = field(default_factory=lambda: genesis_state(GENESIS, RULESET))
    seqs: dict[bytes, int] = field(default_factory=dict)
    height: int = 0
    blocks: list[tuple[int, tuple[bytes, ...]]] = field(default_factory=list)
    """(time, envelopes) of every block run: the log, for ``replayed``."""

    def sign(self, who: Identity, body: EventBody, seq: int | None = None) -> bytes:
        return sign_as(self.seqs, CHAIN, who, body, seq)

    def run(self, *envelopes: bytes, time_ms: int | None = None) -> list[EventResult]:
        self.height += 1
        time_ms = time_ms or 1_000 + self.height
        self.blocks.append((time_ms, envelopes))
        return _execute(self.state, self.ruleset, self.height, time_ms, envelopes)

    def replayed(self, genesis: Genesis = GENESIS) -> State:
        """The state rebuilt from genesis by re-running every block: projections from the log."""
        state = genesis_state(genesis, self.ruleset)
        for height, (time_ms, envelopes) in enumerate(self.blocks, 1):
            _execute(state, self.ruleset, height, time_ms, envelopes)
        return state


def _execute(
    state: State, ruleset: Ruleset, height: int, time_ms: int, envelopes: tuple[bytes, ...]
) -> list[EventResult]:
    ids = [event_id(e) for e in envelopes]
    overlay, results = execute_events(state, ruleset, height, time_ms, envelopes, ids)
    hashes, _ = state.hashes_after(overlay)
    state.adopt(overlay, hashes)
    return results


def same_projections(a: State, b: State) -> bool:
    """Equal digests of every table and equal rows of the three read models."""
    models = ("accounts", "orders", "settlements")
    return a.table_digests() == b.table_digests() and all(
        list(a.rows(t)) == list(b.rows(t)) for t in models
    )
