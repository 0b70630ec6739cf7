"""Hostile clients beside the honest ones: what an attacker with one registered key would send.

A registered issuer (``mallory``) and an unregistered stranger submit junk bytes, bodies nested
far beyond the decoding bound, forged signatures, events of an unknown author, amounts at and past
the integer bounds, old envelopes again, and now and then a flood of junk at one validator. None
of it may stop a validator or change what the honest clients see; every submission an up
validator receives is answered with a typed code, which the run counts (``hostile <code>``).

Mallory has her own key, so her sequence numbers never collide with an honest client's: a used
number is spent even by a rejected event, and sharing a key would only test the honest client.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import msgspec

from consortium.actors.messages import Receipt
from consortium.events.body import EventBody
from consortium.events.codec import encode
from consortium.events.envelope import Envelope, Signature, encode_body, seal
from consortium.events.identity import Identity
from consortium.events.payments import IssueTokens, Transfer
from consortium.events.signing import Domain
from consortium.rules.bounds import MAX_VALUE

HOSTILE_CLIENT = 1_000_000
"""The client number of every hostile submission (honest clients are numbered from 0)."""

FLOOD = 200
"""Junk envelopes in one flood, all at one validator in one go."""

Submit = Callable[[int, bytes, int], None]


def hostile_identities() -> tuple[Identity, Identity]:
    """Mallory (registered as an issuer by the genesis of a hostile run) and a stranger."""
    return (
        Identity.from_seed("mallory", b"sim/hostile/mallory"),
        Identity.from_seed("stranger", b"sim/hostile/stranger"),
    )


def nested_body(author: bytes, seq: int, depth: int) -> bytes:
    """A transfer's fields plus an unknown one holding ``depth`` nested arrays."""
    body = Transfer(author=author, seq=seq, token="SIM", to=bytes(32), amount=1)
    fields = {"type": Transfer.__struct_config__.tag, **msgspec.structs.asdict(body)}
    fields["junk"] = msgspec.Raw(b"\x91" * depth + b"\xc0")
    return encode(fields)


class HostileClients:
    def __init__(self, chain_id: str, token: str, rng: random.Random, n: int) -> None:
        self._chain = chain_id
        self._token = token
        self._rng = rng
        self._n = n
        self.mallory, self.stranger = hostile_identities()
        self._seq = 0
        self._sent: list[bytes] = []
        self.submitted = 0
        self.answers: Counter[str] = Counter()

    def step(self, submit: Submit) -> None:
        rng = self._rng
        for _ in range(rng.randint(0, 3)):
            self._submit(submit, rng.randrange(self._n), self._make(rng.choice(_KINDS)))
        if rng.random() < 0.02:
            target = rng.randrange(self._n)
            for _ in range(FLOOD):
                self._submit(submit, target, rng.randbytes(rng.randint(1, 300)))

    def on_receipt(self, receipt: Receipt) -> None:
        self.answers[receipt.result.code.value] += 1

    def _submit(self, submit: Submit, validator: int, envelope: bytes) -> None:
        self.submitted += 1
        submit(validator, envelope, HOSTILE_CLIENT)

    def _make(self, kind: str) -> bytes:
        rng, mallory = self._rng, self.mallory
        if kind == "junk":
            return rng.randbytes(rng.randint(0, 300))
        if kind == "deep":
            body = nested_body(mallory.public_key, self._next_seq(), rng.randint(33, 5_000))
            signature = mallory.sign(Domain.EVENT, self._chain, body)
            return encode(Envelope(body, (Signature(mallory.public_key, signature),)))
        if kind == "forged":
            body = encode_body(self._signed_by(mallory, self._transfer(1)))
            signature = self.stranger.sign(Domain.EVENT, self._chain, body)
            return encode(Envelope(body, (Signature(mallory.public_key, signature),)))
        if kind == "stranger":
            stranger = self.stranger
            return seal(self._signed_by(stranger, self._transfer(1), 1), self._chain, [stranger])
        if kind == "replayed" and self._sent:
            return rng.choice(self._sent)
        if kind == "overflow":
            to = mallory.public_key
            body: EventBody = IssueTokens(token=self._token, to=to, amount=MAX_VALUE)
        else:  # "past the bound": encodable as a uint64, never as a ledger value
            body = self._transfer(rng.choice((MAX_VALUE + 1, 2**64 - 1)))
        envelope = seal(self._signed_by(mallory, body), self._chain, [mallory])
        self._sent.append(envelope)
        return envelope

    def _transfer(self, amount: int) -> Transfer:
        return Transfer(token=self._token, to=self.stranger.public_key, amount=amount)

    def _signed_by(self, who: Identity, body: EventBody, seq: int | None = None) -> EventBody:
        number = self._next_seq() if seq is None else seq
        return msgspec.structs.replace(body, author=who.public_key, seq=number)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq


_KINDS = ("junk", "deep", "forged", "stranger", "replayed", "overflow", "past the bound")
