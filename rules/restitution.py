"""Court-ordered restitution (CN112100635A) on the declarative workflow engine.

Two workflows, defined as data (``RESTITUTION_WORKFLOWS``, placed in the genesis): a case
(registered -> in_custody -> ordered -> closed -> returned) and a claim per victim (claimed ->
verified -> paid -> confirmed, again paid and confirmed for a further order, or written_off).
Every transition names its role and guards; the guards keep disbursements within the custody
funds and each victim's entitlement, let a case close only when every entitlement is paid in
full or written off by amount, and send what custody still holds after closing back to the bank
by the court's explicit ``ReturnCustody``. Every step feeds the accounts (custody and victims),
orders (the case) and settlements (each victim's payments).

Entitlements are amounts, or shares of the recovered sum resolved once at registration in
integers (``resolve_shares``), so every validator stores the same amounts.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

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
from consortium.events.workflow import TransitionSpec, WorkflowSpec
from consortium.rules import bounds
from consortium.rules.context import EventContext
from consortium.rules.engine import BlockHook, FunctionRule
from consortium.rules.payments import balance_of, credit
from consortium.rules.tables import Order, Settlement, StatusChange, token_key
from consortium.rules.workflow_engine import Guard, advance, check_transition, current_state

CASE, CLAIM = "restitution.case", "restitution.claim"
COURT, BANK, VICTIM = "court", "bank", "victim"
WHOLE = 10_000
"""Basis points of the whole recovered sum."""

RESTITUTION_WORKFLOWS = (
    WorkflowSpec(
        CASE,
        (
            TransitionSpec("register", ("",), "registered", COURT, ("valid_case",)),
            TransitionSpec(
                "confirm_custody",
                ("registered",),
                "in_custody",
                BANK,
                ("is_case_bank", "bank_holds_custody"),
            ),
            TransitionSpec(
                "issue_order",
                ("in_custody", "ordered"),
                "ordered",
                COURT,
                ("is_case_court", "claims_verified", "within_entitlement", "within_custody"),
            ),
            TransitionSpec(
                "close",
                ("in_custody", "ordered"),
                "closed",
                COURT,
                ("is_case_court", "all_settled"),
            ),
            TransitionSpec(
                "return_custody", ("closed",), "returned", COURT, ("is_case_court", "custody_left")
            ),
        ),
        final=("closed", "returned"),
    ),
    WorkflowSpec(
        CLAIM,
        (
            TransitionSpec("claim", ("",), "claimed", VICTIM, ("listed_victim", "case_open")),
            TransitionSpec("verify", ("claimed",), "verified", COURT, ("is_case_court",)),
            TransitionSpec(
                "disburse", ("verified", "confirmed"), "paid", BANK, ("is_case_bank", "ordered")
            ),
            TransitionSpec("confirm", ("paid",), "confirmed", VICTIM, ()),
            TransitionSpec(
                "write_off",
                ("", "claimed", "verified", "confirmed"),
                "written_off",
                COURT,
                ("is_case_court", "unpaid_remainder"),
            ),
        ),
        final=("confirmed", "written_off"),
    ),
)


class Case(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """A registered case; ``entitlements`` are the amounts every victim is owed, shares already
    resolved (``shares`` keeps what the court gave as shares, for the record)."""

    court: bytes
    bank: bytes
    token: str
    custody_amount: int
    entitlements: tuple[Entitlement, ...]
    documents: tuple[bytes, ...]
    shares: tuple[Share, ...] = ()


class Claim(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """One victim's standing in a case: ``ordered - paid`` is what orders reserve in custody;
    ``ordered + written_off`` never exceeds the entitlement."""

    receiving_account: bytes = b""
    ordered: int = 0
    paid: int = 0
    written_off: int = 0


ROLES = frozenset({COURT, BANK, VICTIM})
TABLES: dict[str, Any] = {"restitution_cases": Case, "restitution_claims": Claim}
BLOCK_HOOKS: tuple[BlockHook, ...] = ()


def case_id(name: str) -> bytes:
    return hashlib.sha256(b"restitution/case/" + name.encode()).digest()


def custody_account(name: str) -> bytes:
    """The case's custody account: an account owned by no key, only by the case."""
    return hashlib.sha256(b"restitution/custody/" + name.encode()).digest()


def resolve_shares(residual: int, shares: tuple[Share, ...]) -> tuple[Entitlement, ...]:
    """The amounts of ``shares`` of ``residual``: each rounded down; when the shares make the
    whole (10,000 basis points), the remainder of the rounding goes to the largest share (the
    first listed among equals), so the whole residual is allocated. Integers only, so every
    validator resolves the same amounts."""
    amounts = [residual * s.basis_points // WHOLE for s in shares]
    if shares and sum(s.basis_points for s in shares) == WHOLE:
        largest = max(range(len(shares)), key=lambda i: (shares[i].basis_points, -i))
        amounts[largest] += residual - sum(amounts)
    return tuple(Entitlement(s.victim, a) for s, a in zip(shares, amounts, strict=True))


def _entitlements(body: RegisterCase) -> tuple[Entitlement, ...]:
    """Fixed amounts first, then the shares of what they leave of the recovered sum."""
    fixed = sum(e.amount for e in body.entitlements)
    return (*body.entitlements, *resolve_shares(body.custody_amount - fixed, body.shares))


def _claim_id(name: str, victim: bytes) -> bytes:
    return case_id(name) + victim


def _case(ctx: EventContext, name: str) -> Case:
    case: Case = ctx.existing("restitution_cases", case_id(name), f"no case {name!r}")
    return case


def _claim(ctx: EventContext, name: str, victim: bytes) -> Claim:
    claim: Claim | None = ctx.state.get("restitution_claims", _claim_id(name, victim))
    return claim or Claim()


def _entitlement(case: Case, victim: bytes) -> int | None:
    return next((e.amount for e in case.entitlements if e.victim == victim), None)


def _change(ctx: EventContext, status: str) -> StatusChange:
    return StatusChange(status, ctx.height, ctx.time_ms)


def _short(victim: bytes) -> str:
    return victim.hex()[:16] + "…"


# -------------------------------------------------------------------- guards


def _valid_case(ctx: EventContext, body: RegisterCase) -> None:
    bounds.amount(body.custody_amount, "RegisterCase.custody_amount")
    ctx.require(
        ctx.state.get("tokens", token_key(body.token)) is not None,
        Code.NOT_FOUND,
        f"token {body.token!r} does not exist",
    )
    bank = ctx.participant(body.bank, "bank")
    ctx.require(bank.role == BANK, Code.WRONG_ROLE, "custody must be held by a bank")
    victims = [e.victim for e in body.entitlements] + [s.victim for s in body.shares]
    ctx.require(
        bool(victims) and len(set(victims)) == len(victims), Code.INVALID, "list each victim once"
    )
    for i, e in enumerate(body.entitlements):
        bounds.amount(e.amount, f"RegisterCase.entitlements[{i}].amount")
    fixed = bounds.total((e.amount for e in body.entitlements), "the case's total entitlement")
    if body.shares:
        _valid_shares(ctx, body, fixed)
    ctx.require(
        all(len(d) == 32 for d in body.documents),
        Code.INVALID,
        "documents are SHA-256 content hashes",
    )


def _valid_shares(ctx: EventContext, body: RegisterCase, fixed: int) -> None:
    for i, s in enumerate(body.shares):
        bounds.amount(s.basis_points, f"RegisterCase.shares[{i}].basis_points")
    points = sum(s.basis_points for s in body.shares)
    ctx.require(points <= WHOLE, Code.INVALID, f"the shares add up to {points} of {WHOLE} points")
    ctx.require(
        fixed < body.custody_amount,
        Code.INVALID,
        f"the fixed entitlements ({fixed}) leave nothing of {body.custody_amount} to share",
    )
    for e in resolve_shares(body.custody_amount - fixed, body.shares):
        ctx.require(e.amount > 0, Code.INVALID, f"the share of {_short(e.victim)} comes to nothing")


def _is_case_court(ctx: EventContext, body: Any) -> None:
    ctx.require(
        body.author == _case(ctx, body.case).court,
        Code.WRONG_ROLE,
        "only the case's court may do this",
    )


def _is_case_bank(ctx: EventContext, body: Any) -> None:
    ctx.require(
        body.author == _case(ctx, body.case).bank,
        Code.WRONG_ROLE,
        "only the bank holding the custody funds may do this",
    )


def _bank_holds_custody(ctx: EventContext, body: ConfirmCustody) -> None:
    case = _case(ctx, body.case)
    held = balance_of(ctx.state, case.bank, case.token)
    ctx.require(
        held >= case.custody_amount,
        Code.INSUFFICIENT_FUNDS,
        f"the bank holds {held} {case.token}, the case needs {case.custody_amount}",
    )


def _claims_verified(ctx: EventContext, body: IssueOrder) -> None:
    victims = [p.victim for p in body.payments]
    ctx.require(
        bool(victims) and len(set(victims)) == len(victims), Code.INVALID, "order each victim once"
    )
    for p in body.payments:
        state = current_state(ctx, CLAIM, _claim_id(body.case, p.victim))
        ctx.require(
            state in ("verified", "confirmed"),
            Code.WRONG_STATE,
            f"the claim of {_short(p.victim)} is {state or 'not made'}, not verified or confirmed",
        )


def _within_entitlement(ctx: EventContext, body: IssueOrder) -> None:
    case = _case(ctx, body.case)
    for p in body.payments:
        entitled = _entitlement(case, p.victim) or 0
        claim = _claim(ctx, body.case, p.victim)
        bounds.amount(p.amount, "IssueOrder.payments.amount")
        ctx.require(
            claim.ordered + p.amount <= entitled,
            Code.EXHAUSTED,
            f"{_short(p.victim)} is entitled to {entitled}, {claim.ordered} already ordered",
        )


def _reserved(ctx: EventContext, name: str, case: Case) -> int:
    """What the case's orders hold in custody: ordered and not yet disbursed."""
    claims = [_claim(ctx, name, e.victim) for e in case.entitlements]
    return sum(c.ordered - c.paid for c in claims)


def _within_custody(ctx: EventContext, body: IssueOrder) -> None:
    case = _case(ctx, body.case)
    outstanding = _reserved(ctx, body.case, case)
    held = balance_of(ctx.state, custody_account(body.case), case.token)
    wanted = sum(p.amount for p in body.payments)
    ctx.require(
        outstanding + wanted <= held,
        Code.INSUFFICIENT_FUNDS,
        f"custody holds {held}, {outstanding} is already ordered, {wanted} more asked",
    )


def _all_settled(ctx: EventContext, body: CloseCase) -> None:
    """Every entitlement paid in full and confirmed, or its unpaid remainder written off."""
    case = _case(ctx, body.case)
    for e in case.entitlements:
        state = current_state(ctx, CLAIM, _claim_id(body.case, e.victim))
        claim = _claim(ctx, body.case, e.victim)
        ctx.require(
            state in ("confirmed", "written_off"),
            Code.WRONG_STATE,
            f"the claim of {_short(e.victim)} is {state or 'not made'}",
        )
        ctx.require(
            claim.paid + claim.written_off == e.amount,
            Code.WRONG_STATE,
            f"{_short(e.victim)} was paid {claim.paid} of {e.amount}, and the rest is not "
            "written off",
        )


def _custody_left(ctx: EventContext, body: ReturnCustody) -> None:
    case = _case(ctx, body.case)
    held = balance_of(ctx.state, custody_account(body.case), case.token)
    ctx.require(held > 0, Code.EXHAUSTED, "custody holds nothing to return")
    ctx.require(
        body.amount == held,
        Code.INVALID,
        f"custody holds {held} {case.token}; the return must be exactly that",
    )


def _listed_victim(ctx: EventContext, body: RegisterClaim) -> None:
    ctx.require(
        _entitlement(_case(ctx, body.case), body.author) is not None,
        Code.NOT_FOUND,
        "the case lists no entitlement for this victim",
    )
    ctx.require(len(body.receiving_account) == 32, Code.INVALID, "receiving account is a key")


def _case_open(ctx: EventContext, body: RegisterClaim) -> None:
    state = current_state(ctx, CASE, case_id(body.case))
    ctx.require(
        state in ("registered", "in_custody", "ordered"), Code.WRONG_STATE, f"the case is {state}"
    )


def _ordered(ctx: EventContext, body: Disburse) -> None:
    claim = _claim(ctx, body.case, body.victim)
    ctx.require(claim.ordered > claim.paid, Code.WRONG_STATE, "nothing ordered for this victim")
    case = _case(ctx, body.case)
    held = balance_of(ctx.state, custody_account(body.case), case.token)
    due = claim.ordered - claim.paid
    ctx.require(due <= held, Code.INSUFFICIENT_FUNDS, f"custody holds {held}, the order asks {due}")


def _unpaid_remainder(ctx: EventContext, body: WriteOff) -> None:
    entitled = _entitlement(_case(ctx, body.case), body.victim)
    ctx.require(entitled is not None, Code.NOT_FOUND, "the case lists no entitlement for them")
    assert entitled is not None
    remainder = entitled - _claim(ctx, body.case, body.victim).paid
    ctx.require(remainder > 0, Code.EXHAUSTED, "this victim is paid in full")
    ctx.require(
        body.amount == remainder,
        Code.INVALID,
        f"the write-off must be the unpaid remainder, {remainder}, not {body.amount}",
    )


GUARDS: dict[str, Guard] = {
    "valid_case": _valid_case,
    "is_case_court": _is_case_court,
    "is_case_bank": _is_case_bank,
    "bank_holds_custody": _bank_holds_custody,
    "claims_verified": _claims_verified,
    "within_entitlement": _within_entitlement,
    "within_custody": _within_custody,
    "all_settled": _all_settled,
    "custody_left": _custody_left,
    "listed_victim": _listed_victim,
    "case_open": _case_open,
    "ordered": _ordered,
    "unpaid_remainder": _unpaid_remainder,
}


# ------------------------------------------------------------ events -> steps


def _rule(spec: str, transition: str, instance: Any, effect: Any) -> FunctionRule:
    """A rule whose check is the declarative transition and whose apply is ``effect``."""

    def check(ctx: EventContext, body: Any) -> None:
        check_transition(ctx, spec, instance(body), transition, GUARDS, body)

    def apply(ctx: EventContext, body: Any) -> None:
        advance(ctx, spec, instance(body), _step(ctx, spec, transition))
        effect(ctx, body)

    return FunctionRule(check, apply)


def _step(ctx: EventContext, spec: str, transition: str) -> TransitionSpec:
    found: WorkflowSpec = ctx.state.get("workflow_specs", spec.encode())
    step = found.transition(transition)
    assert step is not None
    return step


def _register(ctx: EventContext, body: RegisterCase) -> None:
    entitlements = _entitlements(body)
    ctx.state.put(
        "restitution_cases",
        case_id(body.case),
        Case(
            body.author,
            body.bank,
            body.token,
            body.custody_amount,
            entitlements,
            body.documents,
            body.shares,
        ),
    )
    ctx.state.put(
        "orders",
        case_id(body.case),
        Order(
            "restitution.case",
            (body.author, body.bank),
            body.token,
            sum(e.amount for e in entitlements),
            "registered",
            (_change(ctx, "registered"),),
        ),
    )


def _case_status(ctx: EventContext, name: str, status: str) -> None:
    order = ctx.state.get("orders", case_id(name))
    ctx.state.put(
        "orders",
        case_id(name),
        msgspec.structs.replace(
            order, status=status, history=(*order.history, _change(ctx, status))
        ),
    )


def _settlement_status(ctx: EventContext, key: bytes, status: str, amount: int) -> None:
    settlement: Settlement = ctx.state.get("settlements", key)
    ctx.state.put(
        "settlements",
        key,
        msgspec.structs.replace(
            settlement,
            amount=amount,
            status=status,
            history=(*settlement.history, _change(ctx, status)),
        ),
    )


def _custody(ctx: EventContext, body: ConfirmCustody) -> None:
    case = ctx.state.get("restitution_cases", case_id(body.case))
    credit(ctx.state, case.bank, case.token, -case.custody_amount)
    credit(ctx.state, custody_account(body.case), case.token, case.custody_amount)
    _case_status(ctx, body.case, "in_custody")


def _order(ctx: EventContext, body: IssueOrder) -> None:
    case = ctx.state.get("restitution_cases", case_id(body.case))
    for p in body.payments:
        key = _claim_id(body.case, p.victim)
        claim = _claim(ctx, body.case, p.victim)
        ordered = claim.ordered + p.amount
        ctx.state.put("restitution_claims", key, msgspec.structs.replace(claim, ordered=ordered))
        if ctx.state.get("settlements", key) is None:
            ctx.state.put(
                "settlements",
                key,
                Settlement(
                    custody_account(body.case),
                    claim.receiving_account or p.victim,
                    case.token,
                    ordered,
                    (case_id(body.case),),
                    "ordered",
                    (_change(ctx, "ordered"),),
                ),
            )
        else:
            _settlement_status(ctx, key, "ordered", ordered)
    _case_status(ctx, body.case, "ordered")


def _claimed(ctx: EventContext, body: RegisterClaim) -> None:
    ctx.state.put(
        "restitution_claims", _claim_id(body.case, body.author), Claim(body.receiving_account)
    )


def _disburse(ctx: EventContext, body: Disburse) -> None:
    case = ctx.state.get("restitution_cases", case_id(body.case))
    key = _claim_id(body.case, body.victim)
    claim = _claim(ctx, body.case, body.victim)
    amount = claim.ordered - claim.paid
    credit(ctx.state, custody_account(body.case), case.token, -amount)
    credit(ctx.state, claim.receiving_account, case.token, amount)
    ctx.state.put("restitution_claims", key, msgspec.structs.replace(claim, paid=claim.ordered))
    _settlement_status(ctx, key, "paid", claim.ordered)


def _confirmed(ctx: EventContext, body: ConfirmReceipt) -> None:
    key = _claim_id(body.case, body.author)
    _settlement_status(ctx, key, "confirmed", _claim(ctx, body.case, body.author).ordered)


def _written_off(ctx: EventContext, body: WriteOff) -> None:
    """The remainder is forgone: an order not yet disbursed is cut to what was paid, which
    releases what it reserved in custody."""
    key = _claim_id(body.case, body.victim)
    claim = _claim(ctx, body.case, body.victim)
    ctx.state.put(
        "restitution_claims",
        key,
        msgspec.structs.replace(claim, ordered=claim.paid, written_off=body.amount),
    )
    if ctx.state.get("settlements", key) is not None:
        _settlement_status(ctx, key, "written_off", claim.paid)


def _closed(ctx: EventContext, body: CloseCase) -> None:
    _case_status(ctx, body.case, "closed")


def _returned(ctx: EventContext, body: ReturnCustody) -> None:
    case = ctx.state.get("restitution_cases", case_id(body.case))
    credit(ctx.state, custody_account(body.case), case.token, -body.amount)
    credit(ctx.state, case.bank, case.token, body.amount)
    _case_status(ctx, body.case, "returned")


def _nothing(ctx: EventContext, body: Any) -> None:
    """The state change is the whole effect."""


RULES = {
    RegisterCase: _rule(CASE, "register", lambda b: case_id(b.case), _register),
    ConfirmCustody: _rule(CASE, "confirm_custody", lambda b: case_id(b.case), _custody),
    IssueOrder: _rule(CASE, "issue_order", lambda b: case_id(b.case), _order),
    CloseCase: _rule(CASE, "close", lambda b: case_id(b.case), _closed),
    ReturnCustody: _rule(CASE, "return_custody", lambda b: case_id(b.case), _returned),
    RegisterClaim: _rule(CLAIM, "claim", lambda b: _claim_id(b.case, b.author), _claimed),
    VerifyClaim: _rule(CLAIM, "verify", lambda b: _claim_id(b.case, b.victim), _nothing),
    Disburse: _rule(CLAIM, "disburse", lambda b: _claim_id(b.case, b.victim), _disburse),
    ConfirmReceipt: _rule(CLAIM, "confirm", lambda b: _claim_id(b.case, b.author), _confirmed),
    WriteOff: _rule(CLAIM, "write_off", lambda b: _claim_id(b.case, b.victim), _written_off),
}
