"""Key rotation of payments users (S1): one organisation decision moves a user to a new key.

What moves: the participant row (the old key is deactivated, so it can author nothing more),
every token balance, the user's certificate, and the payment records that name the key (credit
lines, bills, pending transfers, settlements). The other workflows' own tables keep the old key
as history; rotate once a user's open items there are closed.
"""

from __future__ import annotations

from typing import Any

import msgspec

from consortium.events.payments import RotateKey
from consortium.events.results import Code
from consortium.rules.context import EventContext
from consortium.rules.credit import line_key
from consortium.rules.engine import BlockHook, FunctionRule
from consortium.rules.payments import ADMIN, balance_of, credit
from consortium.rules.tables import Participant

ROLES: frozenset[str] = frozenset()
TABLES: dict[str, type] = {}
BLOCK_HOOKS: tuple[BlockHook, ...] = ()

# Payment records that name a user, and the fields that may hold the rotated key.
_KEYED_FIELDS = {
    "credit_bills": ("enterprise", "merchant"),
    "credit_pending": ("payer", "payee"),
    "settlements": ("debtor", "creditor"),
}


def _check(ctx: EventContext, body: RotateKey) -> None:
    ctx.require_role(ADMIN)
    user = ctx.participant(body.old_key, "the key to rotate")
    ctx.require(
        user.organisation == ctx.author.organisation,
        Code.WRONG_ROLE,
        "an organisation rotates only its own users' keys",
    )
    ctx.require(user.role not in (ADMIN, "validator"), Code.WRONG_ROLE, "not a user's key")
    ctx.require(len(body.new_key) == 32, Code.INVALID, "the new key must be a 32-byte key")
    ctx.require(
        body.new_key in ctx.signers,
        Code.MISSING_SIGNATURE,
        "the new key must co-sign, to prove its holder has it",
    )
    ctx.require(
        ctx.state.get("participants", body.new_key) is None,
        Code.ALREADY_EXISTS,
        "the new key is already registered",
    )


def _apply(ctx: EventContext, body: RotateKey) -> None:
    state, old, new = ctx.state, body.old_key, body.new_key
    user: Participant = state.get("participants", old)
    state.put("participants", new, user)
    state.put("participants", old, msgspec.structs.replace(user, active=False))
    for symbol, _ in list(state.rows("tokens")):
        token = symbol.decode()
        balance = balance_of(state, old, token)
        if balance:
            credit(state, old, token, -balance)
            credit(state, new, token, balance)
    certificate = state.get("credit_certificates", old)
    if certificate is not None:
        state.put("credit_certificates", new, certificate)
        state.put("credit_certificates", old, msgspec.structs.replace(certificate, revoked=True))
    for key, line in list(state.rows("credit_lines")):
        if old in (line.merchant, line.enterprise):
            moved = _replaced(line, ("merchant", "enterprise"), old, new)
            state.delete("credit_lines", key)
            state.put(
                "credit_lines", line_key(moved.merchant, moved.enterprise, moved.token), moved
            )
    for table, fields in _KEYED_FIELDS.items():
        for key, row in list(state.rows(table)):
            if any(getattr(row, f) == old for f in fields):
                state.put(table, key, _replaced(row, fields, old, new))


def _replaced(row: Any, fields: tuple[str, ...], old: bytes, new: bytes) -> Any:
    return msgspec.structs.replace(row, **{f: new for f in fields if getattr(row, f) == old})


RULES = {RotateKey: FunctionRule(_check, _apply)}
