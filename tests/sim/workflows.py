"""The other four business processes beside the payments: insurance, restitution, rebate and
personal data, from the benchmark's own event generators (``consortium.bench.scenarios``).

A scenario is written against participant handles that submit and wait for receipts. Here the
handles only record: each submission is sealed at once (its author's next sequence number) and
answered with an accepted receipt of its real event id, so the scenario's set-up runs to the end
before the run starts and its stream can be called for events one by one. The administrator's
enrolments are not submitted: they become participants of the genesis. Every point where the
scenario waits for a receipt closes a phase of its set-up: the run submits the phases in order,
the next only once every event of the last has a receipt. Each author's events of a phase go to
one validator as one batch, in sequence order, so they reach the block in that order.

Then each scenario's stream has one event in flight at a time, retried at another validator
like any client's. Receipts are counted by process and code (``workflow rebate ok``), since a
rule may refuse an event the scenario would not.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from consortium.actors.messages import Receipt
from consortium.actors.receipts import ReceiptFuture
from consortium.bench.scenarios import (
    TOKEN,
    Stream,
    identity,
    insurance,
    private_data,
    rebate,
    restitution,
)
from consortium.events.body import EventBody
from consortium.events.envelope import event_id, seal
from consortium.events.genesis import GenesisParticipant, TokenDefinition
from consortium.events.identity import Identity
from consortium.events.payments import RegisterParticipant
from consortium.events.results import Code, EventResult

WORKFLOW_CLIENT = 2_000_000
"""The client number of the set-up; each stream is ``WORKFLOW_CLIENT + 1 + its index``."""

SubmitMany = Callable[[int, list[bytes], int], None]
"""(validator index, envelopes in order, client id): hand a batch to a validator at once."""


class _Script:
    """What the recording handles submitted, split into phases at every wait for a receipt;
    the administrator's enrolments become genesis participants instead."""

    def __init__(self, chain_id: str, organisation: str) -> None:
        self.chain_id = chain_id
        self.organisation = organisation
        self.enrolled: list[GenesisParticipant] = []
        self.phases: list[list[tuple[bytes, bytes]]] = [[]]  # (author key, envelope)
        self.seqs: Counter[bytes] = Counter()
        self.recording: list[bytes] = []

    def seal(self, author: Identity, body: EventBody, cosigners: Sequence[Identity]) -> bytes:
        key = author.public_key
        self.seqs[key] += 1
        signed = msgspec.structs.replace(body, author=key, seq=self.seqs[key])
        envelope = seal(signed, self.chain_id, [author, *cosigners])
        self.phases[-1].append((key, envelope))
        self.recording.append(envelope)
        return envelope

    def wait(self) -> None:
        if self.phases[-1]:
            self.phases.append([])


class _Answered(ReceiptFuture):
    """An accepted receipt whose first read closes the script's phase."""

    def __init__(self, script: _Script, eid: bytes) -> None:
        super().__init__()
        self._script = script
        self.set(Receipt(eid, EventResult(Code.OK), 0, 0))

    def result(self, timeout: float | None = None) -> Receipt:
        self._script.wait()
        return super().result(timeout)


class _Handle:
    """A participant handle (``bench.scenarios.Submitter``) that records instead of sending."""

    def __init__(self, script: _Script, who: Identity) -> None:
        self._script = script
        self.identity = who

    @property
    def public_key(self) -> bytes:
        return self.identity.public_key

    def submit(self, body: EventBody) -> ReceiptFuture:
        return self.submit_with(body)

    def submit_with(self, body: EventBody, *cosigners: Any) -> ReceiptFuture:
        script = self._script
        if isinstance(body, RegisterParticipant):
            who = GenesisParticipant(body.name, script.organisation, body.role, body.participant)
            script.enrolled.append(who)
            return _Answered(script, b"")
        envelope = script.seal(self.identity, body, [c.identity for c in cosigners])
        return _Answered(script, event_id(envelope))


@dataclass(slots=True)
class _InFlight:
    envelopes: dict[bytes, tuple[bytes, bytes]] = field(default_factory=dict)  # eid -> env
    sent_at: int = 0
    tried: list[int] = field(default_factory=list)


class Workflows:
    """The set-up phases, then one event in flight per stream; driven like ``Workload``."""

    STREAMS = (insurance, restitution, rebate, private_data)

    def __init__(
        self, chain_id: str, organisation: str, rng: random.Random, n: int, retry_ms: int
    ) -> None:
        self._rng = rng
        self._n = n
        self._retry_ms = retry_ms
        script = _Script(chain_id, organisation)
        admin_key = identity("admin")
        admin = _Handle(script, admin_key)
        self._streams: list[Stream] = [
            make(admin, lambda who: _Handle(script, who)) for make in self.STREAMS
        ]
        self._script = script
        self._phases = [phase for phase in script.phases if phase]
        self._setup = _InFlight()
        self._flights = [_InFlight() for _ in self._streams]
        self._next = [0] * len(self._streams)
        self.answers: Counter[str] = Counter()
        self.open = True
        admin_row = GenesisParticipant("admin", organisation, "org_admin", admin_key.public_key)
        self.participants = (admin_row, *script.enrolled)
        """For the genesis: the administrator and every party it enrolled."""
        self.token = TokenDefinition(TOKEN, organisation)

    @property
    def ready(self) -> bool:
        return not self._phases and not self._setup.envelopes

    @property
    def idle(self) -> bool:
        return not self._setup.envelopes and not any(f.envelopes for f in self._flights)

    def step(self, now_ms: int, submit: SubmitMany) -> None:
        if not self._setup.envelopes and self._phases and self.open:
            phase = self._phases.pop(0)
            self._setup = _InFlight({event_id(e): (k, e) for k, e in phase})
            self._send(self._setup, WORKFLOW_CLIENT, now_ms, submit)
        elif self.ready:
            for number, flight in enumerate(self._flights):
                if not flight.envelopes and self.open:
                    self._start(number, flight)
                    flight.sent_at = now_ms - self._retry_ms
        for client, flight in enumerate([self._setup, *self._flights], WORKFLOW_CLIENT):
            if flight.envelopes and now_ms - flight.sent_at >= self._retry_ms:
                self._send(flight, client, now_ms, submit)

    def _start(self, number: int, flight: _InFlight) -> None:
        before = len(self._script.recording)
        self._streams[number](self._next[number])
        self._next[number] += 1
        (envelope,) = self._script.recording[before:]
        flight.envelopes = {event_id(envelope): (b"", envelope)}
        flight.tried = []

    def _send(self, flight: _InFlight, client: int, now_ms: int, submit: SubmitMany) -> None:
        untried = [i for i in range(self._n) if i not in flight.tried] or list(range(self._n))
        target = self._rng.choice(untried)
        flight.tried.append(target)
        flight.sent_at = now_ms
        by_author: dict[bytes, list[bytes]] = {}
        for author, envelope in flight.envelopes.values():
            by_author.setdefault(author, []).append(envelope)
        for batch in by_author.values():
            submit(target, batch, client)

    def on_receipt(self, client: int, receipt: Receipt) -> bool:
        """True when this receipt acknowledges an event in flight (it has a height)."""
        if not WORKFLOW_CLIENT <= client <= WORKFLOW_CLIENT + len(self._flights):
            return False
        number = client - WORKFLOW_CLIENT
        flight = self._setup if number == 0 else self._flights[number - 1]
        if flight.envelopes.pop(receipt.event_id, None) is None:
            return False
        what = "set-up" if number == 0 else self.STREAMS[number - 1].__name__
        self.answers[f"{what} {receipt.result.code.value}"] += 1
        return True
