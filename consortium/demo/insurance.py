"""Demo section: insurance value-added services with two insurers, three providers, car owners."""

from __future__ import annotations

from consortium.actors.messages import Receipt
from consortium.actors.receipts import ReceiptFuture
from consortium.api import Consortium
from consortium.demo.common import WAIT_S, Say, admin, identity, ledger_time_ms, state_row
from consortium.events.insurance import (
    AcceptOrder,
    CompleteOrder,
    ContractProvider,
    Coverage,
    IssuePolicy,
    RegisterProvider,
    RequestService,
    SettleOrder,
)
from consortium.events.payments import IssueTokens, RegisterParticipant
from consortium.events.workflow import WorkflowSpec
from consortium.rules.insurance import value_added_spending

WORKFLOWS: tuple[WorkflowSpec, ...] = ()
TITLE = "Insurance value-added services"
ORGANISATIONS = ("insurer-alpha", "insurer-beta", "roadside-services")
TOKENS: tuple[tuple[str, str], ...] = ()
TOKEN = "NORTH"
YEAR_MS = 365 * 24 * 3600 * 1000


def _ok(future: ReceiptFuture) -> Receipt:
    return future.result(WAIT_S)


def run(consortium: Consortium, say: Say, events: int) -> None:
    run_id = consortium.height()
    insurers = {org: identity(f"insurer@{org}-{run_id}") for org in ORGANISATIONS[:2]}
    providers = [identity(f"{name}@roadside-{run_id}") for name in ("tow-a", "tow-b", "fuel-c")]
    owners = [identity(f"car-owner-{i}-{run_id}") for i in range(3)]
    for org, insurer in insurers.items():
        _ok(
            consortium.participant(admin(org)).submit(
                RegisterParticipant(
                    participant=insurer.public_key, name=insurer.name, role="insurer"
                )
            )
        )
    roadside = consortium.participant(admin("roadside-services"))
    for p in providers:
        _ok(
            roadside.submit(
                RegisterParticipant(participant=p.public_key, name=p.name, role="provider")
            )
        )
    alpha = consortium.participant(admin("insurer-alpha"))
    for o in owners:
        _ok(
            alpha.submit(
                RegisterParticipant(participant=o.public_key, name=o.name, role="car_owner")
            )
        )
    bank = consortium.participant(admin("north-bank"))
    for insurer in insurers.values():
        _ok(bank.submit(IssueTokens(token=TOKEN, to=insurer.public_key, amount=100_000)))
    handles = {k.public_key: consortium.participant(k) for k in [*providers, *insurers.values()]}
    services = [("towing", ("city", "coast")), ("towing", ("city",)), ("fuel", ("city",))]
    for p, (service, regions) in zip(providers, services, strict=True):
        _ok(handles[p.public_key].submit(RegisterProvider(services=(service,), regions=regions)))
    ins_a, ins_b = (handles[i.public_key] for i in insurers.values())
    for p in providers[:2]:
        _ok(ins_a.submit(ContractProvider(provider=p.public_key)))
    _ok(ins_b.submit(ContractProvider(provider=providers[2].public_key)))
    now = ledger_time_ms(consortium)
    policies = []
    for o in owners:
        receipt = _ok(
            ins_a.submit(
                IssuePolicy(
                    owner=o.public_key,
                    token=TOKEN,
                    coverage=(Coverage("towing", 2, 3_000),),
                    valid_from_ms=now - 1,
                    valid_until_ms=now + YEAR_MS,
                )
            )
        )
        policies.append(receipt.event_id)
    say(f"  insurer-alpha issued {len(policies)} towing policies (2 tows, up to 3000 each)")
    paid = 0
    for i, (o, policy) in enumerate(zip(owners, policies, strict=True)):
        owner = consortium.participant(o)
        request = _ok(owner.submit(RequestService(policy=policy, service="towing", region="city")))
        order = state_row(consortium, "insurance_orders", request.event_id)
        provider = handles[order.provider]
        _ok(provider.submit(AcceptOrder(order=request.event_id)))
        _ok(
            provider.submit(
                CompleteOrder(
                    order=request.event_id,
                    cost=1_200 + 900 * i,
                    record="towed to the garage",
                    attachments=(bytes(32),),
                )
            )
        )
        settle = _ok(ins_a.submit(SettleOrder(order=request.event_id)))
        paid += settle.accepted
        say(
            f"  {o.name}: order assigned to {order.provider.hex()[:8]}…, completed, "
            f"settled: {settle.result.code}"
        )
    first_owner = consortium.participant(owners[0])
    refused = {
        "fuel (not covered)": first_owner.submit(
            RequestService(policy=policies[0], service="fuel", region="city")
        ),
        "towing at sea (no provider there)": first_owner.submit(
            RequestService(policy=policies[0], service="towing", region="sea")
        ),
        "a tow beyond the 3000 covered": owner.submit(
            RequestService(policy=policies[-1], service="towing", region="city")
        ),
        "paying an order twice": ins_a.submit(SettleOrder(order=request.event_id)),
        "an upload by another provider": handles[providers[2].public_key].submit(
            CompleteOrder(order=request.event_id, cost=1, record="not mine")
        ),
    }
    for what, future in refused.items():
        say(f"  {what}: {_ok(future).result.code}")
    spending = consortium.inspect(lambda n: value_added_spending(n.state))
    for org, insurer in insurers.items():
        say(
            f"  regulator: {org} spent {spending.get(insurer.public_key, 0)} {TOKEN} "
            "on value-added services"
        )
    for p in providers:
        say(f"  provider {p.name.split('@')[0]} holds {consortium.balance(p.public_key, TOKEN)}")
