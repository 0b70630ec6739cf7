"""Rules for evidence against validators: a double vote is checked offline and recorded once.

The validator keys come from the genesis (table ``validators``), so the proof needs nothing but
the ledger's own state: anyone replaying the log re-verifies both signatures.
"""

from __future__ import annotations

import hashlib

import msgspec

from consortium.consensus.certificates import VOTE_DOMAIN
from consortium.events.errors import MalformedError
from consortium.events.results import Code, Rejected
from consortium.events.signing import verify_signature
from consortium.events.validators import DoubleVote
from consortium.events.wire import Vote, decode_vote
from consortium.rules.context import EventContext
from consortium.rules.engine import BlockHook, FunctionRule

VALIDATOR_ROLE = "validator"
"""The role validators hold in ``participants``; set by the genesis, never enrolled."""


class EvidenceRow(msgspec.Struct, frozen=True, gc=False, array_like=True):
    validator: int
    kind: int
    height: int
    round: int
    first_block: bytes
    second_block: bytes
    reported_by: bytes
    recorded_at: int


def evidence_key(vote: Vote) -> bytes:
    """One record per (validator, kind, height, round), however many conflicting votes exist."""
    return hashlib.sha256(
        b"%d/%d/%d/%d" % (vote.validator, vote.kind, vote.height, vote.round)
    ).digest()


def _votes(ctx: EventContext, body: DoubleVote) -> tuple[Vote, Vote]:
    try:
        return decode_vote(body.first_vote), decode_vote(body.second_vote)
    except MalformedError as exc:
        raise Rejected(Code.MALFORMED, f"a vote does not decode: {exc}") from exc


def _check(ctx: EventContext, body: DoubleVote) -> None:
    ctx.require_role(VALIDATOR_ROLE)
    first, second = _votes(ctx, body)
    ctx.require(
        (first.validator, first.kind, first.height, first.round)
        == (second.validator, second.kind, second.height, second.round),
        Code.INVALID,
        "the votes are not for the same validator, kind, height and round",
    )
    ctx.require(first.block_hash != second.block_hash, Code.INVALID, "the votes agree")
    accused = ctx.state.get("validators", b"%d" % first.validator)
    ctx.require(accused is not None, Code.INVALID, f"no validator {first.validator}")
    domain = VOTE_DOMAIN[first.kind]
    signed = ((body.first_vote, body.first_signature), (body.second_vote, body.second_signature))
    for vote, signature in signed:
        ctx.require(
            verify_signature(accused, signature, domain, ctx.chain_id, vote),
            Code.BAD_SIGNATURE,
            "a vote is not signed by the accused validator",
        )
    ctx.require(
        ctx.state.get("validator_evidence", evidence_key(first)) is None,
        Code.ALREADY_EXISTS,
        "this double vote is already recorded",
    )


def _apply(ctx: EventContext, body: DoubleVote) -> None:
    first, second = _votes(ctx, body)
    row = EvidenceRow(
        first.validator,
        int(first.kind),
        first.height,
        first.round,
        first.block_hash,
        second.block_hash,
        ctx.author_key,
        ctx.height,
    )
    ctx.state.put("validator_evidence", evidence_key(first), row)


RULES = {DoubleVote: FunctionRule(_check, _apply)}
TABLES: dict[str, type] = {"validator_evidence": EvidenceRow}
ROLES: frozenset[str] = frozenset()
BLOCK_HOOKS: tuple[BlockHook, ...] = ()
