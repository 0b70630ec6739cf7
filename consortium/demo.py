"""``consortium demo``: a 4-validator consortium in this process, driven through its workflows.

Keys are derived from fixed seeds, so a second run on the same directory is the same consortium
and resumes from its logs.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from actors.receipts import ReceiptFuture
from consortium.api import Consortium, ParticipantHandle
from consortium.config import ConsortiumConfig
from events.codec import encode
from events.envelope import Envelope, Signature, decode_envelope
from events.genesis import Genesis, GenesisParticipant, GenesisValidator, TokenDefinition
from events.identity import Identity
from events.payments import IssueTokens, RegisterParticipant, Transfer

CHAIN_ID = "consortium-demo"
ORGANISATIONS = ("north-bank", "south-bank", "east-pay", "west-pay")
TOKENS = (("NORTH", "north-bank"), ("EAST", "east-pay"))
WAIT_S = 60.0

Say = Callable[[str], None]


def identity(name: str) -> Identity:
    return Identity.from_seed(name, f"{CHAIN_ID}/{name}".encode())


def demo_genesis() -> tuple[Genesis, list[Identity]]:
    validators = [identity(f"validator@{org}") for org in ORGANISATIONS]
    admins = [identity(f"admin@{org}") for org in ORGANISATIONS]
    genesis = Genesis(
        chain_id=CHAIN_ID,
        genesis_time_ms=1_767_225_600_000,  # 2026-01-01T00:00:00Z
        validators=tuple(
            GenesisValidator(v.name, org, v.public_key)
            for v, org in zip(validators, ORGANISATIONS, strict=True)
        ),
        participants=tuple(
            GenesisParticipant(a.name, org, "org_admin", a.public_key)
            for a, org in zip(admins, ORGANISATIONS, strict=True)
        ),
        tokens=tuple(TokenDefinition(symbol, org) for symbol, org in TOKENS),
    )
    return genesis, validators


@dataclass
class Tally:
    """Outcomes by result code, as the submitters saw them in their receipts."""

    counts: Counter[str]

    def wait(self, futures: list[ReceiptFuture]) -> None:
        for future in futures:
            self.counts[future.result(WAIT_S).result.code.value] += 1


def run_payments(consortium: Consortium, events: int, say: Say, seed: int = 7) -> Counter[str]:
    """Enrol users, issue tokens, then transfers mixed with every kind of bad input."""
    tally = Tally(Counter())
    admin = {org: consortium.participant(identity(f"admin@{org}")) for org in ORGANISATIONS}
    users = [identity(f"user-{i}@{ORGANISATIONS[i % 4]}") for i in range(16)]
    handles = [consortium.participant(u) for u in users]
    known = set(consortium.inspect(lambda n: [k for k, _ in n.state.rows("participants")]))
    tally.wait(
        [
            admin[ORGANISATIONS[i % 4]].submit(
                RegisterParticipant(participant=u.public_key, name=u.name, role="user")
            )
            for i, u in enumerate(users)
            if u.public_key not in known
        ]
    )
    tally.wait(
        [
            admin[org].submit(IssueTokens(token=symbol, to=u.public_key, amount=1_000_000))
            for symbol, org in TOKENS
            for u in users
        ]
    )
    say(f"  enrolled {len(users)} users, issued {len(TOKENS)} tokens to each")
    rng = random.Random(seed)
    futures: list[ReceiptFuture] = []
    started = time.perf_counter()
    for _ in range(events):
        payer, payee = rng.sample(range(len(users)), 2)
        token = TOKENS[rng.randrange(len(TOKENS))][0]
        transfer = Transfer(token=token, to=users[payee].public_key, amount=rng.randint(1, 500))
        futures.append(handles[payer].submit(transfer))
    futures.extend(_bad_inputs(consortium, handles, users))
    tally.wait(futures)
    elapsed = time.perf_counter() - started
    say(f"  {len(futures)} payment events answered in {elapsed:.2f} s")
    return tally.counts


def _bad_inputs(
    consortium: Consortium, handles: list[ParticipantHandle], users: list[Identity]
) -> list[ReceiptFuture]:
    """One of each kind of bad input; every one must come back with its typed rejection."""
    alice, bob = handles[0], handles[1]
    stranger = consortium.participant(identity("stranger-without-registration"))
    good = alice.sign(Transfer(token="NORTH", to=users[1].public_key, amount=1))
    envelope = decode_envelope(good)
    forged = Signature(envelope.signatures[0].signer, bytes(64))
    bad_signature = encode(Envelope(envelope.body, (forged,)))
    first = alice.submit_signed(good)
    first.result(WAIT_S)
    return [
        first,
        alice.submit_signed(good),  # the same envelope again: duplicate
        alice.submit_signed(bad_signature),  # a forged signature
        alice.submit_signed(b"\x93\xff not an envelope"),  # malformed bytes
        bob.submit(Transfer(token="NORTH", to=users[0].public_key, amount=10**12)),  # overdraft
        stranger.submit(Transfer(token="NORTH", to=users[0].public_key, amount=1)),  # unknown
        bob.submit(RegisterParticipant(participant=bytes(32), name="x", role="user")),  # role
        alice.submit(IssueTokens(token="NORTH", to=users[0].public_key, amount=5)),  # role
    ]


def run_demo(data_dir: Path, events: int, say: Say, durable: bool = True) -> int:
    genesis, validators = demo_genesis()
    resumed = (data_dir / "validator-0" / "data.mdb").exists()
    say(f"{'Resuming' if resumed else 'Starting'} a 4-validator consortium in {data_dir}")
    with Consortium(genesis, data_dir, validators, ConsortiumConfig(durable=durable)) as c:
        say(f"  height {c.height()} after opening the logs")
        say("Token payments")
        counts = run_payments(c, events, say)
        say("Outcomes by reason:")
        for code, n in sorted(counts.items()):
            say(f"  {code:<20} {n}")
        _wait_for_equal_heights(c)
        say(f"Height {c.height()}; state digest of each validator:")
        digests = [c.state_digest(i) for i in range(c.size)]
        for i, d in enumerate(digests):
            say(f"  validator {i} ({genesis.validators[i].organisation:<10}) {d.hex()}")
        if len(set(digests)) != 1:
            say("ERROR: the validators' state digests differ")
            return 1
    return 0


def _wait_for_equal_heights(c: Consortium, timeout_s: float = 10.0) -> None:
    """Receipts come from one validator; give the others a moment to apply the same block."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len({c.height(i) for i in range(c.size)}) == 1:
            return
        time.sleep(0.05)
