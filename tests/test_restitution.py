"""Court-ordered restitution on the declarative workflow engine."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings, strategies as st

from consortium.events.payments import IssueTokens, RegisterParticipant
from consortium.events.restitution import (
    CloseCase,
    ConfirmCustody,
    ConfirmReceipt,
    Disburse,
    Entitlement,
    IssueOrder,
    RegisterCase,
    RegisterClaim,
    VerifyClaim,
    WriteOff,
)
from consortium.events.results import Code
from consortium.rules.restitution import RESTITUTION_WORKFLOWS, case_id, custody_account
from tests.ledger_fixtures import (
    ADMIN,
    GENESIS,
    Ledger,
    LedgerFactory,
    LedgerLike,
    ident,
    rules_ledger,
    same_projections,
)
from tests.test_rules_payments import balance

COURT, BANK, V1, V2, V3 = (ident(n) for n in ("court", "bank", "v1", "v2", "v3"))
WITH_WORKFLOWS = msgspec.structs.replace(GENESIS, workflows=RESTITUTION_WORKFLOWS)


def _setup(make: LedgerFactory = rules_ledger) -> LedgerLike:
    ledger = make(WITH_WORKFLOWS)
    roles = [(COURT, "court"), (BANK, "bank"), (V1, "victim"), (V2, "victim"), (V3, "victim")]
    ledger.run(
        *[
            ledger.sign(ADMIN, RegisterParticipant(participant=w.public_key, name=w.name, role=r))
            for w, r in roles
        ]
    )
    ledger.run(ledger.sign(ADMIN, IssueTokens(token="EUR", to=BANK.public_key, amount=1_000)))
    case = RegisterCase(
        case="C1",
        bank=BANK.public_key,
        token="EUR",
        custody_amount=600,
        entitlements=(Entitlement(V1.public_key, 400), Entitlement(V2.public_key, 300)),
        documents=(b"\x01" * 32,),
    )
    assert ledger.run(ledger.sign(COURT, case))[0].accepted
    return ledger


def _one(ledger: Ledger, who, body) -> Code:
    return ledger.run(ledger.sign(who, body))[0].code


def test_happy_path_from_registration_to_closing(make_ledger: LedgerFactory) -> None:
    ledger = _setup(make=make_ledger)
    assert _one(ledger, BANK, ConfirmCustody(case="C1")) is Code.OK
    assert balance(ledger, custody_account("C1")) == 600
    for v in (V1, V2):
        assert _one(ledger, v, RegisterClaim(case="C1", receiving_account=v.public_key)) is Code.OK
        assert _one(ledger, COURT, VerifyClaim(case="C1", victim=v.public_key)) is Code.OK
    order = IssueOrder(
        case="C1", payments=(Entitlement(V1.public_key, 350), Entitlement(V2.public_key, 250))
    )
    assert _one(ledger, COURT, order) is Code.OK
    for v in (V1, V2):
        assert _one(ledger, BANK, Disburse(case="C1", victim=v.public_key)) is Code.OK
        assert _one(ledger, v, ConfirmReceipt(case="C1")) is Code.OK
    assert (balance(ledger, V1.public_key), balance(ledger, V2.public_key)) == (350, 250)
    assert balance(ledger, custody_account("C1")) == 0
    assert _one(ledger, COURT, CloseCase(case="C1")) is Code.OK
    assert ledger.state.get("orders", case_id("C1")).status == "closed"


def test_each_transition_only_by_its_role_and_from_its_state(make_ledger: LedgerFactory) -> None:
    ledger = _setup(make=make_ledger)
    assert _one(ledger, COURT, ConfirmCustody(case="C1")) is Code.WRONG_ROLE
    assert _one(ledger, V1, RegisterClaim(case="C1", receiving_account=V1.public_key)) is Code.OK
    assert _one(ledger, V1, VerifyClaim(case="C1", victim=V1.public_key)) is Code.WRONG_ROLE
    assert _one(ledger, BANK, Disburse(case="C1", victim=V1.public_key)) is Code.WRONG_STATE
    assert (
        _one(ledger, V3, RegisterClaim(case="C1", receiving_account=V3.public_key))
        is Code.NOT_FOUND
    )  # not a listed victim
    order = IssueOrder(case="C1", payments=(Entitlement(V1.public_key, 100),))
    assert _one(ledger, COURT, order) is Code.WRONG_STATE  # no custody yet
    assert _one(ledger, COURT, CloseCase(case="C1")) is Code.WRONG_STATE


def test_disbursements_never_exceed_entitlement_or_custody(make_ledger: LedgerFactory) -> None:
    ledger = _setup(make=make_ledger)
    ledger.run(ledger.sign(BANK, ConfirmCustody(case="C1")))
    for v in (V1, V2):
        ledger.run(ledger.sign(v, RegisterClaim(case="C1", receiving_account=v.public_key)))
        ledger.run(ledger.sign(COURT, VerifyClaim(case="C1", victim=v.public_key)))
    too_much = IssueOrder(case="C1", payments=(Entitlement(V1.public_key, 401),))
    assert _one(ledger, COURT, too_much) is Code.EXHAUSTED
    both = IssueOrder(
        case="C1", payments=(Entitlement(V1.public_key, 400), Entitlement(V2.public_key, 300))
    )
    assert _one(ledger, COURT, both) is Code.INSUFFICIENT_FUNDS  # 700 > 600 in custody
    assert _one(ledger, COURT, WriteOff(case="C1", victim=V2.public_key)) is Code.OK
    assert _one(ledger, COURT, CloseCase(case="C1")) is Code.WRONG_STATE  # V1 not settled


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["order", "pay"]), st.integers(0, 1), st.integers(1, 450)),
        max_size=12,
    )
)
def test_property_money_is_conserved_and_no_entitlement_overdrawn(steps) -> None:
    ledger = _setup()
    ledger.run(ledger.sign(BANK, ConfirmCustody(case="C1")))
    victims = (V1, V2)
    for v in victims:
        ledger.run(ledger.sign(v, RegisterClaim(case="C1", receiving_account=v.public_key)))
        ledger.run(ledger.sign(COURT, VerifyClaim(case="C1", victim=v.public_key)))
    for action, who, amount in steps:
        victim = victims[who]
        if action == "order":
            body = IssueOrder(case="C1", payments=(Entitlement(victim.public_key, amount),))
            ledger.run(ledger.sign(COURT, body))
        else:
            ledger.run(ledger.sign(BANK, Disburse(case="C1", victim=victim.public_key)))
        held = [
            balance(ledger, k)
            for k in (BANK.public_key, custody_account("C1"), V1.public_key, V2.public_key)
        ]
        assert sum(held) == 1_000 and min(held) >= 0
        assert balance(ledger, V1.public_key) <= 400 and balance(ledger, V2.public_key) <= 300
    assert same_projections(ledger.replayed(WITH_WORKFLOWS), ledger.state)
