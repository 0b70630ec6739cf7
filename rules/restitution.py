"""Court-ordered restitution (CN112100635A) on the declarative workflow engine.

Two workflows, defined as data (``RESTITUTION_WORKFLOWS``, placed in the genesis): a case
(registered -> in_custody -> ordered -> closed) and a claim per victim (claimed -> verified ->
paid -> confirmed, or written_off). Every transition names its role and guards; the guards here
keep disbursements within the custody funds and each victim's entitlement, and every step feeds
the accounts (custody and victims), orders (the case, each claim) and settlements (each payment).
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
        ),
        final=("closed",),
    ),
    WorkflowSpec(
        CLAIM,
        (
            TransitionSpec("claim", ("",), "claimed", VICTIM, ("listed_victim", "case_open")),
            TransitionSpec("verify", ("claimed",), "verified", COURT, ("is_case_court",)),
            TransitionSpec("disburse", ("verified",), "paid", BANK, ("is_case_bank", "ordered")),
            TransitionSpec("confirm", ("paid",), "confirmed", VICTIM, ()),
            TransitionSpec(
                "write_off", ("", "claimed", "verified"), "written_off", COURT, ("is_case_court",)
            ),
        ),
        final=("confirmed", "written_off"),
    ),
)


class Case(msgspec.Struct, frozen=True, gc=False, array_like=True):
    court: bytes
    bank: bytes
    token: str
    custody_amount: int
    entitlements: tuple[Entitlement, ...]
    documents: tuple[bytes, ...]


class Claim(msgspec.Struct, frozen=True, gc=False, array_like=True):
    receiving_account: bytes = b""
    ordered: int = 0
    paid: int = 0


ROLES = frozenset({COURT, BANK, VICTIM})
TABLES: dict[str, Any] = {"restitution_cases": Case, "restitution_claims": Claim}
BLOCK_HOOKS: tuple[BlockHook, ...] = ()


def case_id(name: str) -> bytes:
    return hashlib.sha256(b"restitution/case/" + name.encode()).digest()


def custody_account(name: str) -> bytes:
    """The case's custody account: an account owned by no key, only by the case."""
    return hashlib.sha256(b"restitution/custody/" + name.encode()).digest()


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
    victims = [e.victim for e in body.entitlements]
    ctx.require(
        bool(victims) and len(set(victims)) == len(victims), Code.INVALID, "list each victim once"
    )
    for i, e in enumerate(body.entitlements):
        bounds.amount(e.amount, f"RegisterCase.entitlements[{i}].amount")
    bounds.total((e.amount for e in body.entitlements), "the case's total entitlement")
    ctx.require(
        all(len(d) == 32 for d in body.documents),
        Code.INVALID,
        "documents are SHA-256 content hashes",
    )


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
        ctx.require(
            current_state(ctx, CLAIM, _claim_id(body.case, p.victim)) == "verified",
            Code.WRONG_STATE,
            f"the claim of {p.victim.hex()[:16]}… is not verified",
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
            f"{p.victim.hex()[:16]}… is entitled to {entitled}, {claim.ordered} already ordered",
        )


def _within_custody(ctx: EventContext, body: IssueOrder) -> None:
    case = _case(ctx, body.case)
    outstanding = sum(
        _claim(ctx, body.case, e.victim).ordered - _claim(ctx, body.case, e.victim).paid
        for e in case.entitlements
    )
    held = balance_of(ctx.state, custody_account(body.case), case.token)
    wanted = sum(p.amount for p in body.payments)
    ctx.require(
        outstanding + wanted <= held,
        Code.INSUFFICIENT_FUNDS,
        f"custody holds {held}, {outstanding} is already ordered, {wanted} more asked",
    )


def _all_settled(ctx: EventContext, body: CloseCase) -> None:
    case = _case(ctx, body.case)
    for e in case.entitlements:
        state = current_state(ctx, CLAIM, _claim_id(body.case, e.victim))
        ctx.require(
            state in ("confirmed", "written_off"),
            Code.WRONG_STATE,
            f"the claim of {e.victim.hex()[:16]}… is {state or 'not made'}",
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


GUARDS: dict[str, Guard] = {
    "valid_case": _valid_case,
    "is_case_court": _is_case_court,
    "is_case_bank": _is_case_bank,
    "bank_holds_custody": _bank_holds_custody,
    "claims_verified": _claims_verified,
    "within_entitlement": _within_entitlement,
    "within_custody": _within_custody,
    "all_settled": _all_settled,
    "listed_victim": _listed_victim,
    "case_open": _case_open,
    "ordered": _ordered,
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
    ctx.state.put(
        "restitution_cases",
        case_id(body.case),
        Case(
            body.author,
            body.bank,
            body.token,
            body.custody_amount,
            body.entitlements,
            body.documents,
        ),
    )
    total = sum(e.amount for e in body.entitlements)
    ctx.state.put(
        "orders",
        case_id(body.case),
        Order(
            "restitution.case",
            (body.author, body.bank),
            body.token,
            total,
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
        ctx.state.put(
            "restitution_claims",
            key,
            msgspec.structs.replace(claim, ordered=claim.ordered + p.amount),
        )
        settlement = ctx.state.get("settlements", key)
        history = settlement.history if settlement else ()
        ctx.state.put(
            "settlements",
            key,
            Settlement(
                custody_account(body.case),
                claim.receiving_account or p.victim,
                case.token,
                claim.ordered + p.amount,
                (case_id(body.case),),
                "ordered",
                (*history, _change(ctx, "ordered")),
            ),
        )
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
    settlement = ctx.state.get("settlements", key)
    ctx.state.put(
        "settlements",
        key,
        msgspec.structs.replace(
            settlement, status="paid", history=(*settlement.history, _change(ctx, "paid"))
        ),
    )


def _confirmed(ctx: EventContext, body: ConfirmReceipt) -> None:
    key = _claim_id(body.case, body.author)
    settlement = ctx.state.get("settlements", key)
    ctx.state.put(
        "settlements",
        key,
        msgspec.structs.replace(
            settlement, status="confirmed", history=(*settlement.history, _change(ctx, "confirmed"))
        ),
    )


def _closed(ctx: EventContext, body: CloseCase) -> None:
    _case_status(ctx, body.case, "closed")


def _nothing(ctx: EventContext, body: Any) -> None:
    """The state change is the whole effect."""


RULES = {
    RegisterCase: _rule(CASE, "register", lambda b: case_id(b.case), _register),
    ConfirmCustody: _rule(CASE, "confirm_custody", lambda b: case_id(b.case), _custody),
    IssueOrder: _rule(CASE, "issue_order", lambda b: case_id(b.case), _order),
    CloseCase: _rule(CASE, "close", lambda b: case_id(b.case), _closed),
    RegisterClaim: _rule(CLAIM, "claim", lambda b: _claim_id(b.case, b.author), _claimed),
    VerifyClaim: _rule(CLAIM, "verify", lambda b: _claim_id(b.case, b.victim), _nothing),
    Disburse: _rule(CLAIM, "disburse", lambda b: _claim_id(b.case, b.victim), _disburse),
    ConfirmReceipt: _rule(CLAIM, "confirm", lambda b: _claim_id(b.case, b.author), _confirmed),
    WriteOff: _rule(CLAIM, "write_off", lambda b: _claim_id(b.case, b.victim), _nothing),
}
