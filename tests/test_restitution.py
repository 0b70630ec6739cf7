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
    ReturnCustody,
    Share,
    VerifyClaim,
    WriteOff,
)
from consortium.events.results import Code
from consortium.rules.restitution import (
    RESTITUTION_WORKFLOWS,
    case_id,
    custody_account,
    resolve_shares,
)
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


def _claims(ledger: LedgerLike, *victims) -> None:
    for v in victims:
        assert _one(ledger, v, RegisterClaim(case="C1", receiving_account=v.public_key)) is Code.OK
        assert _one(ledger, COURT, VerifyClaim(case="C1", victim=v.public_key)) is Code.OK


def _order(*payments: tuple[object, int]) -> IssueOrder:
    return IssueOrder(case="C1", payments=tuple(Entitlement(v.public_key, a) for v, a in payments))


def test_happy_path_from_registration_to_closing(make_ledger: LedgerFactory) -> None:
    """Partly paid entitlements: the case closes only once each remainder is written off by
    amount, and the court then returns what custody still holds to the bank."""
    ledger = _setup(make=make_ledger)
    assert _one(ledger, BANK, ConfirmCustody(case="C1")) is Code.OK
    assert balance(ledger, custody_account("C1")) == 600
    _claims(ledger, V1, V2)
    assert _one(ledger, COURT, _order((V1, 350), (V2, 200))) is Code.OK
    for v in (V1, V2):
        assert _one(ledger, BANK, Disburse(case="C1", victim=v.public_key)) is Code.OK
        assert _one(ledger, v, ConfirmReceipt(case="C1")) is Code.OK
    assert (balance(ledger, V1.public_key), balance(ledger, V2.public_key)) == (350, 200)
    assert balance(ledger, custody_account("C1")) == 50
    assert _one(ledger, COURT, CloseCase(case="C1")) is Code.WRONG_STATE  # 50 + 100 unpaid
    short = WriteOff(case="C1", victim=V1.public_key, amount=40)
    assert _one(ledger, COURT, short) is Code.INVALID  # not the remainder, 50
    assert _one(ledger, COURT, WriteOff(case="C1", victim=V1.public_key, amount=50)) is Code.OK
    assert _one(ledger, COURT, CloseCase(case="C1")) is Code.WRONG_STATE  # V2's 100 remain
    assert _one(ledger, COURT, WriteOff(case="C1", victim=V2.public_key, amount=100)) is Code.OK
    assert _one(ledger, COURT, CloseCase(case="C1")) is Code.OK
    assert ledger.state.get("orders", case_id("C1")).status == "closed"
    assert _one(ledger, COURT, ReturnCustody(case="C1", amount=50)) is Code.OK
    assert (balance(ledger, custody_account("C1")), balance(ledger, BANK.public_key)) == (0, 450)
    order = ledger.state.get("orders", case_id("C1"))
    assert order.status == order.history[-1].status == "returned"


def test_a_paid_victim_may_be_paid_again_up_to_the_entitlement(
    make_ledger: LedgerFactory,
) -> None:
    """A confirmed claim takes a further order, so a case need not write off what custody
    can still pay."""
    ledger = _setup(make=make_ledger)
    ledger.run(ledger.sign(BANK, ConfirmCustody(case="C1")))
    _claims(ledger, V1)
    assert _one(ledger, COURT, _order((V1, 300))) is Code.OK
    assert _one(ledger, BANK, Disburse(case="C1", victim=V1.public_key)) is Code.OK
    assert _one(ledger, COURT, _order((V1, 50))) is Code.WRONG_STATE  # receipt not confirmed
    assert _one(ledger, V1, ConfirmReceipt(case="C1")) is Code.OK
    assert _one(ledger, COURT, _order((V1, 101))) is Code.EXHAUSTED  # 300 + 101 > 400
    assert _one(ledger, COURT, _order((V1, 100))) is Code.OK
    assert _one(ledger, BANK, Disburse(case="C1", victim=V1.public_key)) is Code.OK
    assert _one(ledger, V1, ConfirmReceipt(case="C1")) is Code.OK
    assert balance(ledger, V1.public_key) == 400
    assert _one(ledger, COURT, WriteOff(case="C1", victim=V1.public_key, amount=1)) is (
        Code.EXHAUSTED
    )  # paid in full: nothing to write off
    settlement = ledger.state.get("settlements", case_id("C1") + V1.public_key)
    assert (settlement.amount, settlement.status) == (400, "confirmed")
    assert [c.status for c in settlement.history] == [
        "ordered",
        "paid",
        "confirmed",
        "ordered",
        "paid",
        "confirmed",
    ]


def test_a_write_off_after_an_order_releases_what_the_order_reserved(
    make_ledger: LedgerFactory,
) -> None:
    ledger = _setup(make=make_ledger)
    ledger.run(ledger.sign(BANK, ConfirmCustody(case="C1")))
    _claims(ledger, V1, V2)
    assert _one(ledger, COURT, _order((V1, 400))) is Code.OK
    assert _one(ledger, COURT, _order((V2, 300))) is Code.INSUFFICIENT_FUNDS  # 400 + 300 > 600
    assert _one(ledger, COURT, WriteOff(case="C1", victim=V1.public_key, amount=400)) is Code.OK
    assert _one(ledger, BANK, Disburse(case="C1", victim=V1.public_key)) is Code.WRONG_STATE
    assert _one(ledger, COURT, _order((V2, 300))) is Code.OK  # the 400 are free again
    claim = ledger.state.get("restitution_claims", case_id("C1") + V1.public_key)
    assert (claim.ordered, claim.paid, claim.written_off) == (0, 0, 400)
    settlement = ledger.state.get("settlements", case_id("C1") + V1.public_key)
    assert (settlement.amount, settlement.status) == (0, "written_off")
    assert [c.status for c in settlement.history] == ["ordered", "written_off"]


def test_custody_goes_back_only_by_the_court_after_closing_all_of_it_once(
    make_ledger: LedgerFactory,
) -> None:
    ledger = _setup(make=make_ledger)
    ledger.run(ledger.sign(BANK, ConfirmCustody(case="C1")))
    _claims(ledger, V1)
    assert _one(ledger, COURT, ReturnCustody(case="C1", amount=600)) is Code.WRONG_STATE
    ledger.run(ledger.sign(COURT, _order((V1, 400))))
    ledger.run(ledger.sign(BANK, Disburse(case="C1", victim=V1.public_key)))
    ledger.run(ledger.sign(V1, ConfirmReceipt(case="C1")))
    assert _one(ledger, COURT, WriteOff(case="C1", victim=V2.public_key, amount=300)) is Code.OK
    assert _one(ledger, COURT, CloseCase(case="C1")) is Code.OK
    assert _one(ledger, BANK, ReturnCustody(case="C1", amount=200)) is Code.WRONG_ROLE
    assert _one(ledger, COURT, ReturnCustody(case="C1", amount=199)) is Code.INVALID
    assert _one(ledger, COURT, ReturnCustody(case="C1", amount=201)) is Code.INVALID
    assert _one(ledger, COURT, ReturnCustody(case="C1", amount=200)) is Code.OK
    assert _one(ledger, COURT, ReturnCustody(case="C1", amount=200)) is Code.WRONG_STATE
    assert balance(ledger, BANK.public_key) == 600  # 1000 - 600 in custody + 200 back
    assert _one(ledger, V3, RegisterClaim(case="C1", receiving_account=V3.public_key)) is (
        Code.NOT_FOUND
    )


def test_a_write_off_names_a_listed_victim(make_ledger: LedgerFactory) -> None:
    ledger = _setup(make=make_ledger)
    stranger = WriteOff(case="C1", victim=V3.public_key, amount=1)
    assert _one(ledger, COURT, stranger) is Code.NOT_FOUND
    assert _one(ledger, V1, WriteOff(case="C1", victim=V1.public_key, amount=400)) is (
        Code.WRONG_ROLE
    )


def _shared_case(custody: int, fixed: tuple[Entitlement, ...], *shares: Share) -> RegisterCase:
    return RegisterCase(
        case="S1",
        bank=BANK.public_key,
        token="EUR",
        custody_amount=custody,
        entitlements=fixed,
        shares=shares,
    )


def test_entitlements_given_as_shares_of_the_recovered_sum(make_ledger: LedgerFactory) -> None:
    """900 left after V1's fixed 100, split 3333 : 6667 basis points: 299.97 and 600.03 round
    down to 299 and 600, and the leftover 1 goes to the largest share."""
    ledger = _setup(make=make_ledger)
    body = _shared_case(
        1_000,
        (Entitlement(V1.public_key, 100),),
        Share(V2.public_key, 3_333),
        Share(V3.public_key, 6_667),
    )
    assert _one(ledger, COURT, body) is Code.OK
    case = ledger.state.get("restitution_cases", case_id("S1"))
    assert [(e.victim, e.amount) for e in case.entitlements] == [
        (V1.public_key, 100),
        (V2.public_key, 299),
        (V3.public_key, 601),
    ]
    assert ledger.state.get("orders", case_id("S1")).amount == 1_000


def test_shares_below_the_whole_round_down_and_leave_the_rest_in_custody() -> None:
    shares = (Share(b"a", 2_500), Share(b"b", 2_500))
    assert [e.amount for e in resolve_shares(999, shares)] == [249, 249]
    whole = (Share(b"a", 2_500), Share(b"b", 5_000), Share(b"c", 2_500))
    assert [e.amount for e in resolve_shares(999, whole)] == [249, 501, 249]
    ties = (Share(b"a", 5_000), Share(b"b", 5_000))
    assert [e.amount for e in resolve_shares(7, ties)] == [4, 3]  # first among equals


def test_bad_shares_are_invalid(make_ledger: LedgerFactory) -> None:
    ledger = _setup(make=make_ledger)
    over = _shared_case(1_000, (), Share(V1.public_key, 6_000), Share(V2.public_key, 4_001))
    assert _one(ledger, COURT, over) is Code.INVALID
    nothing = _shared_case(100, (), Share(V1.public_key, 99), Share(V2.public_key, 9_901))
    assert _one(ledger, COURT, nothing) is Code.INVALID  # 100 * 99 // 10000 == 0
    no_room = _shared_case(100, (Entitlement(V1.public_key, 100),), Share(V2.public_key, 10_000))
    assert _one(ledger, COURT, no_room) is Code.INVALID
    twice = _shared_case(1_000, (Entitlement(V1.public_key, 100),), Share(V1.public_key, 10_000))
    assert _one(ledger, COURT, twice) is Code.INVALID


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
    assert _one(ledger, COURT, WriteOff(case="C1", victim=V2.public_key, amount=300)) is Code.OK
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
