"""Rules of distributed token payments (CN112418867A) beyond plain transfers.

S1 certificates: an organisation admin certifies a user's key until a ledger time; a payment
needs a certificate valid at the block's time and not revoked. S3 credit: a merchant approves an
enterprise's application (both sign) for a limit per token. S4 payment: balance first, the rest
on the merchant's credit line as a bill; never beyond balance plus remaining credit. S5
settlement: the enterprise starts a settlement of open bills, the merchant confirms, the
enterprise pays; each bill settles once. Every payment's order carries its settlement status step
by step, appended to its history: ``paid`` (all from the balance) or ``billed``, then
``settling`` while a settlement names its bill, then ``settled`` -- or ``billed`` again when the
settlement is cancelled (``CancelSettlement`` by its enterprise or its merchant) or lapses
unconfirmed ``SETTLEMENT_CONFIRM_WITHIN_MS`` after it started (a block hook). A started settlement
holds no funds (the enterprise pays when the merchant confirms), so ending it only frees its
bills for another settlement. Two-phase transfers hold funds in an account owned by
the transfer until posted or voided (automatically at the timeout, by a block hook). Every
movement debits one account and credits another, so each token's total is conserved.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from consortium.events.credit import (
    CancelSettlement,
    ConfirmSettlement,
    GrantCredit,
    IssueCertificate,
    LinkedTransfers,
    Pay,
    PendingTransfer,
    PostTransfer,
    RevokeCertificate,
    RevokeCredit,
    StartSettlement,
    VoidTransfer,
)
from consortium.events.results import Code
from consortium.rules import bounds
from consortium.rules.certificates import Certificate, require_debit_allowed
from consortium.rules.context import EventContext
from consortium.rules.engine import BlockContext, BlockHook, FunctionRule
from consortium.rules.payments import ADMIN, balance_of, credit
from consortium.rules.schedule import ScheduleRow, file_due, take_due
from consortium.rules.tables import Order, Settlement, StatusChange, token_key

SETTLEMENT_CONFIRM_WITHIN_MS = 7 * 24 * 3600 * 1000
"""A settlement the merchant has not confirmed this long (ledger time) after it started lapses:
an enterprise's bills are never tied up by a merchant that does not answer."""


class CreditLine(msgspec.Struct, frozen=True, gc=False, array_like=True):
    merchant: bytes
    enterprise: bytes
    token: str
    limit: int
    used: int = 0
    revoked: bool = False


class Bill(msgspec.Struct, frozen=True, gc=False, array_like=True):
    enterprise: bytes
    merchant: bytes
    token: str
    amount: int
    status: str = "open"  # open -> settling -> settled
    settlement: bytes = b""


class Pending(msgspec.Struct, frozen=True, gc=False, array_like=True):
    payer: bytes
    payee: bytes
    token: str
    amount: int
    timeout_ms: int
    status: str = "pending"  # pending -> posted | voided | expired


ROLES = frozenset({"enterprise", "merchant", "user"})
TABLES: dict[str, Any] = {
    "credit_certificates": Certificate,
    "credit_lines": CreditLine,
    "credit_bills": Bill,
    "credit_pending": Pending,
    "credit_due": ScheduleRow,
    "credit_settlement_due": ScheduleRow,
}


def line_key(merchant: bytes, enterprise: bytes, token: str) -> bytes:
    return merchant + enterprise + token.encode()


def hold_account(pending_id: bytes) -> bytes:
    """Where a pending transfer's funds wait: an account owned by the transfer itself."""
    return hashlib.sha256(b"payments/hold/" + pending_id).digest()


def _change(ctx: EventContext | BlockContext, status: str) -> StatusChange:
    return StatusChange(status, ctx.height, ctx.time_ms)


def _advance(ctx: EventContext | BlockContext, table: str, key: bytes, status: str) -> None:
    """Move an order or a settlement to ``status``, appending the step to its history, so its
    status is always the last entry of its history."""
    row: Order | Settlement = ctx.state.get(table, key)
    history = (*row.history, _change(ctx, status))
    ctx.state.put(table, key, msgspec.structs.replace(row, status=status, history=history))


def _token(ctx: EventContext, token: str) -> None:
    ctx.require(
        ctx.state.get("tokens", token_key(token)) is not None,
        Code.NOT_FOUND,
        f"token {token!r} does not exist",
    )


# -------------------------------------------------------------- certificates


def _check_certify(ctx: EventContext, body: IssueCertificate) -> None:
    ctx.require_role(ADMIN)
    subject = ctx.participant(body.subject, "certificate subject")
    ctx.require(
        subject.organisation == ctx.author.organisation,
        Code.WRONG_ROLE,
        "an organisation certifies its own users",
    )
    bounds.in_range(body.valid_until_ms, "IssueCertificate.valid_until_ms")
    ctx.require(body.valid_until_ms > ctx.time_ms, Code.DEADLINE, "already expired")


def _apply_certify(ctx: EventContext, body: IssueCertificate) -> None:
    ctx.state.put(
        "credit_certificates",
        body.subject,
        Certificate(body.author, ctx.author.organisation, body.valid_until_ms),
    )


def _check_revoke_cert(ctx: EventContext, body: RevokeCertificate) -> None:
    cert: Certificate = ctx.existing(
        "credit_certificates", body.subject, "no certificate for this key"
    )
    ctx.require(
        ctx.author.role == ADMIN and ctx.author.organisation == cert.organisation,
        Code.WRONG_ROLE,
        "only the issuing organisation revokes",
    )


def _apply_revoke_cert(ctx: EventContext, body: RevokeCertificate) -> None:
    cert = ctx.state.get("credit_certificates", body.subject)
    ctx.state.put("credit_certificates", body.subject, msgspec.structs.replace(cert, revoked=True))


# -------------------------------------------------------------- credit lines


def _check_grant(ctx: EventContext, body: GrantCredit) -> None:
    ctx.require_role("merchant")
    _token(ctx, body.token)
    enterprise = ctx.participant(body.enterprise, "enterprise")
    ctx.require(enterprise.role == "enterprise", Code.INVALID, "credit goes to an enterprise")
    ctx.require(
        body.enterprise in ctx.signers,
        Code.MISSING_SIGNATURE,
        "the enterprise's application (its signature) is missing",
    )
    bounds.amount(body.limit, "GrantCredit.limit")
    line: CreditLine | None = ctx.state.get(
        "credit_lines", line_key(body.author, body.enterprise, body.token)
    )
    ctx.require(
        line is None or line.used <= body.limit,
        Code.INVALID,
        "the new limit is below what is already used",
    )


def _apply_grant(ctx: EventContext, body: GrantCredit) -> None:
    key = line_key(body.author, body.enterprise, body.token)
    line = ctx.state.get("credit_lines", key)
    used = line.used if line is not None else 0
    ctx.state.put(
        "credit_lines", key, CreditLine(body.author, body.enterprise, body.token, body.limit, used)
    )


def _check_revoke_credit(ctx: EventContext, body: RevokeCredit) -> None:
    line: CreditLine | None = ctx.state.get(
        "credit_lines", line_key(body.author, body.enterprise, body.token)
    )
    ctx.require(line is not None and not line.revoked, Code.NOT_FOUND, "no such credit line")


def _apply_revoke_credit(ctx: EventContext, body: RevokeCredit) -> None:
    key = line_key(body.author, body.enterprise, body.token)
    ctx.state.put(
        "credit_lines",
        key,
        msgspec.structs.replace(ctx.state.get("credit_lines", key), revoked=True),
    )


# ------------------------------------------------------------------ payment


def _check_pay(ctx: EventContext, body: Pay) -> None:
    _token(ctx, body.token)
    bounds.amount(body.amount, "Pay.amount")
    require_debit_allowed(ctx, body.author, needs_certificate=True)
    ctx.participant(body.merchant, "merchant")
    balance = balance_of(ctx.state, body.author, body.token)
    short = body.amount - balance
    if short <= 0:
        return
    line: CreditLine | None = ctx.state.get(
        "credit_lines", line_key(body.merchant, body.author, body.token)
    )
    ctx.require(
        line is not None and not line.revoked,
        Code.INSUFFICIENT_FUNDS,
        f"balance {balance} is short by {short} and there is no credit line",
    )
    assert line is not None
    ctx.require(
        line.used + short <= line.limit,
        Code.INSUFFICIENT_FUNDS,
        f"balance {balance} plus remaining credit {line.limit - line.used} is below {body.amount}",
    )


def _apply_pay(ctx: EventContext, body: Pay) -> None:
    cash = min(body.amount, max(0, balance_of(ctx.state, body.author, body.token)))
    on_credit = body.amount - cash
    credit(ctx.state, body.author, body.token, -cash)
    credit(ctx.state, body.merchant, body.token, cash)
    status = "billed" if on_credit else "paid"
    order = Order(
        "payments.pay",
        (body.author, body.merchant),
        body.token,
        body.amount,
        status,
        (_change(ctx, status),),
    )
    ctx.state.put("orders", ctx.event_id, order)
    if on_credit:
        key = line_key(body.merchant, body.author, body.token)
        line = ctx.state.get("credit_lines", key)
        ctx.state.put(
            "credit_lines", key, msgspec.structs.replace(line, used=line.used + on_credit)
        )
        ctx.state.put(
            "credit_bills", ctx.event_id, Bill(body.author, body.merchant, body.token, on_credit)
        )


# --------------------------------------------------------------- settlement


def _check_start(ctx: EventContext, body: StartSettlement) -> None:
    require_debit_allowed(ctx, body.author, needs_certificate=False)
    ctx.require(
        bool(body.bills) and len(set(body.bills)) == len(body.bills),
        Code.INVALID,
        "name each bill once",
    )
    token = None
    amounts = []
    for bill_id in body.bills:
        bill: Bill = ctx.existing("credit_bills", bill_id, f"no bill {bill_id.hex()[:16]}…")
        ctx.require(
            bill.enterprise == body.author and bill.merchant == body.merchant,
            Code.WRONG_ROLE,
            "a bill of another enterprise or merchant",
        )
        ctx.require(
            bill.status == "open",
            Code.ALREADY_EXISTS,
            f"bill {bill_id.hex()[:16]}… is {bill.status}",
        )
        ctx.require(token in (None, bill.token), Code.INVALID, "bills of one token at a time")
        token = bill.token
        amounts.append(bill.amount)
    bounds.total(amounts, "the settlement's total")


def _apply_start(ctx: EventContext, body: StartSettlement) -> None:
    total, token = 0, ""
    for bill_id in body.bills:
        bill = ctx.state.get("credit_bills", bill_id)
        total, token = total + bill.amount, bill.token
        ctx.state.put(
            "credit_bills",
            bill_id,
            msgspec.structs.replace(bill, status="settling", settlement=ctx.event_id),
        )
        _advance(ctx, "orders", bill_id, "settling")
    ctx.state.put(
        "settlements",
        ctx.event_id,
        Settlement(
            body.author,
            body.merchant,
            token,
            total,
            tuple(body.bills),
            "started",
            (_change(ctx, "started"),),
        ),
    )
    file_due(
        ctx.state, "credit_settlement_due", ctx.time_ms + SETTLEMENT_CONFIRM_WITHIN_MS, ctx.event_id
    )


def _bill_settlement(ctx: EventContext, settlement_id: bytes) -> Settlement:
    """The settlement of bills that ``settlement_id`` names. The ``settlements`` projection is
    shared with the other workflows; one whose orders are no bills (a rebate's, an insurance
    order's) is not confirmed or cancelled here."""
    settlement: Settlement | None = ctx.state.get("settlements", settlement_id)
    ctx.require(
        settlement is not None
        and all(ctx.state.get("credit_bills", b) is not None for b in settlement.orders),
        Code.NOT_FOUND,
        "no settlement of bills with this id",
    )
    assert settlement is not None
    return settlement


def _require_started(ctx: EventContext, settlement: Settlement) -> None:
    """Of a confirmation and a cancellation of one settlement (or two of either), the first in
    block order wins and the other is refused with wrong_state."""
    ctx.require(
        settlement.status == "started",
        Code.WRONG_STATE,
        f"the settlement is {settlement.status}",
    )


def _check_confirm(ctx: EventContext, body: ConfirmSettlement) -> None:
    settlement = _bill_settlement(ctx, body.settlement)
    ctx.require(body.author == settlement.creditor, Code.WRONG_ROLE, "the merchant confirms")
    _require_started(ctx, settlement)
    held = balance_of(ctx.state, settlement.debtor, settlement.token)
    ctx.require(
        held >= settlement.amount,
        Code.INSUFFICIENT_FUNDS,
        f"the enterprise holds {held}, owes {settlement.amount}",
    )


def _apply_confirm(ctx: EventContext, body: ConfirmSettlement) -> None:
    s = ctx.state.get("settlements", body.settlement)
    credit(ctx.state, s.debtor, s.token, -s.amount)
    credit(ctx.state, s.creditor, s.token, s.amount)
    key = line_key(s.creditor, s.debtor, s.token)
    line = ctx.state.get("credit_lines", key)
    ctx.state.put("credit_lines", key, msgspec.structs.replace(line, used=line.used - s.amount))
    for bill_id in s.orders:
        bill = ctx.state.get("credit_bills", bill_id)
        ctx.state.put("credit_bills", bill_id, msgspec.structs.replace(bill, status="settled"))
        _advance(ctx, "orders", bill_id, "settled")
    _advance(ctx, "settlements", body.settlement, "settled")


def _check_cancel(ctx: EventContext, body: CancelSettlement) -> None:
    settlement = _bill_settlement(ctx, body.settlement)
    ctx.require(
        body.author in (settlement.debtor, settlement.creditor),
        Code.WRONG_ROLE,
        "only the settlement's enterprise or merchant cancels it",
    )
    _require_started(ctx, settlement)


def _end_unsettled(ctx: EventContext | BlockContext, settlement_id: bytes, status: str) -> None:
    """A settlement ends without payment (``cancelled`` or ``lapsed``): its bills are open and
    their orders ``billed`` again. Nothing was held, so no amount moves."""
    settlement: Settlement = ctx.state.get("settlements", settlement_id)
    for bill_id in settlement.orders:
        bill = ctx.state.get("credit_bills", bill_id)
        ctx.state.put(
            "credit_bills", bill_id, msgspec.structs.replace(bill, status="open", settlement=b"")
        )
        _advance(ctx, "orders", bill_id, "billed")
    _advance(ctx, "settlements", settlement_id, status)


def _apply_cancel(ctx: EventContext, body: CancelSettlement) -> None:
    _end_unsettled(ctx, body.settlement, "cancelled")


def lapse_settlements(ctx: BlockContext) -> None:
    """A settlement still unconfirmed ``SETTLEMENT_CONFIRM_WITHIN_MS`` after it started lapses
    at the first block at or past that time, before the block's events (so a confirmation in
    that block is wrong_state)."""
    for settlement_id in take_due(ctx.state, "credit_settlement_due", ctx.time_ms):
        if ctx.state.get("settlements", settlement_id).status == "started":
            _end_unsettled(ctx, settlement_id, "lapsed")


# ------------------------------------------------------ two-phase and linked


def _check_pending(ctx: EventContext, body: PendingTransfer) -> None:
    _token(ctx, body.token)
    require_debit_allowed(ctx, body.author, needs_certificate=False)
    bounds.amount(body.amount, "PendingTransfer.amount")
    ctx.participant(body.to, "payee")
    bounds.in_range(body.timeout_ms, "PendingTransfer.timeout_ms")
    ctx.require(body.timeout_ms > ctx.time_ms, Code.DEADLINE, "the timeout is already past")
    balance = balance_of(ctx.state, body.author, body.token)
    ctx.require(
        balance >= body.amount,
        Code.INSUFFICIENT_FUNDS,
        f"balance {balance} is less than {body.amount}",
    )


def _apply_pending(ctx: EventContext, body: PendingTransfer) -> None:
    credit(ctx.state, body.author, body.token, -body.amount)
    credit(ctx.state, hold_account(ctx.event_id), body.token, body.amount)
    ctx.state.put(
        "credit_pending",
        ctx.event_id,
        Pending(body.author, body.to, body.token, body.amount, body.timeout_ms),
    )
    file_due(ctx.state, "credit_due", body.timeout_ms, ctx.event_id)


def _open_pending(ctx: EventContext, pending_id: bytes) -> Pending:
    pending: Pending = ctx.existing("credit_pending", pending_id, "no such pending transfer")
    ctx.require(
        pending.status == "pending", Code.ALREADY_EXISTS, f"the transfer is {pending.status}"
    )
    ctx.require(ctx.time_ms < pending.timeout_ms, Code.DEADLINE, "the transfer timed out")
    ctx.require(ctx.author_key == pending.payer, Code.WRONG_ROLE, "only the payer posts or voids")
    return pending


def _finish(state: Any, pending_id: bytes, pending: Pending, to: bytes, status: str) -> None:
    credit(state, hold_account(pending_id), pending.token, -pending.amount)
    credit(state, to, pending.token, pending.amount)
    state.put("credit_pending", pending_id, msgspec.structs.replace(pending, status=status))


def _check_post(ctx: EventContext, body: PostTransfer) -> None:
    _open_pending(ctx, body.pending)
    # Posting pays the held funds out: a hold made before a revocation is not posted after it.
    require_debit_allowed(ctx, body.author, needs_certificate=False)


def _apply_post(ctx: EventContext, body: PostTransfer) -> None:
    pending = ctx.state.get("credit_pending", body.pending)
    _finish(ctx.state, body.pending, pending, pending.payee, "posted")


def _check_void(ctx: EventContext, body: VoidTransfer) -> None:
    _open_pending(ctx, body.pending)


def _apply_void(ctx: EventContext, body: VoidTransfer) -> None:
    pending = ctx.state.get("credit_pending", body.pending)
    _finish(ctx.state, body.pending, pending, pending.payer, "voided")


def expire_pending(ctx: BlockContext) -> None:
    """At its timeout, a transfer still pending goes back to its payer."""
    for pending_id in take_due(ctx.state, "credit_due", ctx.time_ms):
        pending: Pending = ctx.state.get("credit_pending", pending_id)
        if pending.status == "pending":
            _finish(ctx.state, pending_id, pending, pending.payer, "expired")


def _check_linked(ctx: EventContext, body: LinkedTransfers) -> None:
    ctx.require(bool(body.legs), Code.INVALID, "no transfers")
    require_debit_allowed(ctx, body.author, needs_certificate=False)
    needed: dict[str, int] = {}
    for i, leg in enumerate(body.legs):
        _token(ctx, leg.token)
        bounds.amount(leg.amount, f"LinkedTransfers.legs[{i}].amount")
        ctx.participant(leg.to, f"leg {i} payee")
        needed[leg.token] = needed.get(leg.token, 0) + leg.amount
    bounds.total((leg.amount for leg in body.legs), "the linked transfers' total")
    for token, amount in sorted(needed.items()):
        balance = balance_of(ctx.state, body.author, token)
        ctx.require(
            balance >= amount,
            Code.INSUFFICIENT_FUNDS,
            f"all legs need {amount} {token}, the balance is {balance}: none is made",
        )


def _apply_linked(ctx: EventContext, body: LinkedTransfers) -> None:
    for leg in body.legs:
        credit(ctx.state, body.author, leg.token, -leg.amount)
        credit(ctx.state, leg.to, leg.token, leg.amount)
    total = sum(leg.amount for leg in body.legs)
    ctx.state.put(
        "orders",
        ctx.event_id,
        Order(
            "payments.linked",
            (body.author, *(leg.to for leg in body.legs)),
            body.legs[0].token,
            total,
            "completed",
            (_change(ctx, "completed"),),
        ),
    )


RULES = {
    IssueCertificate: FunctionRule(_check_certify, _apply_certify),
    RevokeCertificate: FunctionRule(_check_revoke_cert, _apply_revoke_cert),
    GrantCredit: FunctionRule(_check_grant, _apply_grant),
    RevokeCredit: FunctionRule(_check_revoke_credit, _apply_revoke_credit),
    Pay: FunctionRule(_check_pay, _apply_pay),
    StartSettlement: FunctionRule(_check_start, _apply_start),
    ConfirmSettlement: FunctionRule(_check_confirm, _apply_confirm),
    CancelSettlement: FunctionRule(_check_cancel, _apply_cancel),
    PendingTransfer: FunctionRule(_check_pending, _apply_pending),
    PostTransfer: FunctionRule(_check_post, _apply_post),
    VoidTransfer: FunctionRule(_check_void, _apply_void),
    LinkedTransfers: FunctionRule(_check_linked, _apply_linked),
}
BLOCK_HOOKS: tuple[BlockHook, ...] = (expire_pending, lapse_settlements)
