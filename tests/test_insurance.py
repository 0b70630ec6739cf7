"""Insurance value-added services: policies, deterministic provider selection, settlement."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from consortium.events.envelope import event_id
from consortium.events.insurance import (
    AcceptOrder,
    CancelPolicy,
    CompleteOrder,
    ContractProvider,
    Coverage,
    IssuePolicy,
    RegisterProvider,
    RequestService,
    SettleOrder,
)
from consortium.events.payments import IssueTokens, RegisterParticipant
from consortium.events.results import Code
from consortium.rules.insurance import value_added_spending
from tests.ledger_fixtures import (
    ADMIN,
    Ledger,
    LedgerFactory,
    LedgerLike,
    ident,
    rules_ledger,
    same_projections,
)
from tests.test_rules_payments import balance

INSURER, OWNER = ident("insurer"), ident("owner")
P1, P2, P3 = ident("tow-1"), ident("tow-2"), ident("tow-3")


def _setup(make: LedgerFactory = rules_ledger) -> LedgerLike:
    ledger = make()
    enrol = [
        (INSURER, "insurer"),
        (OWNER, "car_owner"),
        (P1, "provider"),
        (P2, "provider"),
        (P3, "provider"),
    ]
    ledger.run(
        *[
            ledger.sign(
                ADMIN, RegisterParticipant(participant=who.public_key, name=who.name, role=role)
            )
            for who, role in enrol
        ]
    )
    ledger.run(ledger.sign(ADMIN, IssueTokens(token="EUR", to=INSURER.public_key, amount=10_000)))
    ledger.run(
        *[
            ledger.sign(p, RegisterProvider(services=("towing",), regions=("north",)))
            for p in (P1, P2, P3)
        ]
    )
    ledger.run(*[ledger.sign(INSURER, ContractProvider(provider=p.public_key)) for p in (P1, P2)])
    return ledger


def _policy(ledger: Ledger, until: int = 100_000, count: int = 2) -> bytes:
    envelope = ledger.sign(
        INSURER,
        IssuePolicy(
            owner=OWNER.public_key,
            token="EUR",
            coverage=(Coverage("towing", count, 500),),
            valid_from_ms=0,
            valid_until_ms=until,
        ),
    )
    assert ledger.run(envelope)[0].accepted
    return event_id(envelope)


def _request(ledger: Ledger, policy: bytes, service: str = "towing", region: str = "north"):
    envelope = ledger.sign(OWNER, RequestService(policy=policy, service=service, region=region))
    return event_id(envelope), ledger.run(envelope)[0]


def test_happy_path_assigns_least_loaded_contracted_provider_and_pays_once(
    make_ledger: LedgerFactory,
) -> None:
    ledger = _setup(make=make_ledger)
    policy = _policy(ledger)
    order, result = _request(ledger, policy)
    assert result.accepted
    row = ledger.state.get("insurance_orders", order)
    expected = min(P1.public_key, P2.public_key)  # both idle: smallest key wins
    assert row.provider == expected
    second_order, _ = _request(ledger, policy)
    assert ledger.state.get("insurance_orders", second_order).provider == max(
        P1.public_key, P2.public_key
    )  # the other one now has fewer open orders
    provider = P1 if expected == P1.public_key else P2
    other = P2 if provider is P1 else P1
    assert ledger.run(ledger.sign(other, AcceptOrder(order=order)))[0].code is Code.WRONG_ROLE
    assert ledger.run(ledger.sign(provider, AcceptOrder(order=order)))[0].accepted
    upload_by_other = ledger.sign(other, CompleteOrder(order=order, cost=700, record="towed"))
    assert ledger.run(upload_by_other)[0].code is Code.WRONG_ROLE
    done = ledger.sign(
        provider,
        CompleteOrder(order=order, cost=700, record="towed 12 km", attachments=(b"\x11" * 32,)),
    )
    assert ledger.run(done)[0].accepted
    assert ledger.state.get("insurance_orders", order).covered == 500  # capped by coverage
    assert ledger.state.get("settlements", order).status == "open"
    assert ledger.run(ledger.sign(INSURER, SettleOrder(order=order)))[0].accepted
    assert balance(ledger, provider.public_key) == 500
    again = ledger.run(ledger.sign(INSURER, SettleOrder(order=order)))[0]
    assert again.code is Code.ALREADY_EXISTS
    assert value_added_spending(ledger.state) == {INSURER.public_key: 500}


def test_rejections(make_ledger: LedgerFactory) -> None:
    ledger = _setup(make=make_ledger)
    wrong_role = ledger.sign(
        OWNER,
        IssuePolicy(
            owner=OWNER.public_key,
            token="EUR",
            coverage=(Coverage("towing", 1, 1),),
            valid_from_ms=0,
            valid_until_ms=10,
        ),
    )
    assert ledger.run(wrong_role)[0].code is Code.WRONG_ROLE
    expired = _policy(ledger, until=1_000)
    assert _request(ledger, expired)[1].code is Code.DEADLINE
    policy = _policy(ledger, count=1)
    assert _request(ledger, policy, service="fuel")[1].code is Code.INVALID  # not covered
    assert _request(ledger, policy, region="south")[1].code is Code.NOT_FOUND  # nobody there
    first, result = _request(ledger, policy)
    assert result.accepted
    assert _request(ledger, policy)[1].code is Code.EXHAUSTED  # reserved by the open order
    provider = P1 if ledger.state.get("insurance_orders", first).provider == P1.public_key else P2
    ledger.run(ledger.sign(provider, AcceptOrder(order=first)))
    ledger.run(ledger.sign(provider, CompleteOrder(order=first, cost=100, record="ok")))
    assert _request(ledger, policy)[1].code is Code.EXHAUSTED
    assert ledger.run(ledger.sign(P1, CancelPolicy(policy=policy)))[0].code is Code.WRONG_ROLE
    assert ledger.run(ledger.sign(INSURER, CancelPolicy(policy=policy)))[0].accepted
    assert _request(ledger, policy)[1].code is Code.WRONG_STATE


def test_overlapping_requests_cannot_outnumber_the_cover() -> None:
    """Issue 23: with Coverage("towing", 2, 3000), three requests sent before any order completed
    were all accepted and all paid as covered; the count is now reserved at assignment."""
    ledger = _setup()
    policy = ledger.sign(
        INSURER,
        IssuePolicy(
            owner=OWNER.public_key,
            token="EUR",
            coverage=(Coverage("towing", 2, 3000),),
            valid_from_ms=0,
            valid_until_ms=100_000,
        ),
    )
    ledger.run(policy)
    asks = [
        ledger.sign(
            OWNER, RequestService(policy=event_id(policy), service="towing", region="north")
        )
        for _ in range(3)
    ]
    codes = [r.code for r in ledger.run(*asks)]
    assert codes == [Code.OK, Code.OK, Code.EXHAUSTED]
    for ask in asks[:2]:
        order = event_id(ask)
        provider = next(
            p
            for p in (P1, P2)
            if ledger.state.get("insurance_orders", order).provider == p.public_key
        )
        ledger.run(ledger.sign(provider, AcceptOrder(order=order)))
        ledger.run(ledger.sign(provider, CompleteOrder(order=order, cost=2000, record="towed")))
        ledger.run(ledger.sign(INSURER, SettleOrder(order=order)))
    assert value_added_spending(ledger.state) == {INSURER.public_key: 3000}  # 2000 + 1000


def test_uncontracted_provider_is_never_assigned(make_ledger: LedgerFactory) -> None:
    ledger = _setup(make=make_ledger)
    policy = _policy(ledger, count=5)
    for _ in range(4):
        order, result = _request(ledger, policy)
        assert result.accepted
        assert ledger.state.get("insurance_orders", order).provider != P3.public_key


STEPS = st.lists(
    st.tuples(
        st.sampled_from(["request", "accept", "complete", "settle", "cancel"]),
        st.integers(0, 5),
        st.integers(1, 900),
    ),
    max_size=25,
)


@settings(max_examples=40, deadline=None)
@given(STEPS)
def test_property_money_conserved_entitlements_kept_projections_rebuilt(steps) -> None:
    ledger = _setup()
    policy = _policy(ledger, count=3)
    orders: list[bytes] = []
    for action, pick, amount in steps:
        order = orders[pick % len(orders)] if orders else b""
        row = ledger.state.get("insurance_orders", order) if order else None
        provider = next((p for p in (P1, P2, P3) if row and row.provider == p.public_key), P1)
        if action == "request":
            order_id, result = _request(ledger, policy)
            if result.accepted:
                orders.append(order_id)
        elif action == "accept" and order:
            ledger.run(ledger.sign(provider, AcceptOrder(order=order)))
        elif action == "complete" and order:
            done = CompleteOrder(order=order, cost=amount, record="done")
            ledger.run(ledger.sign(provider, done))
        elif action == "settle" and order:
            ledger.run(ledger.sign(INSURER, SettleOrder(order=order)))
        elif action == "cancel":
            ledger.run(ledger.sign(INSURER, CancelPolicy(policy=policy)))
        accounts = [a for _, a in ledger.state.rows("accounts") if a.token == "EUR"]
        assert sum(a.balance for a in accounts) == 10_000 and min(a.balance for a in accounts) >= 0
        usage = ledger.state.get("insurance_policies", policy).usage
        assert all(u.count <= 3 and u.amount <= 500 for u in usage)  # coverage caps
        paid = sum(
            o.covered for _, o in ledger.state.rows("insurance_orders") if o.status == "paid"
        )
        assert paid == value_added_spending(ledger.state).get(INSURER.public_key, 0)
        assert paid == 10_000 - balance(ledger, INSURER.public_key)  # each order paid once
    assert same_projections(ledger.replayed(), ledger.state)
