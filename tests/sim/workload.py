"""Participants that keep the ledger busy: an issuer funds users, users pay each other.

Each client has one event in flight: it submits to a validator it picks, and when no receipt
comes within ``RETRY_MS`` it sends the same bytes to another (the same event id, so at most one
copy can commit). A receipt acknowledges the event; the checker then demands that it is never
lost.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from consortium.events.body import EventBody
from consortium.events.envelope import event_id, seal
from consortium.events.genesis import GenesisParticipant, TokenDefinition
from consortium.events.identity import Identity
from consortium.events.payments import IssueTokens, Transfer

RETRY_MS = 3_000
ORGANISATION = "sim-bank"
TOKEN = "SIM"

Submit = Callable[[int, bytes, int], None]
"""(validator index, envelope, client id): hand an event to a validator."""


def identities(users: int) -> tuple[Identity, list[Identity]]:
    issuer = Identity.from_seed("issuer", b"sim/issuer")
    return issuer, [Identity.from_seed(f"user-{i}", f"sim/user/{i}".encode()) for i in range(users)]


def genesis_participants(
    issuer: Identity, users: list[Identity]
) -> tuple[tuple[GenesisParticipant, ...], tuple[TokenDefinition, ...]]:
    people = [GenesisParticipant("issuer", ORGANISATION, "issuer", issuer.public_key)]
    people += [GenesisParticipant(u.name, ORGANISATION, "user", u.public_key) for u in users]
    return tuple(people), (TokenDefinition(TOKEN, ORGANISATION),)


@dataclass(slots=True)
class Client:
    """One participant with at most one event in flight."""

    number: int
    identity: Identity
    chain_id: str
    seq: int = 0
    in_flight: bytes | None = None
    in_flight_id: bytes = b""
    sent_at: int = 0
    tried: list[int] = field(default_factory=list)

    def next_event(self, body: EventBody) -> bytes:
        self.seq += 1
        signed = msgspec.structs.replace(body, author=self.identity.public_key, seq=self.seq)
        self.in_flight = seal(signed, self.chain_id, [self.identity])
        self.in_flight_id = event_id(self.in_flight)
        self.tried = []
        return self.in_flight


class Workload:
    """Drives the clients; ``step`` is called by the run every ``STEP_MS`` of virtual time."""

    STEP_MS = 100

    def __init__(
        self, chain_id: str, issuer: Identity, users: list[Identity], rng: random.Random, n: int
    ) -> None:
        self._rng = rng
        self._n = n
        self.clients = [Client(0, issuer, chain_id)] + [
            Client(i + 1, u, chain_id) for i, u in enumerate(users)
        ]
        self._users = users
        self.submitted = 0
        self.acknowledged = 0
        self.open = True

    def step(self, now_ms: int, submit: Submit) -> None:
        for client in self.clients:
            if client.in_flight is None:
                if not self.open:
                    continue
                self._start(client)
                client.sent_at = now_ms - RETRY_MS  # send below, now
            if now_ms - client.sent_at >= RETRY_MS:
                self._send(client, now_ms, submit)

    def nudge(self, now_ms: int, submit: Submit) -> None:
        """One more event, so validators that fell behind hear of the chain's progress."""
        client = self.clients[1 + self._rng.randrange(len(self._users))]
        self._start(client)
        self._send(client, now_ms, submit)

    def _start(self, client: Client) -> None:
        rng = self._rng
        if client.number == 0:
            to = rng.choice(self._users).public_key
            body: EventBody = IssueTokens(token=TOKEN, to=to, amount=rng.randint(100, 1_000))
        else:
            to = rng.choice(self._users).public_key
            body = Transfer(token=TOKEN, to=to, amount=rng.randint(1, 50))
        client.next_event(body)
        self.submitted += 1

    def _send(self, client: Client, now_ms: int, submit: Submit) -> None:
        untried = [i for i in range(self._n) if i not in client.tried] or list(range(self._n))
        target = self._rng.choice(untried)
        client.tried.append(target)
        client.sent_at = now_ms
        assert client.in_flight is not None
        submit(target, client.in_flight, client.number)

    def on_receipt(self, client_number: int, eid: bytes) -> bool:
        """True when this receipt acknowledges the client's event in flight."""
        client = self.clients[client_number]
        if client.in_flight is None or client.in_flight_id != eid:
            return False
        client.in_flight = None
        self.acknowledged += 1
        return True

    @property
    def idle(self) -> bool:
        return all(c.in_flight is None for c in self.clients)
