"""Rules of the merchant promotion rebate (CN113177820B).

Signatures: a purchase is signed by {customer, merchant}; the promotion (the event description
with the merchant's rebate transaction in it: rebate time t_r, amount R, beneficiary the
customer) by exactly {merchant, customer, third party}; the new purchase by the same three; the
rebate claim by exactly {customer, third party}, because the merchant signed the rebate
transaction inside the promotion, so the merchant cannot withhold the rebate by refusing to sign
again. All signatures of an envelope cover the same body bytes (intake verified each one).

R is held when the promotion, fully signed, is on the ledger: it leaves the merchant's balance
for the promotion's hold account (``hold_account``, as a pending transfer's funds do), so no
later debit of the merchant can spend it. Deadlines are judged by block time: promotion, new
purchase and claim must all be on the ledger before t_r, and one that comes at or after t_r is
refused with ``deadline`` whatever became of the promotion; a block hook in the first block at
or after t_r pays the held R to the customer, once, if both the new purchase and the claim made
it in time, and otherwise gives it back to the merchant.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from consortium.events.codec import BoundedDecoder
from consortium.events.envelope import MAX_EVENT_BYTES
from consortium.events.errors import MalformedError
from consortium.events.rebate import ConflictEvidence, NewPurchase, Promotion, Purchase, RebateClaim
from consortium.events.results import Code
from consortium.events.signing import Domain, verify_signature
from consortium.rules import bounds
from consortium.rules.certificates import require_debit_allowed
from consortium.rules.context import EventContext
from consortium.rules.credit import hold_account
from consortium.rules.engine import BlockContext, BlockHook, FunctionRule
from consortium.rules.payments import balance_of, credit
from consortium.rules.schedule import ScheduleRow, file_due, take_due
from consortium.rules.tables import Order, Settlement, StatusChange, token_key


class PromotionRow(msgspec.Struct, frozen=True, gc=False, array_like=True):
    merchant: bytes
    customer: bytes
    third_party: bytes
    purchase: bytes
    token: str
    new_price: int
    rebate_time_ms: int
    rebate_amount: int
    body: bytes  # the signed promotion bytes, to catch conflicting statements
    new_purchase: bytes = b""  # event id, once on the ledger
    claim: bytes = b""
    status: str = "open"  # open (R held) -> paid | lapsed (R back to the merchant)


class EvidenceRow(msgspec.Struct, frozen=True, gc=False, array_like=True):
    party: bytes
    purchase: bytes
    first_body: bytes
    second_body: bytes
    height: int


ROLES = frozenset({"merchant", "customer"})
TABLES: dict[str, Any] = {
    "rebate_promotions": PromotionRow,
    "rebate_by_purchase": bytes,  # purchase id -> promotion id: one promotion per purchase
    "rebate_due": ScheduleRow,
    "rebate_evidence": EvidenceRow,
}


def _require_signers(ctx: EventContext, expected: set[bytes], what: str) -> None:
    signed = set(ctx.signers)
    ctx.require(len(ctx.signers) == len(signed), Code.INVALID, f"{what}: a party signed twice")
    missing, extra = expected - signed, signed - expected
    ctx.require(
        not missing,
        Code.MISSING_SIGNATURE,
        f"{what} lacks the signature of {', '.join(k.hex()[:16] for k in missing)}",
    )
    ctx.require(
        not extra,
        Code.INVALID,
        f"{what} carries signatures of parties it does not name: "
        f"{', '.join(k.hex()[:16] for k in extra)}",
    )


def _status(ctx: EventContext, status: str) -> StatusChange:
    return StatusChange(status, ctx.height, ctx.time_ms)


# ---------------------------------------------------------------- purchase


def _check_purchase(ctx: EventContext, body: Purchase) -> None:
    bounds.amount(body.amount, "Purchase.amount")
    ctx.require(
        ctx.state.get("tokens", token_key(body.token)) is not None,
        Code.NOT_FOUND,
        f"token {body.token!r} does not exist",
    )
    ctx.participant(body.merchant, "merchant")
    _require_signers(ctx, {body.author, body.merchant}, "a purchase")
    require_debit_allowed(ctx, body.author, needs_certificate=False)
    balance = balance_of(ctx.state, body.author, body.token)
    ctx.require(
        balance >= body.amount,
        Code.INSUFFICIENT_FUNDS,
        f"balance {balance} {body.token} is less than {body.amount}",
    )


def _apply_purchase(ctx: EventContext, body: Purchase) -> None:
    credit(ctx.state, body.author, body.token, -body.amount)
    credit(ctx.state, body.merchant, body.token, body.amount)
    order = Order(
        "rebate.purchase",
        (body.author, body.merchant),
        body.token,
        body.amount,
        "paid",
        (_status(ctx, "paid"),),
    )
    ctx.state.put("orders", ctx.event_id, order)


# --------------------------------------------------------------- promotion


def _check_promotion(ctx: EventContext, body: Promotion) -> None:
    purchase = ctx.state.get("orders", body.purchase)
    ctx.require(
        purchase is not None and purchase.kind == "rebate.purchase",
        Code.NOT_FOUND,
        "the promotion must name a purchase on the ledger",
    )
    customer, merchant = purchase.parties
    ctx.require(body.author == merchant, Code.WRONG_ROLE, "only the purchase's merchant promotes")
    ctx.require(body.customer == customer, Code.INVALID, "the customer is not the purchase's")
    ctx.require(
        body.third_party not in (customer, merchant),
        Code.INVALID,
        "the third party must be someone else",
    )
    ctx.participant(body.third_party, "third party")
    _require_signers(ctx, {merchant, customer, body.third_party}, "a promotion")
    ctx.require(
        0 < body.new_price < purchase.amount,
        Code.INVALID,
        f"the new price {body.new_price} must be positive and below {purchase.amount}",
    )
    bounds.amount(body.rebate_amount, "Promotion.rebate_amount")
    bounds.in_range(body.rebate_time_ms, "Promotion.rebate_time_ms")
    ctx.require(
        ctx.time_ms < body.rebate_time_ms, Code.DEADLINE, "the rebate time has already passed"
    )
    ctx.require(
        ctx.state.get("rebate_by_purchase", body.purchase) is None,
        Code.ALREADY_EXISTS,
        "this purchase already has a promotion",
    )
    require_debit_allowed(ctx, merchant, needs_certificate=False)
    balance = balance_of(ctx.state, merchant, purchase.token)
    ctx.require(
        balance >= body.rebate_amount,
        Code.INSUFFICIENT_FUNDS,
        f"the merchant holds {balance} {purchase.token}, the rebate to hold is "
        f"{body.rebate_amount}",
    )


def _apply_promotion(ctx: EventContext, body: Promotion) -> None:
    purchase = ctx.state.get("orders", body.purchase)
    row = PromotionRow(
        body.author,
        body.customer,
        body.third_party,
        body.purchase,
        purchase.token,
        body.new_price,
        body.rebate_time_ms,
        body.rebate_amount,
        msgspec.msgpack.encode(body),
    )
    ctx.state.put("rebate_promotions", ctx.event_id, row)
    ctx.state.put("rebate_by_purchase", body.purchase, ctx.event_id)
    file_due(ctx.state, "rebate_due", body.rebate_time_ms, ctx.event_id)
    credit(ctx.state, body.author, purchase.token, -body.rebate_amount)
    credit(ctx.state, hold_account(ctx.event_id), purchase.token, body.rebate_amount)
    settlement = Settlement(
        body.author,
        body.customer,
        purchase.token,
        body.rebate_amount,
        (body.purchase,),
        "held",
        (_status(ctx, "held"),),
    )
    ctx.state.put("settlements", ctx.event_id, settlement)


# ----------------------------------------------------- new purchase and claim


def _open_promotion(ctx: EventContext, promotion_id: bytes) -> PromotionRow:
    """The promotion, if an artefact for it is still in time. Lateness is judged first: once
    the rebate time has passed the promotion is paid or lapsed, and a late artefact must say
    ``deadline``, not what became of it."""
    row: PromotionRow = ctx.existing("rebate_promotions", promotion_id, "no such promotion")
    ctx.require(
        ctx.time_ms < row.rebate_time_ms,
        Code.DEADLINE,
        "late: the block time is at or after the rebate time",
    )
    assert row.status == "open"  # the hook settles a promotion only at its rebate time
    return row


def _check_new_purchase(ctx: EventContext, body: NewPurchase) -> None:
    row = _open_promotion(ctx, body.promotion)
    ctx.require(body.author == row.merchant, Code.WRONG_ROLE, "the merchant broadcasts it")
    ctx.require(not row.new_purchase, Code.ALREADY_EXISTS, "the new purchase is already made")
    _require_signers(ctx, {row.merchant, row.customer, row.third_party}, "the new purchase")
    require_debit_allowed(ctx, row.third_party, needs_certificate=False)
    balance = balance_of(ctx.state, row.third_party, row.token)
    ctx.require(
        balance >= row.new_price,
        Code.INSUFFICIENT_FUNDS,
        f"the third party holds {balance} {row.token}, needs {row.new_price}",
    )


def _apply_new_purchase(ctx: EventContext, body: NewPurchase) -> None:
    row = ctx.state.get("rebate_promotions", body.promotion)
    credit(ctx.state, row.third_party, row.token, -row.new_price)
    credit(ctx.state, row.merchant, row.token, row.new_price)
    ctx.state.put(
        "rebate_promotions", body.promotion, msgspec.structs.replace(row, new_purchase=ctx.event_id)
    )
    order = Order(
        "rebate.new_purchase",
        (row.third_party, row.merchant),
        row.token,
        row.new_price,
        "paid",
        (_status(ctx, "paid"),),
    )
    ctx.state.put("orders", ctx.event_id, order)


def _check_claim(ctx: EventContext, body: RebateClaim) -> None:
    row = _open_promotion(ctx, body.promotion)
    ctx.require(body.author == row.customer, Code.WRONG_ROLE, "the customer broadcasts it")
    ctx.require(not row.claim, Code.ALREADY_EXISTS, "the rebate is already claimed")
    # The merchant signed the rebate transaction inside the promotion: only C and T sign now.
    _require_signers(ctx, {row.customer, row.third_party}, "the rebate claim")


def _apply_claim(ctx: EventContext, body: RebateClaim) -> None:
    row = ctx.state.get("rebate_promotions", body.promotion)
    ctx.state.put(
        "rebate_promotions", body.promotion, msgspec.structs.replace(row, claim=ctx.event_id)
    )


# ----------------------------------------------------------------- evidence

_STATEMENT: BoundedDecoder[Promotion] = BoundedDecoder(Promotion, MAX_EVENT_BYTES, "statement")
"""Statements are opaque bytes inside an evidence event: decoded with the bounds every
signed body gets, so what the rule reads is exactly what was signed."""


def _check_evidence(ctx: EventContext, body: ConflictEvidence) -> None:
    ctx.require(body.first_body != body.second_body, Code.INVALID, "the statements are equal")
    chain = ctx.chain_id
    for statement, signature in (
        (body.first_body, body.first_signature),
        (body.second_body, body.second_signature),
    ):
        ctx.require(
            verify_signature(body.party, signature, Domain.EVENT, chain, statement),
            Code.BAD_SIGNATURE,
            "a statement is not signed by the accused party",
        )
    try:
        first = _STATEMENT.decode(body.first_body)
        second = _STATEMENT.decode(body.second_body)
    except MalformedError:
        ctx.require(False, Code.INVALID, "the statements are not promotions")
        return
    ctx.require(
        first.purchase == second.purchase,
        Code.INVALID,
        "the statements concern different purchases",
    )
    ctx.require(
        ctx.state.get("rebate_evidence", _evidence_key(body)) is None,
        Code.ALREADY_EXISTS,
        "this conflict is already recorded",
    )


def _evidence_key(body: ConflictEvidence) -> bytes:
    first, second = sorted((body.first_body, body.second_body))
    return hashlib.sha256(body.party + first + second).digest()


def _apply_evidence(ctx: EventContext, body: ConflictEvidence) -> None:
    purchase = _STATEMENT.decode(body.first_body).purchase
    ctx.state.put(
        "rebate_evidence",
        _evidence_key(body),
        EvidenceRow(body.party, purchase, body.first_body, body.second_body, ctx.height),
    )


# --------------------------------------------------------------- block hook


def pay_due_rebates(ctx: BlockContext) -> None:
    """At the rebate time: the held R goes to the customer if the new purchase and the claim
    are both on the ledger, else back to the merchant."""
    for promotion_id in take_due(ctx.state, "rebate_due", ctx.time_ms):
        row: PromotionRow = ctx.state.get("rebate_promotions", promotion_id)
        paid = bool(row.new_purchase and row.claim)
        status = "paid" if paid else "lapsed"
        credit(ctx.state, hold_account(promotion_id), row.token, -row.rebate_amount)
        credit(ctx.state, row.customer if paid else row.merchant, row.token, row.rebate_amount)
        ctx.state.put(
            "rebate_promotions", promotion_id, msgspec.structs.replace(row, status=status)
        )
        settlement = ctx.state.get("settlements", promotion_id)
        outcome = "settled" if paid else "void"
        ctx.state.put(
            "settlements",
            promotion_id,
            msgspec.structs.replace(
                settlement,
                status=outcome,
                history=(*settlement.history, StatusChange(outcome, ctx.height, ctx.time_ms)),
            ),
        )


RULES = {
    Purchase: FunctionRule(_check_purchase, _apply_purchase),
    Promotion: FunctionRule(_check_promotion, _apply_promotion),
    NewPurchase: FunctionRule(_check_new_purchase, _apply_new_purchase),
    RebateClaim: FunctionRule(_check_claim, _apply_claim),
    ConflictEvidence: FunctionRule(_check_evidence, _apply_evidence),
}
BLOCK_HOOKS: tuple[BlockHook, ...] = (pay_due_rebates,)
