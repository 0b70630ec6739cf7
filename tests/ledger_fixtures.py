"""A small payments ledger for tests of the rules: one organisation, a token, two users."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from events.body import EventBody
from events.envelope import event_id, seal
from events.genesis import Genesis, GenesisParticipant, GenesisValidator, TokenDefinition
from events.identity import Identity
from events.results import EventResult
from rules.engine import Ruleset, execute_block, genesis_state
from rules.rulebook import RULESET
from rules.state import State

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


@dataclass
class Ledger:
    """Executes blocks of events signed by test identities, committing each block."""

    ruleset: Ruleset = RULESET
    state: State = field(default_factory=lambda: genesis_state(GENESIS, RULESET))
    seqs: dict[bytes, int] = field(default_factory=dict)
    height: int = 0

    def sign(self, who: Identity, body: EventBody, seq: int | None = None) -> bytes:
        if seq is None:
            seq = self.seqs.get(who.public_key, 0) + 1
        self.seqs[who.public_key] = max(seq, self.seqs.get(who.public_key, 0))
        body = msgspec.structs.replace(body, author=who.public_key, seq=seq)
        return seal(body, CHAIN, [who])

    def run(self, *envelopes: bytes, time_ms: int | None = None) -> list[EventResult]:
        self.height += 1
        ids = [event_id(e) for e in envelopes]
        execution = execute_block(
            self.state, self.ruleset, self.height, time_ms or 1_000 + self.height, envelopes, ids
        )
        self.state.adopt(execution.overlay, execution.hashes)
        return execution.results
