"""The benchmark's workloads: one per business process, and a mix of all of them.

Each scenario enrols and prepares its parties once (not timed), then yields a stream of events
that do not wait for each other's receipts, so they can be offered open loop at any rate:
payments (transfers between users), insurance (service requests on active policies, each
assigned a provider by the selection rule), restitution (court cases registered with victims'
entitlements), rebate (purchases co-signed by the merchant), private data (financial
institutions' data requests about individuals) and mixed (the five in turn).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from consortium.actors.receipts import ReceiptFuture
from consortium.events.body import EventBody
from consortium.events.identity import Identity
from consortium.events.insurance import (
    ContractProvider,
    Coverage,
    IssuePolicy,
    RegisterProvider,
    RequestService,
)
from consortium.events.payments import IssueTokens, RegisterParticipant, Transfer
from consortium.events.private_data import RequestData
from consortium.events.rebate import Purchase
from consortium.events.restitution import Entitlement, RegisterCase

USERS = 64
TOKEN = "EUR"
FAR_FUTURE_MS = 2**62


class Submitter(Protocol):
    """A participant handle, embedded or remote: all a workload needs of one."""

    @property
    def public_key(self) -> bytes: ...

    def submit(self, body: EventBody) -> ReceiptFuture: ...

    def submit_with(self, body: EventBody, *cosigners: Any) -> ReceiptFuture: ...


HandleFor = Callable[[Identity], Submitter]
Stream = Callable[[int], ReceiptFuture]
"""Submit the workload's event number i."""


def identity(name: str) -> Identity:
    return Identity.from_seed(name, f"bench/{name}".encode())


def _enrol(admin: Submitter, handle_for: HandleFor, role: str, names: list[str]) -> list[Submitter]:
    keys = [identity(n) for n in names]
    enrolled = [
        admin.submit(RegisterParticipant(participant=k.public_key, name=k.name, role=role))
        for k in keys
    ]
    _settle(enrolled, role)
    return [handle_for(k) for k in keys]


def _settle(futures: list[ReceiptFuture], what: str) -> None:
    """Wait for the set-up events; the timed stream starts on a prepared ledger."""
    for future in futures:
        receipt = future.result(120)
        if not receipt.accepted:
            raise RuntimeError(f"setting up the {what} workload failed: {receipt.result}")


def _fund(admin: Submitter, parties: list[Submitter]) -> list[ReceiptFuture]:
    return [admin.submit(IssueTokens(token=TOKEN, to=p.public_key, amount=10**12)) for p in parties]


def payments(admin: Submitter, handle_for: HandleFor) -> Stream:
    users = _enrol(admin, handle_for, "user", [f"user-{i}" for i in range(USERS)])
    _settle(_fund(admin, users), "payments")

    def submit(i: int) -> ReceiptFuture:
        payer, payee = users[i % USERS], users[(i * 7 + 1) % USERS]
        if payee is payer:
            payee = users[(i + 1) % USERS]
        return payer.submit(Transfer(token=TOKEN, to=payee.public_key, amount=1))

    return submit


def insurance(admin: Submitter, handle_for: HandleFor) -> Stream:
    (insurer,) = _enrol(admin, handle_for, "insurer", ["insurer"])
    providers = _enrol(admin, handle_for, "provider", [f"provider-{i}" for i in range(4)])
    owners = _enrol(admin, handle_for, "car_owner", [f"owner-{i}" for i in range(USERS)])
    offer = RegisterProvider(services=("towing",), regions=("city",))
    _settle([p.submit(offer) for p in providers], "insurance")
    _settle(
        [insurer.submit(ContractProvider(provider=p.public_key)) for p in providers], "insurance"
    )
    cover = (Coverage("towing", 10**9, 10**15),)
    policies = [
        insurer.submit(
            IssuePolicy(
                owner=o.public_key,
                token=TOKEN,
                coverage=cover,
                valid_from_ms=0,
                valid_until_ms=FAR_FUTURE_MS,
            )
        )
        for o in owners
    ]
    _settle(policies, "insurance")
    policy_ids = [f.result(0).event_id for f in policies]

    def submit(i: int) -> ReceiptFuture:
        k = i % USERS
        body = RequestService(policy=policy_ids[k], service="towing", region="city")
        return owners[k].submit(body)

    return submit


def restitution(admin: Submitter, handle_for: HandleFor) -> Stream:
    (court,) = _enrol(admin, handle_for, "court", ["court"])
    (bank,) = _enrol(admin, handle_for, "bank", ["bank"])
    victims = _enrol(admin, handle_for, "victim", [f"victim-{i}" for i in range(USERS)])
    _settle(_fund(admin, [bank]), "restitution")

    def submit(i: int) -> ReceiptFuture:
        owed = tuple(Entitlement(victims[(i + j) % USERS].public_key, 100) for j in range(3))
        case = RegisterCase(
            case=f"case-{i}",
            bank=bank.public_key,
            token=TOKEN,
            custody_amount=300,
            entitlements=owed,
            documents=((i % 251).to_bytes(1, "big") * 32,),
        )
        return court.submit(case)

    return submit


def rebate(admin: Submitter, handle_for: HandleFor) -> Stream:
    merchants = _enrol(admin, handle_for, "merchant", [f"merchant-{i}" for i in range(4)])
    customers = _enrol(admin, handle_for, "customer", [f"customer-{i}" for i in range(USERS)])
    _settle(_fund(admin, customers), "rebate")

    def submit(i: int) -> ReceiptFuture:
        """Customer and merchant sign in their own actors, passed from one to the other."""
        merchant = merchants[i % len(merchants)]
        body = Purchase(merchant=merchant.public_key, token=TOKEN, amount=1 + i % 100)
        return customers[i % USERS].submit_with(body, merchant)

    return submit


def private_data(admin: Submitter, handle_for: HandleFor) -> Stream:
    banks = _enrol(admin, handle_for, "fi", [f"fi-{i}" for i in range(4)])
    people = _enrol(admin, handle_for, "individual", [f"person-{i}" for i in range(USERS)])

    def submit(i: int) -> ReceiptFuture:
        body = RequestData(
            owner=people[i % USERS].public_key,
            fields=("income", "employer"),
            purpose="loan application",
            format="json",
        )
        return banks[i % len(banks)].submit(body)

    return submit


def mixed(admin: Submitter, handle_for: HandleFor) -> Stream:
    makers = (payments, insurance, restitution, rebate, private_data)
    streams = [make(admin, handle_for) for make in makers]

    def submit(i: int) -> ReceiptFuture:
        return streams[i % len(streams)](i // len(streams))

    return submit


SCENARIOS: dict[str, Callable[[Submitter, HandleFor], Stream]] = {
    "payments": payments,
    "insurance": insurance,
    "restitution": restitution,
    "rebate": rebate,
    "private_data": private_data,
    "mixed": mixed,
}
