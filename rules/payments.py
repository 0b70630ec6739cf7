"""Token payments: enrolment of participants, issuance, and balance-checked transfers."""

from __future__ import annotations

import msgspec

from consortium.events.payments import IssueTokens, RegisterParticipant, Transfer
from consortium.events.results import Code
from consortium.rules import bounds
from consortium.rules.certificates import require_debit_allowed
from consortium.rules.context import EventContext
from consortium.rules.engine import BlockHook, FunctionRule
from consortium.rules.state import Overlay, StateView
from consortium.rules.tables import (
    Account,
    Order,
    Participant,
    StatusChange,
    account_key,
    token_key,
)

ADMIN = "org_admin"
ISSUER = "issuer"
ROLES = frozenset({"user", "merchant", "enterprise", ISSUER})
TABLES: dict[str, type] = {}
BLOCK_HOOKS: tuple[BlockHook, ...] = ()


def _check_register(ctx: EventContext, body: RegisterParticipant) -> None:
    ctx.require_role(ADMIN)
    ctx.require(len(body.participant) == 32, Code.INVALID, "participant must be a 32-byte key")
    ctx.require(
        body.role in ctx.enrollable_roles, Code.INVALID, f"role {body.role!r} cannot be enrolled"
    )
    ctx.require(
        ctx.state.get("participants", body.participant) is None,
        Code.ALREADY_EXISTS,
        "this key is already registered",
    )


def _apply_register(ctx: EventContext, body: RegisterParticipant) -> None:
    participant = Participant(body.name, ctx.author.organisation, body.role)
    ctx.state.put("participants", body.participant, participant)


def _check_issue(ctx: EventContext, body: IssueTokens) -> None:
    ctx.require_role(ADMIN, ISSUER)
    bounds.amount(body.amount, "IssueTokens.amount")
    token = ctx.state.get("tokens", token_key(body.token))
    ctx.require(token is not None, Code.NOT_FOUND, f"token {body.token!r} does not exist")
    # Every balance is part of its token's supply, so bounding the supply bounds them all.
    bounds.total((token.supply, body.amount), f"the supply of {body.token}")
    ctx.require(
        token.organisation == ctx.author.organisation,
        Code.WRONG_ROLE,
        f"only {token.organisation} may issue {body.token}",
    )
    ctx.participant(body.to, "recipient")


def _apply_issue(ctx: EventContext, body: IssueTokens) -> None:
    key = token_key(body.token)
    token = ctx.state.get("tokens", key)
    ctx.state.put("tokens", key, type(token)(token.organisation, token.supply + body.amount))
    credit(ctx.state, body.to, body.token, body.amount)


def _check_transfer(ctx: EventContext, body: Transfer) -> None:
    bounds.amount(body.amount, "Transfer.amount")
    require_debit_allowed(ctx, body.author, needs_certificate=False)
    ctx.require(
        ctx.state.get("tokens", token_key(body.token)) is not None,
        Code.NOT_FOUND,
        f"token {body.token!r} does not exist",
    )
    ctx.require(body.to != body.author, Code.INVALID, "cannot transfer to yourself")
    ctx.participant(body.to, "recipient")
    balance = balance_of(ctx.state, body.author, body.token)
    ctx.require(
        balance >= body.amount,
        Code.INSUFFICIENT_FUNDS,
        f"balance {balance} {body.token} is less than {body.amount}",
    )


def _apply_transfer(ctx: EventContext, body: Transfer) -> None:
    credit(ctx.state, body.author, body.token, -body.amount)
    credit(ctx.state, body.to, body.token, body.amount)
    change = StatusChange("completed", ctx.height, ctx.time_ms)
    order = Order(
        "transfer", (body.author, body.to), body.token, body.amount, "completed", (change,)
    )
    ctx.state.put("orders", ctx.event_id, order)


def balance_of(state: StateView, owner: bytes, token: str) -> int:
    account = state.get("accounts", account_key(owner, token))
    return 0 if account is None else account.balance


def credit(state: Overlay, owner: bytes, token: str, change: int) -> None:
    """Add ``change`` (negative to debit) to an account, creating it on first use.

    The rules check funds before they move them, so the balance never leaves the ledger's
    range here; if a rule forgot to, the event is refused rather than the state made
    unencodable."""
    key = account_key(owner, token)
    account = state.get("accounts", key) or Account(owner, token)
    balance = account.balance + change
    bounds.in_range(balance, f"the {token} balance of {owner.hex()[:16]}…")
    state.put("accounts", key, msgspec.structs.replace(account, balance=balance))


RULES = {
    RegisterParticipant: FunctionRule(_check_register, _apply_register),
    IssueTokens: FunctionRule(_check_issue, _apply_issue),
    Transfer: FunctionRule(_check_transfer, _apply_transfer),
}
