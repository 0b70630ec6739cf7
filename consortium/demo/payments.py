"""Demo section: token payments with every kind of bad input mixed in."""

from __future__ import annotations

import random
import time

from consortium.actors.receipts import ReceiptFuture
from consortium.api import Consortium, ParticipantHandle
from consortium.demo.common import (
    WAIT_S,
    Say,
    admin,
    identity,
    ledger_time_ms,
    outcomes,
    print_outcomes,
    state_row,
)
from consortium.events.codec import encode
from consortium.events.credit import (
    ConfirmSettlement,
    GrantCredit,
    IssueCertificate,
    Leg,
    LinkedTransfers,
    Pay,
    PendingTransfer,
    StartSettlement,
)
from consortium.events.envelope import Envelope, Signature, decode_envelope, seal
from consortium.events.identity import Identity
from consortium.events.payments import IssueTokens, RegisterParticipant, Transfer
from consortium.events.workflow import WorkflowSpec

WORKFLOWS: tuple[WorkflowSpec, ...] = ()
TITLE = "Distributed token payments (registration, credit, payment, settlement)"
ORGANISATIONS = ("north-bank", "south-bank", "east-pay", "west-pay")
TOKENS = (("NORTH", "north-bank"), ("EAST", "east-pay"))
USERS = 16
YEAR_MS = 365 * 24 * 3600 * 1000


def run(consortium: Consortium, say: Say, events: int, seed: int = 7) -> None:
    """Enrol users, issue tokens, then transfers mixed with every kind of bad input."""
    admins = {org: consortium.participant(admin(org)) for org in ORGANISATIONS}
    users = [identity(f"user-{i}@{ORGANISATIONS[i % 4]}") for i in range(USERS)]
    handles = [consortium.participant(u) for u in users]
    known = set(consortium.inspect(lambda n: [k for k, _ in n.state.rows("participants")]))
    enrol = outcomes(
        admins[ORGANISATIONS[i % 4]].submit(
            RegisterParticipant(participant=u.public_key, name=u.name, role="user")
        )
        for i, u in enumerate(users)
        if u.public_key not in known
    )
    issue = outcomes(
        admins[org].submit(IssueTokens(token=symbol, to=u.public_key, amount=1_000_000))
        for symbol, org in TOKENS
        for u in users
    )
    print_outcomes(
        f"enrolled {USERS} users, issued {len(TOKENS)} tokens to each", enrol + issue, say
    )
    rng = random.Random(seed)
    futures: list[ReceiptFuture] = []
    started = time.perf_counter()
    for _ in range(events):
        payer, payee = rng.sample(range(len(users)), 2)
        token = TOKENS[rng.randrange(len(TOKENS))][0]
        transfer = Transfer(token=token, to=users[payee].public_key, amount=rng.randint(1, 500))
        futures.append(handles[payer].submit(transfer))
    futures.extend(_bad_inputs(consortium, handles, users))
    counts = outcomes(futures)
    elapsed = time.perf_counter() - started
    say(f"  {len(futures)} payment events answered in {elapsed:.2f} s; outcomes by reason:")
    for code, n in sorted(counts.items()):
        say(f"    {code:<20} {n}")
    richest = max(users, key=lambda u: consortium.balance(u.public_key, "NORTH"))
    say(f"  {richest.name} holds {consortium.balance(richest.public_key, 'NORTH')} NORTH")
    run_credit(consortium, say)


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
    replayed_seq = seal(
        Transfer(
            author=users[0].public_key, seq=1, token="NORTH", to=users[2].public_key, amount=2
        ),
        consortium.genesis.chain_id,
        [users[0]],
    )
    first = alice.submit_signed(good)
    first.result(WAIT_S)
    return [
        first,
        alice.submit_signed(good),  # the same envelope again: duplicate
        alice.submit_signed(replayed_seq),  # a sequence number already used: replay
        alice.submit_signed(bad_signature),  # a forged signature
        alice.submit_signed(b"\x93\xff not an envelope"),  # malformed bytes
        bob.submit(Transfer(token="NORTH", to=users[0].public_key, amount=10**12)),  # overdraft
        stranger.submit(Transfer(token="NORTH", to=users[0].public_key, amount=1)),  # unknown
        bob.submit(RegisterParticipant(participant=bytes(32), name="x", role="user")),  # role
        alice.submit(IssueTokens(token="NORTH", to=users[0].public_key, amount=5)),  # role
    ]


def run_credit(consortium: Consortium, say: Say) -> None:
    """S1-S5: certificate, credit line, payment on credit, bill settlement, two-phase, linked."""
    run_id = consortium.height()
    bank = consortium.participant(admin("south-bank"))
    ent_id, mer_id = identity(f"enterprise-{run_id}"), identity(f"merchant-{run_id}")
    for who, role in ((ent_id, "enterprise"), (mer_id, "merchant")):
        bank.submit(RegisterParticipant(participant=who.public_key, name=who.name, role=role))
    now = ledger_time_ms(consortium)
    bank.submit(IssueCertificate(subject=ent_id.public_key, valid_until_ms=now + YEAR_MS))
    north = consortium.participant(admin("north-bank"))
    north.submit(IssueTokens(token="NORTH", to=ent_id.public_key, amount=1_000)).result(WAIT_S)
    ent, mer = consortium.participant(ent_id), consortium.participant(mer_id)
    grant = mer.submit_signed(
        ent.cosign(mer.sign(GrantCredit(enterprise=ent.public_key, token="NORTH", limit=2_000)))
    )
    say(
        f"  S1/S3: enterprise certified; merchant grants 2000 NORTH credit on its application: "
        f"{grant.result(WAIT_S).result.code}"
    )
    bills = []
    for amount in (1_500, 1_200):
        receipt = ent.submit(Pay(merchant=mer.public_key, token="NORTH", amount=amount))
        bills.append(receipt.result(WAIT_S).event_id)
    beyond = ent.submit(Pay(merchant=mer.public_key, token="NORTH", amount=900)).result(WAIT_S)
    say(f"  S4: pays 1500 and 1200 (balance first, then credit); 900 more: {beyond.result.code}")
    start = ent.submit(StartSettlement(merchant=mer.public_key, bills=tuple(bills)))
    started = start.result(WAIT_S)
    north.submit(IssueTokens(token="NORTH", to=ent_id.public_key, amount=2_000)).result(WAIT_S)
    confirm = mer.submit(ConfirmSettlement(settlement=started.event_id)).result(WAIT_S)
    again = mer.submit(ConfirmSettlement(settlement=started.event_id)).result(WAIT_S)
    settlement = state_row(consortium, "settlements", started.event_id)
    say(
        f"  S5: settlement of {len(bills)} bills ({settlement.amount} NORTH): started, "
        f"confirmed {confirm.result.code}, status {settlement.status!r}; twice: "
        f"{again.result.code}"
    )
    timeout_ms = ledger_time_ms(consortium) + 1_000
    pending = ent.submit(
        PendingTransfer(to=mer.public_key, token="NORTH", amount=300, timeout_ms=timeout_ms)
    ).result(WAIT_S)
    held = consortium.balance(ent.public_key, "NORTH")
    while ledger_time_ms(consortium) < timeout_ms:
        time.sleep(0.25)  # ledger time moves with blocks
        ent.submit(Transfer(token="NORTH", to=mer.public_key, amount=1)).result(WAIT_S)
    status = state_row(consortium, "credit_pending", pending.event_id).status
    say(
        f"  two-phase: 300 held ({held} left), no post before the timeout: {status}; the "
        f"enterprise holds {consortium.balance(ent.public_key, 'NORTH')} again"
    )
    linked = ent.submit(
        LinkedTransfers(
            legs=(Leg(mer.public_key, "NORTH", 100), Leg(mer.public_key, "NORTH", 10**9))
        )
    )
    say(
        f"  linked transfers with one leg too big: {linked.result(WAIT_S).result.code}, no leg made"
    )
