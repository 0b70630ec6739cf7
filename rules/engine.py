"""Executes a block's events against the state: the one deterministic path from log to state.

Every validator runs this before voting on a proposal, and every replay and audit runs it again;
so it reads nothing but its arguments. A rule's verdict is the ``Rejected`` it raises; any other
exception is not a verdict and stops the execution as an ``ExecutionFault``. Signatures are not
checked here: validators checked them at intake, and an audit checks them separately. The
author's signature must still be present.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from consortium.events.block import TableDigest
from consortium.events.body import EventBody
from consortium.events.envelope import DecodedEvent, decode_event
from consortium.events.errors import ConsortiumError, MalformedError
from consortium.events.genesis import Genesis
from consortium.events.results import ACCEPTED, Code, EventResult, Rejected
from consortium.rules.context import EventContext
from consortium.rules.faults import ExecutionFault
from consortium.rules.lthash import LtHash
from consortium.rules.state import EncodedWrites, Overlay, State
from consortium.rules.tables import Participant, Token, token_key


class Rule(Protocol):
    """One event type's rule: ``check`` raises Rejected or returns; ``apply`` writes, and may
    raise Rejected too (its writes are then undone). Nothing else may escape either."""

    def check(self, ctx: EventContext, body: Any) -> None: ...

    def apply(self, ctx: EventContext, body: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class FunctionRule:
    check: Callable[[EventContext, Any], None]
    apply: Callable[[EventContext, Any], None]


RuleBook = Mapping[type[EventBody], Rule]


@dataclass(frozen=True, slots=True)
class BlockContext:
    """What a block hook sees: the block's state overlay and its ledger time."""

    state: Overlay
    height: int
    time_ms: int


BlockHook = Callable[[BlockContext], None]


@dataclass(frozen=True, slots=True)
class Ruleset:
    """Everything validators must agree on to execute alike.

    ``block_hooks`` run at the start of every block, before its events, in order: they carry out
    what falls due by ledger time (an automatic void, a rebate at its time) deterministically.
    """

    rules: RuleBook
    schema: Mapping[str, type]
    roles: frozenset[str]
    block_hooks: tuple[BlockHook, ...] = ()


@dataclass(slots=True)
class Execution:
    """A block executed but not yet committed."""

    overlay: Overlay
    results: list[EventResult]
    hashes: dict[str, LtHash]
    encoded_writes: EncodedWrites
    """The overlay's writes as a stored state keeps them."""

    @property
    def table_digests(self) -> tuple[TableDigest, ...]:
        return tuple(TableDigest(name, h.digest()) for name, h in self.hashes.items())


def genesis_state(genesis: Genesis, ruleset: Ruleset) -> State:
    state = State(ruleset.schema)
    state.put_initial("chain", b"id", genesis.chain_id)
    for spec in genesis.workflows:
        state.put_initial("workflow_specs", spec.name.encode(), spec)
    for index, v in enumerate(genesis.validators):
        state.put_initial("validators", b"%d" % index, v.public_key)
        # Validators author evidence events; "validator" is in no workflow's enrollable roles.
        state.put_initial(
            "participants", v.public_key, Participant(v.name, v.organisation, "validator")
        )
    for p in genesis.participants:
        state.put_initial("participants", p.public_key, Participant(p.name, p.organisation, p.role))
    for t in genesis.tokens:
        state.put_initial("tokens", token_key(t.symbol), Token(t.organisation))
    return state


def execute_events(
    state: State,
    ruleset: Ruleset,
    height: int,
    time_ms: int,
    envelopes: Sequence[bytes],
    event_ids: Sequence[bytes],
    decoded: Sequence[DecodedEvent | None] | None = None,
) -> tuple[Overlay, list[EventResult]]:
    """A block's writes and results. ``decoded[i]``, where given, is ``envelopes[i]`` already
    decoded (at intake). The table hashes the writes give are ``State.hashes_after``'s to
    compute, or left for later by a replay (``State.adopt_unhashed``).

    Raises ``ExecutionFault`` if a hook or an event's execution raises anything but a rule's
    ``Rejected``."""
    overlay = Overlay(state)
    for hook in ruleset.block_hooks:
        try:
            hook(BlockContext(overlay, height, time_ms))
        except ConsortiumError:
            raise  # raised on purpose (a storage error): it keeps its meaning
        except Exception as exc:  # a hook has no verdict to give: whatever it raises is a fault
            name = getattr(hook, "__qualname__", repr(hook))
            raise ExecutionFault(height, None, f"in block hook {name}", exc) from exc
    known = decoded if decoded is not None else [None] * len(envelopes)
    results = []
    for env, eid, event in zip(envelopes, event_ids, known, strict=True):
        try:
            results.append(_execute_event(overlay, ruleset, height, time_ms, env, eid, event))
        except ConsortiumError:
            raise
        except Exception as exc:
            raise ExecutionFault(height, eid, f"on event {eid.hex()}", exc) from exc
    return overlay, results


def _execute_event(
    block: Overlay,
    ruleset: Ruleset,
    height: int,
    time_ms: int,
    envelope_bytes: bytes,
    eid: bytes,
    event: DecodedEvent | None,
) -> EventResult:
    if event is None:
        try:
            event = decode_event(envelope_bytes)[1]
        except MalformedError as exc:
            return EventResult(Code.MALFORMED, str(exc))
    body, signed_by = event.body, event.signers
    if not signed_by or signed_by[0] != body.author:
        return EventResult(Code.MISSING_SIGNATURE, "the first signature must be the author's")
    last_seq = block.get("nonces", body.author) or 0
    if body.seq <= last_seq:
        return EventResult(Code.REPLAY, f"sequence {body.seq} already used (last {last_seq})")
    # From here on the sequence number is spent, accepted or not: a rejected event can never be
    # replayed later, when it might pass.
    block.put("nonces", body.author, body.seq)
    author = block.get("participants", body.author)
    if author is None or not author.active:
        return EventResult(Code.UNKNOWN_AUTHOR, "the author's key is not a registered participant")
    rule = ruleset.rules.get(type(body))
    if rule is None:
        return EventResult(Code.INVALID, f"no rule for {type(body).__name__} on this ledger")
    ctx = EventContext(block, height, time_ms, eid, signed_by, author, ruleset.roles)
    block.begin()
    try:
        rule.check(ctx, body)
        rule.apply(ctx, body)
    except Rejected as rejected:
        block.rollback()
        return rejected.result
    block.end()
    return ACCEPTED
