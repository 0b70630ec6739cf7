"""Insurance value-added services: policies, deterministic provider selection, settlement."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from consortium.events.credit import IssueCertificate, RevokeCertificate
from consortium.events.envelope import event_id
from consortium.events.identity import Identity
from consortium.events.insurance import (
    AcceptOrder,
    CancelOrder,
    CancelPolicy,
    CompleteOrder,
    ContractProvider,
    Coverage,
    DeclineOrder,
    EndContract,
    IssuePolicy,
    RegisterProvider,
    RequestService,
    SettleOrder,
)
from consortium.events.payments import IssueTokens, RegisterParticipant
from consortium.events.results import Code
from consortium.rules.bounds import MAX_VALUE
from consortium.rules.insurance import value_added_spending
from consortium.rules.tables import account_key
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
    # The second open order holds half of the 500 covered: this one is capped at its own half.
    assert ledger.state.get("insurance_orders", order).covered == 250
    assert ledger.state.get("settlements", order).status == "open"
    assert ledger.run(ledger.sign(INSURER, SettleOrder(order=order)))[0].accepted
    assert balance(ledger, provider.public_key) == 250
    again = ledger.run(ledger.sign(INSURER, SettleOrder(order=order)))[0]
    assert again.code is Code.ALREADY_EXISTS
    assert value_added_spending(ledger.state) == {INSURER.public_key: 250}


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
    # Each open order held 1500 of the 3000: both are capped at their share.
    assert value_added_spending(ledger.state) == {INSURER.public_key: 3000}


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
        assert all(  # coverage caps, reservations included
            u.used_count + u.reserved_count <= 3 and u.used_amount + u.reserved_amount <= 500
            for u in usage
        )
        paid = sum(
            o.covered for _, o in ledger.state.rows("insurance_orders") if o.status == "paid"
        )
        assert paid == value_added_spending(ledger.state).get(INSURER.public_key, 0)
        assert paid == 10_000 - balance(ledger, INSURER.public_key)  # each order paid once
    assert same_projections(ledger.replayed(), ledger.state)


# ------------------------------------------- reservations, passing on, contracts (issue 23)


def _holder(ledger: LedgerLike, order: bytes) -> Identity:
    row = ledger.state.get("insurance_orders", order)
    return next(p for p in (P1, P2, P3) if p.public_key == row.provider)


def _entitlement(ledger: LedgerLike, policy: bytes) -> tuple[int, int, int, int]:
    """(count remaining, amount remaining, count reserved, amount reserved) of towing."""
    account = ledger.state.get("accounts", account_key(OWNER.public_key, "EUR"))
    row = next(e for e in account.entitlements if e.policy == policy and e.service == "towing")
    return row.count_remaining, row.amount_remaining, row.count_reserved, row.amount_reserved


def _issue(ledger: LedgerLike, count: int, amount: int, within: int = 600_000) -> bytes:
    envelope = ledger.sign(
        INSURER,
        IssuePolicy(
            owner=OWNER.public_key,
            token="EUR",
            coverage=(Coverage("towing", count, amount),),
            valid_from_ms=0,
            valid_until_ms=10**9,
            accept_within_ms=within,
        ),
    )
    assert ledger.run(envelope)[0].accepted
    return event_id(envelope)


def _serve(ledger: LedgerLike, order: bytes, cost: int) -> int:
    """Accept, complete and settle ``order``; the covered cost paid."""
    provider = _holder(ledger, order)
    assert ledger.run(ledger.sign(provider, AcceptOrder(order=order)))[0].accepted
    done = ledger.sign(provider, CompleteOrder(order=order, cost=cost, record="done"))
    assert ledger.run(done)[0].accepted
    assert ledger.run(ledger.sign(INSURER, SettleOrder(order=order)))[0].accepted
    covered: int = ledger.state.get("insurance_orders", order).covered
    return covered


def test_open_orders_reserve_amounts_so_overlapping_orders_cannot_overspend(
    make_ledger: LedgerFactory,
) -> None:
    """Issue 23: amounts, not only counts, are reserved at assignment. Two open orders under
    Coverage("towing", 2, 3000) hold 1500 each; one cost of 2000 cannot take the other's share."""
    ledger = _setup(make=make_ledger)
    policy = _issue(ledger, 2, 3000)
    first, second = _request(ledger, policy)[0], _request(ledger, policy)[0]
    assert _entitlement(ledger, policy) == (0, 0, 2, 3000)
    assert _serve(ledger, first, 2000) == 1500  # capped: the second order holds 1500
    assert _entitlement(ledger, policy) == (0, 0, 1, 1500)
    assert _serve(ledger, second, 1000) == 1000
    assert _entitlement(ledger, policy) == (0, 500, 0, 0)  # its unused 500 went back


def test_a_lone_order_may_use_what_no_other_order_holds() -> None:
    ledger = _setup()
    policy = _issue(ledger, 2, 3000)
    order = _request(ledger, policy)[0]
    assert ledger.state.get("insurance_orders", order).reserved == 1500
    assert _serve(ledger, order, 2000) == 2000  # its 1500 plus 500 nobody reserved
    assert _entitlement(ledger, policy) == (1, 1000, 0, 0)
    assert value_added_spending(ledger.state) == {INSURER.public_key: 2000}


def test_declined_order_passes_on_and_ends_unassigned_releasing_its_reservation(
    make_ledger: LedgerFactory,
) -> None:
    ledger = _setup(make=make_ledger)
    policy = _issue(ledger, 1, 500)
    order, _ = _request(ledger, policy)
    first = _holder(ledger, order)
    assert ledger.run(ledger.sign(P3, DeclineOrder(order=order)))[0].code is Code.WRONG_ROLE
    assert ledger.run(ledger.sign(first, DeclineOrder(order=order)))[0].accepted
    second = _holder(ledger, order)
    assert second is not first and second is not P3  # P3 is not contracted
    assert _entitlement(ledger, policy) == (0, 0, 1, 500)  # still reserved while it passes on
    assert ledger.run(ledger.sign(first, AcceptOrder(order=order)))[0].code is Code.WRONG_ROLE
    assert ledger.run(ledger.sign(second, DeclineOrder(order=order)))[0].accepted
    row = ledger.state.get("insurance_orders", order)
    assert row.status == "unassigned"
    assert set(row.declined) == {P1.public_key, P2.public_key}
    assert _entitlement(ledger, policy) == (1, 500, 0, 0)
    history = [c.status for c in ledger.state.get("orders", order).history]
    assert history == ["assigned", "assigned", "unassigned"]
    assert ledger.run(ledger.sign(second, AcceptOrder(order=order)))[0].code is Code.WRONG_ROLE


def test_order_not_accepted_in_time_passes_on_and_a_late_accept_is_refused(
    make_ledger: LedgerFactory,
) -> None:
    ledger = _setup(make=make_ledger)
    policy = _issue(ledger, 1, 500, within=1_000)
    order = ledger.sign(OWNER, RequestService(policy=policy, service="towing", region="north"))
    assert ledger.run(order, time_ms=10_000)[0].accepted
    order_id = event_id(order)
    first = _holder(ledger, order_id)
    ledger.run(time_ms=10_999)  # one millisecond before the deadline: still its own
    assert _holder(ledger, order_id) is first
    ledger.run(time_ms=11_000)
    second = _holder(ledger, order_id)
    assert second is not first
    assert ledger.state.get("insurance_orders", order_id).accept_by_ms == 12_000  # fresh window
    late = ledger.run(ledger.sign(first, AcceptOrder(order=order_id)), time_ms=11_500)[0]
    assert late.code is Code.DEADLINE
    ledger.run(time_ms=50_000)  # a long gap: the second lapses too, nobody is left
    row = ledger.state.get("insurance_orders", order_id)
    assert (row.status, set(row.timed_out)) == ("unassigned", {P1.public_key, P2.public_key})
    assert _entitlement(ledger, policy) == (1, 500, 0, 0)


def test_accept_in_the_block_of_the_deadline_is_late() -> None:
    """The block hook runs before the block's events: an accept at the deadline is refused."""
    ledger = _setup()
    policy = _issue(ledger, 1, 500, within=1_000)
    order = ledger.sign(OWNER, RequestService(policy=policy, service="towing", region="north"))
    ledger.run(order, time_ms=10_000)
    first = _holder(ledger, event_id(order))
    accept = ledger.sign(first, AcceptOrder(order=event_id(order)))
    assert ledger.run(accept, time_ms=11_000)[0].code is Code.DEADLINE


def test_owner_cancels_an_open_order_and_gets_the_reservation_back() -> None:
    ledger = _setup()
    policy = _issue(ledger, 2, 500)
    assigned, accepted = _request(ledger, policy)[0], _request(ledger, policy)[0]
    ledger.run(ledger.sign(_holder(ledger, accepted), AcceptOrder(order=accepted)))
    assert ledger.run(ledger.sign(P1, CancelOrder(order=assigned)))[0].code is Code.WRONG_ROLE
    assert ledger.run(ledger.sign(OWNER, CancelOrder(order=assigned)))[0].accepted
    assert ledger.run(ledger.sign(OWNER, CancelOrder(order=accepted)))[0].accepted
    assert _entitlement(ledger, policy) == (2, 500, 0, 0)
    again = ledger.run(ledger.sign(OWNER, CancelOrder(order=assigned)))[0]
    assert again.code is Code.WRONG_STATE
    provider = _holder(ledger, accepted)
    done = ledger.sign(provider, CompleteOrder(order=accepted, cost=10, record="late"))
    assert ledger.run(done)[0].code is Code.WRONG_STATE
    assert all(not p.open_orders for _, p in ledger.state.rows("insurance_providers"))
    missing = ledger.run(ledger.sign(OWNER, CancelOrder(order=b"\x00" * 32)))[0]
    assert missing.code is Code.NOT_FOUND


def test_decline_after_accept_is_wrong_state() -> None:
    ledger = _setup()
    order = _request(ledger, _issue(ledger, 1, 500))[0]
    provider = _holder(ledger, order)
    ledger.run(ledger.sign(provider, AcceptOrder(order=order)))
    declined = ledger.run(ledger.sign(provider, DeclineOrder(order=order)))[0]
    assert declined.code is Code.WRONG_STATE


def test_ending_a_contract_reassigns_orders_not_accepted_and_lets_accepted_ones_complete(
    make_ledger: LedgerFactory,
) -> None:
    ledger = _setup(make=make_ledger)
    policy = _issue(ledger, 4, 4000)
    orders = [_request(ledger, policy)[0] for _ in range(4)]
    ended = _holder(ledger, orders[0])
    mine = [o for o in orders if _holder(ledger, o) is ended]
    assert len(mine) == 2
    ledger.run(ledger.sign(ended, AcceptOrder(order=mine[0])))
    assert ledger.run(ledger.sign(OWNER, EndContract(provider=ended.public_key)))[0].code is (
        Code.WRONG_ROLE
    )
    assert ledger.run(ledger.sign(INSURER, EndContract(provider=ended.public_key)))[0].accepted
    assert _holder(ledger, mine[1]) is not ended  # not yet accepted: passed on
    assert ledger.state.get("insurance_orders", mine[1]).declined == ()
    again = ledger.run(ledger.sign(INSURER, EndContract(provider=ended.public_key)))[0]
    assert again.code is Code.NOT_FOUND
    done = ledger.sign(ended, CompleteOrder(order=mine[0], cost=700, record="towed"))
    assert ledger.run(done)[0].accepted  # accepted before the end: it still completes
    assert ledger.run(ledger.sign(INSURER, SettleOrder(order=mine[0])))[0].accepted
    assert balance(ledger, ended.public_key) == 700


def test_ended_provider_is_no_longer_assigned() -> None:
    ledger = _setup()
    policy = _issue(ledger, 3, 3000)
    ledger.run(ledger.sign(INSURER, EndContract(provider=P1.public_key)))
    for _ in range(3):
        assert _holder(ledger, _request(ledger, policy)[0]) is P2


def test_an_insurer_whose_certificate_is_revoked_cannot_settle() -> None:
    """Issue 23: a revoked key stops on every debit it authors; SettleOrder debits the insurer."""
    ledger = _setup()
    order = _request(ledger, _issue(ledger, 1, 500))[0]
    provider = _holder(ledger, order)
    ledger.run(ledger.sign(provider, AcceptOrder(order=order)))
    ledger.run(ledger.sign(provider, CompleteOrder(order=order, cost=100, record="done")))
    certify = IssueCertificate(subject=INSURER.public_key, valid_until_ms=10**9)
    assert ledger.run(ledger.sign(ADMIN, certify))[0].accepted
    revoke = RevokeCertificate(subject=INSURER.public_key)
    assert ledger.run(ledger.sign(ADMIN, revoke))[0].accepted
    settle = ledger.run(ledger.sign(INSURER, SettleOrder(order=order)))[0]
    assert settle.code is Code.WRONG_ROLE
    assert balance(ledger, provider.public_key) == 0


def test_acceptance_window_is_bounded_and_a_huge_one_stays_in_range() -> None:
    ledger = _setup()
    for within in (0, MAX_VALUE + 1):
        body = IssuePolicy(
            owner=OWNER.public_key,
            token="EUR",
            coverage=(Coverage("towing", 1, 1),),
            valid_from_ms=0,
            valid_until_ms=10**9,
            accept_within_ms=within,
        )
        result = ledger.run(ledger.sign(INSURER, body))[0]
        assert (result.code, "accept_within_ms" in result.detail) == (Code.INVALID, True)
    order = _request(ledger, _issue(ledger, 1, 1, within=MAX_VALUE))[0]
    assert ledger.state.get("insurance_orders", order).accept_by_ms == MAX_VALUE
