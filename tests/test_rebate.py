"""The merchant promotion rebate: all-party signatures, deadlines in block time, one rebate."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from consortium.api import Consortium
from consortium.demo.common import admin, identity
from consortium.events.envelope import add_signatures, decode_envelope, event_id
from consortium.events.payments import IssueTokens, RegisterParticipant, Transfer
from consortium.events.rebate import ConflictEvidence, NewPurchase, Promotion, Purchase, RebateClaim
from consortium.events.results import Code
from consortium.events.signing import Domain
from consortium.rules.credit import hold_account
from tests.consortium_fixtures import start
from tests.ledger_fixtures import (
    ADMIN,
    ALICE,
    BOB,
    CHAIN,
    Ledger,
    LedgerFactory,
    LedgerLike,
    ident,
    rules_ledger,
)
from tests.test_rules_payments import balance

MERCHANT, CUSTOMER, THIRD = BOB, ALICE, ident("carol")
T_R = 10_000


def _setup(make: LedgerFactory = rules_ledger) -> tuple[LedgerLike, bytes]:
    """Carol enrolled, customer and third party funded, a completed purchase of 100."""
    from consortium.events.payments import RegisterParticipant

    ledger = make()
    ledger.run(
        ledger.sign(
            ADMIN, RegisterParticipant(participant=THIRD.public_key, name="carol", role="user")
        ),
        ledger.sign(ADMIN, IssueTokens(token="EUR", to=CUSTOMER.public_key, amount=1000)),
        ledger.sign(ADMIN, IssueTokens(token="EUR", to=THIRD.public_key, amount=1000)),
        time_ms=1_000,
    )
    purchase = add_signatures(
        ledger.sign(CUSTOMER, Purchase(merchant=MERCHANT.public_key, token="EUR", amount=100)),
        CHAIN,
        [MERCHANT],
    )
    [result] = ledger.run(purchase, time_ms=2_000)
    assert result.accepted
    return ledger, event_id(purchase)


def _promotion(ledger: Ledger, purchase: bytes, new_price: int = 80, signers=None) -> bytes:
    body = Promotion(
        purchase=purchase,
        customer=CUSTOMER.public_key,
        third_party=THIRD.public_key,
        new_price=new_price,
        rebate_time_ms=T_R,
        rebate_amount=15,
    )
    envelope = ledger.sign(MERCHANT, body)
    return add_signatures(envelope, CHAIN, signers if signers is not None else [CUSTOMER, THIRD])


def _three(ledger: Ledger, author, body, others) -> bytes:
    return add_signatures(ledger.sign(author, body), CHAIN, others)


def _claim(ledger: Ledger, pid: bytes, others=(THIRD,)) -> bytes:
    """The rebate claim: the customer broadcasts it, the third party co-signs."""
    return _three(ledger, CUSTOMER, RebateClaim(promotion=pid), list(others))


def test_rebate_paid_once_at_the_rebate_time_when_all_is_in_time(
    make_ledger: LedgerFactory,
) -> None:
    ledger, purchase = _setup(make=make_ledger)
    promotion = _promotion(ledger, purchase)
    assert ledger.run(promotion, time_ms=3_000)[0].accepted
    pid = event_id(promotion)
    new = _three(ledger, MERCHANT, NewPurchase(promotion=pid), [THIRD, CUSTOMER])
    claim = _claim(ledger, pid)
    assert [r.code for r in ledger.run(new, claim, time_ms=4_000)] == [Code.OK, Code.OK]
    again = _claim(ledger, pid)
    assert ledger.run(again, time_ms=5_000)[0].code is Code.ALREADY_EXISTS
    before = balance(ledger, CUSTOMER.public_key)
    ledger.run(time_ms=9_000)  # not 9_999: an idle consortium's own empty block may come first
    assert balance(ledger, CUSTOMER.public_key) == before  # never early
    ledger.run(time_ms=T_R)
    assert balance(ledger, CUSTOMER.public_key) == before + 15
    assert balance(ledger, hold_account(pid)) == 0
    settlement = ledger.state.get("settlements", pid)
    assert settlement.status == "settled"
    assert [c.status for c in settlement.history] == ["held", "settled"]
    ledger.run(time_ms=T_R + 5_000)
    assert balance(ledger, CUSTOMER.public_key) == before + 15  # once
    late = _claim(ledger, pid)
    assert ledger.run(late, time_ms=T_R + 6_000)[0].code is Code.DEADLINE


def test_late_claim_is_rejected_and_no_rebate_is_paid(make_ledger: LedgerFactory) -> None:
    ledger, purchase = _setup(make=make_ledger)
    promotion = _promotion(ledger, purchase)
    ledger.run(promotion, time_ms=3_000)
    pid = event_id(promotion)
    ledger.run(
        _three(ledger, MERCHANT, NewPurchase(promotion=pid), [THIRD, CUSTOMER]), time_ms=4_000
    )
    before = balance(ledger, CUSTOMER.public_key)
    merchant = balance(ledger, MERCHANT.public_key)
    late = _claim(ledger, pid)
    [result] = ledger.run(late, time_ms=T_R + 1)
    assert result.code is Code.DEADLINE, result  # the README's code, not "lapsed"
    assert balance(ledger, CUSTOMER.public_key) == before
    assert balance(ledger, MERCHANT.public_key) == merchant + 15  # the hold goes back
    assert balance(ledger, hold_account(pid)) == 0
    settlement = ledger.state.get("settlements", pid)
    assert settlement.status == "void"
    assert [c.status for c in settlement.history] == ["held", "void"]
    late_purchase = _three(ledger, MERCHANT, NewPurchase(promotion=pid), [THIRD, CUSTOMER])
    assert ledger.run(late_purchase, time_ms=T_R + 2)[0].code is Code.DEADLINE


def test_an_artefact_at_the_rebate_time_itself_is_late(make_ledger: LedgerFactory) -> None:
    ledger, purchase = _setup(make=make_ledger)
    promotion = _promotion(ledger, purchase)
    ledger.run(promotion, time_ms=3_000)
    [result] = ledger.run(_claim(ledger, event_id(promotion)), time_ms=T_R)
    assert result.code is Code.DEADLINE


def test_the_claim_needs_no_later_signature_of_the_merchant(make_ledger: LedgerFactory) -> None:
    """The merchant signed the rebate transaction inside the promotion; refusing to sign again
    cannot withhold the rebate, and the claim carries exactly C's and T's signatures."""
    ledger, purchase = _setup(make=make_ledger)
    promotion = _promotion(ledger, purchase)
    ledger.run(promotion, time_ms=3_000)
    pid = event_id(promotion)
    with_merchant = _claim(ledger, pid, others=(THIRD, MERCHANT))
    assert ledger.run(with_merchant, time_ms=4_000)[0].code is Code.INVALID
    without_third = _claim(ledger, pid, others=())
    assert ledger.run(without_third, time_ms=4_000)[0].code is Code.MISSING_SIGNATURE
    assert ledger.run(_claim(ledger, pid), time_ms=4_000)[0].code is Code.OK
    new = _three(ledger, MERCHANT, NewPurchase(promotion=pid), [THIRD, CUSTOMER])
    assert ledger.run(new, time_ms=4_500)[0].code is Code.OK
    before = balance(ledger, CUSTOMER.public_key)
    ledger.run(time_ms=T_R)
    assert balance(ledger, CUSTOMER.public_key) == before + 15


def test_the_rebate_is_held_at_promotion_so_draining_cannot_dodge_it(
    make_ledger: LedgerFactory,
) -> None:
    ledger, purchase = _setup(make=make_ledger)
    had = balance(ledger, MERCHANT.public_key)
    promotion = _promotion(ledger, purchase)
    assert ledger.run(promotion, time_ms=3_000)[0].accepted
    pid = event_id(promotion)
    assert balance(ledger, MERCHANT.public_key) == had - 15
    assert balance(ledger, hold_account(pid)) == 15
    assert ledger.state.get("settlements", pid).status == "held"
    drain = Transfer(token="EUR", to=CUSTOMER.public_key, amount=had)
    assert ledger.run(ledger.sign(MERCHANT, drain), time_ms=3_500)[0].code is (
        Code.INSUFFICIENT_FUNDS
    )
    rest = Transfer(token="EUR", to=CUSTOMER.public_key, amount=had - 15)
    assert ledger.run(ledger.sign(MERCHANT, rest), time_ms=3_600)[0].accepted
    new = _three(ledger, MERCHANT, NewPurchase(promotion=pid), [THIRD, CUSTOMER])
    claim = _claim(ledger, pid)
    assert [r.code for r in ledger.run(new, claim, time_ms=4_000)] == [Code.OK, Code.OK]
    spend = Transfer(token="EUR", to=CUSTOMER.public_key, amount=80)  # the new purchase's 80
    assert ledger.run(ledger.sign(MERCHANT, spend), time_ms=4_500)[0].accepted
    before = balance(ledger, CUSTOMER.public_key)
    ledger.run(time_ms=T_R)
    assert balance(ledger, CUSTOMER.public_key) == before + 15
    assert balance(ledger, MERCHANT.public_key) == 0
    assert ledger.state.get("settlements", pid).status == "settled"


def test_a_promotion_the_merchant_cannot_fund_is_refused(make_ledger: LedgerFactory) -> None:
    ledger, purchase = _setup(make=make_ledger)
    had = balance(ledger, MERCHANT.public_key)
    spend = Transfer(token="EUR", to=CUSTOMER.public_key, amount=had - 10)
    assert ledger.run(ledger.sign(MERCHANT, spend), time_ms=2_500)[0].accepted
    [result] = ledger.run(_promotion(ledger, purchase), time_ms=3_000)
    assert result.code is Code.INSUFFICIENT_FUNDS  # 10 left, 15 to hold
    assert ledger.state.get("rebate_by_purchase", purchase) is None


def test_signature_sets_must_be_exact_and_price_lower(make_ledger: LedgerFactory) -> None:
    ledger, purchase = _setup(make=make_ledger)
    missing = _promotion(ledger, purchase, signers=[CUSTOMER])
    assert ledger.run(missing, time_ms=3_000)[0].code is Code.MISSING_SIGNATURE
    extra = _promotion(ledger, purchase, signers=[CUSTOMER, THIRD, ADMIN])
    assert ledger.run(extra, time_ms=3_000)[0].code is Code.INVALID
    not_lower = _promotion(ledger, purchase, new_price=100)
    assert ledger.run(not_lower, time_ms=3_000)[0].code is Code.INVALID
    ok = _promotion(ledger, purchase)
    assert ledger.run(ok, time_ms=3_000)[0].accepted
    pid = event_id(ok)
    unsigned_by_third = _three(ledger, MERCHANT, NewPurchase(promotion=pid), [CUSTOMER])
    assert ledger.run(unsigned_by_third, time_ms=4_000)[0].code is Code.MISSING_SIGNATURE


def test_conflicting_statements_are_recorded_as_evidence(make_ledger: LedgerFactory) -> None:
    ledger, purchase = _setup(make=make_ledger)
    first = decode_envelope(_promotion(ledger, purchase, new_price=80))
    second = decode_envelope(_promotion(ledger, purchase, new_price=70))

    def merchant_sig(e):
        return next(s.signature for s in e.signatures if s.signer == MERCHANT.public_key)

    evidence = ConflictEvidence(
        party=MERCHANT.public_key,
        first_body=first.body,
        first_signature=merchant_sig(first),
        second_body=second.body,
        second_signature=merchant_sig(second),
    )
    assert ledger.run(ledger.sign(CUSTOMER, evidence), time_ms=3_000)[0].accepted
    rows = list(ledger.state.rows("rebate_evidence"))
    assert len(rows) == 1 and rows[0][1].party == MERCHANT.public_key
    forged = msgspec.structs.replace(evidence, second_signature=bytes(64))
    assert ledger.run(ledger.sign(CUSTOMER, forged), time_ms=3_000)[0].code is Code.BAD_SIGNATURE


def _statement_evidence(first: bytes, second: bytes) -> ConflictEvidence:
    sign = MERCHANT.sign
    return ConflictEvidence(
        party=MERCHANT.public_key,
        first_body=first,
        first_signature=sign(Domain.EVENT, CHAIN, first),
        second_body=second,
        second_signature=sign(Domain.EVENT, CHAIN, second),
    )


HOSTILE_STATEMENTS = {
    # A bytes field is opaque to the envelope's nesting bound: the rule decodes it itself.
    "nested 1000 deep": b"\x91" * 1000 + b"\xc0",
    "not UTF-8": b"\x91\xa2\xff\xfe",
    "an unknown field": msgspec.msgpack.encode({"purchase": b"x", "surprise": 1}),
    "trailing junk": b"\xc0\xc0",
}


@pytest.mark.parametrize("statement", HOSTILE_STATEMENTS.values(), ids=HOSTILE_STATEMENTS.keys())
def test_evidence_whose_statements_are_no_promotions_is_invalid(
    make_ledger: LedgerFactory, statement: bytes
) -> None:
    """Signed by the accused party, so only decoding can refuse them: with ``invalid``, never
    a RecursionError or UnicodeDecodeError that would halt the chain as an execution fault."""
    ledger, purchase = _setup(make=make_ledger)
    genuine = decode_envelope(_promotion(ledger, purchase, new_price=80)).body
    for first, second in ((statement, genuine), (genuine, statement)):
        evidence = _statement_evidence(first, second)
        [result] = ledger.run(ledger.sign(CUSTOMER, evidence), time_ms=3_000)
        assert result.code is Code.INVALID, result


def test_submit_with_passes_an_artefact_round_its_signers_actors(tmp_path: Path) -> None:
    """Multi-party artefacts are signed actor to actor; the host thread never waits on a
    signature (the blocking ``sign``/``cosign`` are the other way)."""
    with start(tmp_path) as consortium:
        _submit_with(consortium)


def _submit_with(consortium: Consortium) -> None:
    bank = consortium.participant(admin("north-bank"))
    customer_key, merchant_key, stranger_key = (
        identity(f"{n}-submit-with") for n in ("customer", "merchant", "stranger")
    )
    for key, role in ((customer_key, "customer"), (merchant_key, "merchant")):
        enrol = RegisterParticipant(participant=key.public_key, name=key.name, role=role)
        assert bank.submit(enrol).result(10).accepted
    funds = IssueTokens(token="NORTH", to=customer_key.public_key, amount=50)
    assert bank.submit(funds).result(10).accepted
    customer, merchant = consortium.participant(customer_key), consortium.participant(merchant_key)
    purchase = Purchase(merchant=merchant_key.public_key, token="NORTH", amount=20)
    assert customer.submit_with(purchase, merchant).result(10).accepted
    alone = customer.submit(purchase).result(10)
    assert alone.result.code is Code.MISSING_SIGNATURE
    extra = customer.submit_with(purchase, merchant, consortium.participant(stranger_key))
    assert extra.result(10).result.code is Code.INVALID  # a party the purchase does not name
    assert consortium.balance(merchant_key.public_key, "NORTH") == 20
