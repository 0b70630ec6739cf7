"""Every integer the rules store stays in 0..2**63-1: out of range is ``invalid``, never an error.

The reported failure (issue 21): ``IssueTokens`` of 2**64-1 to an account that already held a
balance was admitted, the state could then not be encoded, and no later block committed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
from hypothesis import given, settings, strategies as st

from consortium.demo.common import identity as demo_identity
from consortium.events.body import EventBody
from consortium.events.credit import (
    ConfirmSettlement,
    GrantCredit,
    IssueCertificate,
    Leg,
    LinkedTransfers,
    Pay,
    PendingTransfer,
    PostTransfer,
    StartSettlement,
    VoidTransfer,
)
from consortium.events.envelope import add_signatures, event_id
from consortium.events.genesis import TokenDefinition
from consortium.events.identity import Identity
from consortium.events.insurance import (
    AcceptOrder,
    CompleteOrder,
    Coverage,
    IssuePolicy,
    RequestService,
    SettleOrder,
)
from consortium.events.payments import IssueTokens, RegisterParticipant, Transfer
from consortium.events.private_data import GrantConsent, RequestData, StoreRecord
from consortium.events.rebate import Promotion, Purchase
from consortium.events.registry import EVENT_BODY_TYPES
from consortium.events.restitution import (
    ConfirmCustody,
    Disburse,
    Entitlement,
    IssueOrder,
    RegisterCase,
    RegisterClaim,
    VerifyClaim,
)
from consortium.events.results import Code, EventResult
from consortium.rules.bounds import MAX_VALUE
from consortium.rules.engine import genesis_state
from consortium.rules.rulebook import RULESET
from tests import test_credit, test_insurance, test_rebate, test_restitution
from tests.consortium_fixtures import funded_users, start
from tests.ledger_fixtures import ADMIN, ALICE, BOB, CHAIN, GENESIS, Ledger, ident, rules_ledger
from tests.test_rules_payments import balance

MAX_U64 = 2**64 - 1
EDGES = [-(2**63), -1, 0, 1, 2**62, MAX_VALUE - 1, MAX_VALUE, MAX_VALUE + 1, MAX_U64 - 1, MAX_U64]
TWO_TOKENS = msgspec.structs.replace(
    GENESIS, tokens=(TokenDefinition("EUR", "org"), TokenDefinition("USD", "org"))
)


def _issue(ledger: Ledger, amount: int, to: bytes = ALICE.public_key) -> EventResult:
    return ledger.run(ledger.sign(ADMIN, IssueTokens(token="EUR", to=to, amount=amount)))[0]


def test_issuing_2_64_minus_1_to_a_holder_is_refused_and_the_ledger_goes_on() -> None:
    ledger = Ledger()
    assert _issue(ledger, 10).accepted
    refused = _issue(ledger, MAX_U64)
    assert refused.code is Code.INVALID and "IssueTokens.amount" in refused.detail
    assert _issue(ledger, MAX_VALUE - 10).accepted  # the supply reaches the bound exactly
    over = _issue(ledger, 1, BOB.public_key)
    assert over.code is Code.INVALID and "supply of EUR" in over.detail
    paid = ledger.run(ledger.sign(ALICE, Transfer(token="EUR", to=BOB.public_key, amount=3)))
    assert paid[0].accepted
    assert balance(ledger, ALICE.public_key) == MAX_VALUE - 3


def test_issuing_2_64_minus_1_through_a_consortium_leaves_the_chain_live(tmp_path: Path) -> None:
    c = start(tmp_path)
    try:
        [alice, bob] = funded_users(c, 2)
        admin = c.participant(demo_identity("admin@north-bank"))
        huge = admin.submit(IssueTokens(token="NORTH", to=alice.public_key, amount=MAX_U64))
        assert huge.result(30).result.code is Code.INVALID
        later = alice.submit(Transfer(token="NORTH", to=bob.public_key, amount=1))
        assert later.result(30).accepted
        assert c.running_validators() == [0, 1, 2, 3]
    finally:
        c.stop()


Setup = Callable[[], tuple[Ledger, bytes]]


def _plain(who: Identity, body: EventBody) -> tuple[Ledger, bytes]:
    ledger = Ledger()
    return ledger, ledger.sign(who, body)


def _credit_case(body: object, funds: int = 100) -> tuple[Ledger, bytes]:
    ledger = test_credit._setup(funds)
    assert isinstance(ledger, Ledger)
    envelope = ledger.sign(test_credit.ENT, body)  # type: ignore[arg-type]
    if isinstance(body, GrantCredit):
        return ledger, add_signatures(envelope, CHAIN, [test_credit.ENT])
    return ledger, envelope


def _grant_by_merchant(limit: int) -> tuple[Ledger, bytes]:
    ledger = test_credit._setup()
    assert isinstance(ledger, Ledger)
    body = GrantCredit(enterprise=test_credit.ENT.public_key, token="EUR", limit=limit)
    return ledger, add_signatures(ledger.sign(test_credit.MER, body), CHAIN, [test_credit.ENT])


def _linked_over_two_tokens() -> tuple[Ledger, bytes]:
    """Each token's legs are covered, but their total, the order's amount, is past the bound."""
    ledger = Ledger(state=genesis_state(TWO_TOKENS, RULESET))
    for token in ("EUR", "USD"):
        ledger.run(
            ledger.sign(ADMIN, IssueTokens(token=token, to=ALICE.public_key, amount=MAX_VALUE))
        )
    legs = (Leg(BOB.public_key, "EUR", MAX_VALUE), Leg(BOB.public_key, "USD", MAX_VALUE))
    return ledger, ledger.sign(ALICE, LinkedTransfers(legs=legs))


def _policy(field: str, value: int) -> tuple[Ledger, bytes]:
    ledger = test_insurance._setup()
    assert isinstance(ledger, Ledger)
    fields: dict[str, int] = {"max_amount": 500, "valid_until_ms": 100_000, field: value}
    body = IssuePolicy(
        owner=test_insurance.OWNER.public_key,
        token="EUR",
        coverage=(Coverage("towing", 2, fields["max_amount"]),),
        valid_from_ms=0,
        valid_until_ms=fields["valid_until_ms"],
    )
    return ledger, ledger.sign(test_insurance.INSURER, body)


def _case(*amounts: int, custody: int = 600) -> tuple[Ledger, bytes]:
    ledger = test_restitution._setup()
    assert isinstance(ledger, Ledger)
    victims = (test_restitution.V1, test_restitution.V2, test_restitution.V3)
    body = RegisterCase(
        case="C2",
        bank=test_restitution.BANK.public_key,
        token="EUR",
        custody_amount=custody,
        entitlements=tuple(
            Entitlement(v.public_key, a) for v, a in zip(victims, amounts, strict=False)
        ),
        documents=(),
    )
    return ledger, ledger.sign(test_restitution.COURT, body)


def _purchase(amount: int) -> tuple[Ledger, bytes]:
    ledger, _ = test_rebate._setup()
    assert isinstance(ledger, Ledger)
    body = Purchase(merchant=test_rebate.MERCHANT.public_key, token="EUR", amount=amount)
    envelope = ledger.sign(test_rebate.CUSTOMER, body)
    return ledger, add_signatures(envelope, CHAIN, [test_rebate.MERCHANT])


def _promotion(rebate_amount: int, rebate_time_ms: int) -> tuple[Ledger, bytes]:
    ledger, purchase = test_rebate._setup()
    assert isinstance(ledger, Ledger)
    body = Promotion(
        purchase=purchase,
        customer=test_rebate.CUSTOMER.public_key,
        third_party=test_rebate.THIRD.public_key,
        new_price=80,
        rebate_time_ms=rebate_time_ms,
        rebate_amount=rebate_amount,
    )
    envelope = ledger.sign(test_rebate.MERCHANT, body)
    return ledger, add_signatures(envelope, CHAIN, [test_rebate.CUSTOMER, test_rebate.THIRD])


def _consent(expires_ms: int) -> tuple[Ledger, bytes]:
    ledger = Ledger()
    person, fi, extractor = ident("person"), ident("fi"), ident("extractor")
    ledger.run(
        *[
            ledger.sign(ADMIN, RegisterParticipant(participant=w.public_key, name=w.name, role=r))
            for w, r in ((person, "individual"), (fi, "fi"), (extractor, "extractor"))
        ]
    )
    request = ledger.sign(
        fi, RequestData(owner=person.public_key, fields=("income",), purpose="loan", format="json")
    )
    store = StoreRecord(
        request=event_id(request),
        blob=bytes(32),
        fields=("income",),
        wrapped_key=bytes(72),
    )
    stored = ledger.sign(extractor, store)
    assert [r.code for r in ledger.run(request, stored)] == [Code.OK, Code.OK]
    consent = GrantConsent(
        fi=fi.public_key,
        record=event_id(stored),
        fields=("income",),
        purpose="loan",
        expires_ms=expires_ms,
    )
    return ledger, ledger.sign(person, consent)


CASES: dict[str, tuple[Setup, str]] = {
    "rebate amount": (lambda: _promotion(MAX_U64, 10_000), "Promotion.rebate_amount"),
    "rebate time": (lambda: _promotion(15, MAX_U64), "Promotion.rebate_time_ms"),
    "consent expiry": (lambda: _consent(MAX_U64), "GrantConsent.expires_ms"),
    "transfer amount": (
        lambda: _plain(ALICE, Transfer(token="EUR", to=BOB.public_key, amount=MAX_VALUE + 1)),
        "Transfer.amount",
    ),
    "credit limit": (lambda: _grant_by_merchant(MAX_VALUE + 1), "GrantCredit.limit"),
    "pay amount": (
        lambda: _credit_case(Pay(merchant=test_credit.MER.public_key, token="EUR", amount=MAX_U64)),
        "Pay.amount",
    ),
    "pending timeout": (
        lambda: _credit_case(
            PendingTransfer(
                to=test_credit.MER.public_key, token="EUR", amount=1, timeout_ms=MAX_U64
            )
        ),
        "PendingTransfer.timeout_ms",
    ),
    "certificate validity": (
        lambda: _plain(ADMIN, IssueCertificate(subject=ALICE.public_key, valid_until_ms=MAX_U64)),
        "IssueCertificate.valid_until_ms",
    ),
    "linked total": (_linked_over_two_tokens, "linked transfers' total"),
    "coverage amount": (lambda: _policy("max_amount", MAX_VALUE + 1), "max_amount"),
    "policy validity": (lambda: _policy("valid_until_ms", MAX_U64), "IssuePolicy.valid_until_ms"),
    "custody amount": (lambda: _case(1, custody=MAX_U64), "RegisterCase.custody_amount"),
    "entitlement": (lambda: _case(MAX_VALUE + 1), "entitlements[0].amount"),
    "entitlements' total": (lambda: _case(MAX_VALUE, MAX_VALUE), "total entitlement"),
    "purchase amount": (lambda: _purchase(MAX_U64), "Purchase.amount"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_each_rule_refuses_a_value_past_the_bound_naming_the_field(name: str) -> None:
    setup, field = CASES[name]
    ledger, envelope = setup()
    [result] = ledger.run(envelope, time_ms=3_000)
    assert result.code is Code.INVALID and field in result.detail, result


AMOUNTS = st.one_of(st.sampled_from(EDGES), st.integers(-(2**63), MAX_U64))
OPS = st.lists(
    st.tuples(
        st.sampled_from(
            ["issue", "transfer", "pay", "grant", "pending", "finish", "linked", "settle"]
        ),
        AMOUNTS,
    ),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(OPS)
def test_property_amounts_near_the_bounds_never_raise_and_tokens_are_conserved(ops) -> None:
    ent, mer = test_credit.ENT, test_credit.MER
    ledger = test_credit._setup(funds=0)
    assert isinstance(ledger, Ledger)
    pendings: list[bytes] = []
    now = 4_000
    for op, value in ops:
        now += 700
        if op == "issue":
            body: object = IssueTokens(token="EUR", to=ent.public_key, amount=value)
            envelope = ledger.sign(ADMIN, body)  # type: ignore[arg-type]
        elif op == "transfer":
            envelope = ledger.sign(ent, Transfer(token="EUR", to=mer.public_key, amount=value))
        elif op == "pay":
            envelope = ledger.sign(ent, Pay(merchant=mer.public_key, token="EUR", amount=value))
        elif op == "grant":
            grant = GrantCredit(enterprise=ent.public_key, token="EUR", limit=value)
            envelope = add_signatures(ledger.sign(mer, grant), CHAIN, [ent])
        elif op == "pending":
            timeout = value if value % 2 else now + 1_000
            pending = PendingTransfer(
                to=mer.public_key, token="EUR", amount=value, timeout_ms=timeout
            )
            envelope = ledger.sign(ent, pending)
            pendings.append(event_id(envelope))
        elif op == "finish" and pendings:
            finish = (PostTransfer if value % 2 else VoidTransfer)(pending=pendings[-1])
            envelope = ledger.sign(ent, finish)
        elif op == "linked":
            legs = (Leg(mer.public_key, "EUR", value), Leg(BOB.public_key, "EUR", value))
            envelope = ledger.sign(ent, LinkedTransfers(legs=legs))
        else:
            bills = tuple(k for k, b in ledger.state.rows("credit_bills") if b.status == "open")
            if not bills:
                continue
            start_ = ledger.sign(ent, StartSettlement(merchant=mer.public_key, bills=bills))
            if not ledger.run(start_, time_ms=now)[0].accepted:
                continue
            envelope = ledger.sign(mer, ConfirmSettlement(settlement=event_id(start_)))
        ledger.run(envelope, time_ms=now)  # the rules never raise; the state always encodes
        supply = ledger.state.get("tokens", b"EUR").supply
        accounts = [a for _, a in ledger.state.rows("accounts") if a.token == "EUR"]
        assert sum(a.balance for a in accounts) == supply <= MAX_VALUE
        assert all(0 <= a.balance <= MAX_VALUE for a in accounts)
        for _, line in ledger.state.rows("credit_lines"):
            assert 0 <= line.used <= line.limit <= MAX_VALUE


def _conserved(ledger: Ledger) -> None:
    supply = ledger.state.get("tokens", b"EUR").supply
    accounts = [a for _, a in ledger.state.rows("accounts") if a.token == "EUR"]
    assert sum(a.balance for a in accounts) == supply <= MAX_VALUE
    assert all(0 <= a.balance for a in accounts)


@settings(max_examples=40, deadline=None)
@given(st.lists(AMOUNTS, min_size=6, max_size=6))
def test_property_restitution_at_the_bounds_never_raises_and_conserves(values) -> None:
    funds, custody, first, second, ordered, rest = values
    ledger = test_restitution._setup()
    assert isinstance(ledger, Ledger)
    court, bank, v1, v2 = (
        test_restitution.COURT,
        test_restitution.BANK,
        test_restitution.V1,
        test_restitution.V2,
    )
    steps = [
        (ADMIN, IssueTokens(token="EUR", to=bank.public_key, amount=funds)),
        (
            court,
            RegisterCase(
                case="C2",
                bank=bank.public_key,
                token="EUR",
                custody_amount=custody,
                entitlements=(
                    Entitlement(v1.public_key, first),
                    Entitlement(v2.public_key, second),
                ),
                documents=(),
            ),
        ),
        (bank, ConfirmCustody(case="C2")),
        (v1, RegisterClaim(case="C2", receiving_account=v1.public_key)),
        (court, VerifyClaim(case="C2", victim=v1.public_key)),
        (court, IssueOrder(case="C2", payments=(Entitlement(v1.public_key, ordered),))),
        (bank, Disburse(case="C2", victim=v1.public_key)),
        (court, IssueOrder(case="C2", payments=(Entitlement(v1.public_key, rest),))),
        (bank, Disburse(case="C2", victim=v1.public_key)),
    ]
    for who, body in steps:
        ledger.run(ledger.sign(who, body))  # the rules never raise; the state always encodes
        _conserved(ledger)
    claim = ledger.state.get("restitution_claims", test_restitution.case_id("C2") + v1.public_key)
    assert claim is None or claim.paid <= claim.ordered <= MAX_VALUE


@settings(max_examples=40, deadline=None)
@given(st.lists(AMOUNTS, min_size=4, max_size=4))
def test_property_insurance_at_the_bounds_never_raises_and_conserves(values) -> None:
    funds, count, cap, cost = values
    ledger = test_insurance._setup()
    assert isinstance(ledger, Ledger)
    insurer, owner = test_insurance.INSURER, test_insurance.OWNER
    ledger.run(ledger.sign(ADMIN, IssueTokens(token="EUR", to=insurer.public_key, amount=funds)))
    policy = ledger.sign(
        insurer,
        IssuePolicy(
            owner=owner.public_key,
            token="EUR",
            coverage=(Coverage("towing", count, cap),),
            valid_from_ms=0,
            valid_until_ms=MAX_VALUE,
        ),
    )
    ledger.run(policy)
    request = ledger.sign(
        owner, RequestService(policy=event_id(policy), service="towing", region="north")
    )
    ledger.run(request)
    order = event_id(request)
    row = ledger.state.get("insurance_orders", order)
    provider = next(
        (p for p in (test_insurance.P1, test_insurance.P2) if row and row.provider == p.public_key),
        test_insurance.P1,
    )
    for who, body in (
        (provider, AcceptOrder(order=order)),
        (provider, CompleteOrder(order=order, cost=cost, record="done")),
        (insurer, SettleOrder(order=order)),
    ):
        ledger.run(ledger.sign(who, body))
        _conserved(ledger)


def _edge_value(t: Any, edge: int) -> Any:
    """A value of type ``t`` with every integer in it set to ``edge``."""
    if isinstance(t, mi.IntType):
        return edge
    if isinstance(t, mi.BytesType):
        return bytes(32)
    if isinstance(t, mi.StrType):
        return "EUR"
    if isinstance(t, mi.BoolType):
        return True
    if isinstance(t, mi.VarTupleType | mi.ListType):
        return (_edge_value(t.item_type, edge),)
    if isinstance(t, mi.TupleType):
        return tuple(_edge_value(item, edge) for item in t.item_types)
    if isinstance(t, mi.StructType):
        return _edge_body(t.cls, edge)
    if isinstance(t, mi.UnionType):
        return next(_edge_value(x, edge) for x in t.types if not isinstance(x, mi.NoneType))
    return None


def _edge_body(cls: Any, edge: int) -> Any:
    fields = mi.type_info(cls).fields
    return cls(
        **{f.name: _edge_value(f.type, edge) for f in fields if f.name not in ("author", "seq")}
    )


@pytest.mark.parametrize("body_type", EVENT_BODY_TYPES, ids=lambda t: t.__name__)
def test_every_event_type_with_integers_at_the_edges_gets_a_verdict(body_type: Any) -> None:
    """Every integer field of every event at 2**64-1, 2**63 and -2**63, by an admin and by a
    user: each gets a typed result (the rules never raise, so the chain never halts on it)."""
    for edge in (MAX_U64, 2**63, -(2**63)):
        for author in (ADMIN, ALICE):
            ledger = rules_ledger()
            try:
                envelope = ledger.sign(author, _edge_body(body_type, edge))
            except (OverflowError, msgspec.EncodeError):
                continue  # not encodable: refused in the caller before it is signed
            [result] = ledger.run(envelope, time_ms=3_000)
            assert isinstance(result.code, Code)
