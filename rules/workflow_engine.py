"""Interprets the declarative workflow definitions of the genesis.

An instance of a workflow is a row ``(spec, state, history)``; a transition may fire only from
one of its source states, only by a participant with its role, and only if every guard it names
holds. Guards are deterministic functions a workflow module registers by name, so the definition
(states, transitions, roles, which guards) is data every validator shares, and the same engine
can carry other cross-institution processes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from consortium.events.results import Code
from consortium.events.workflow import TransitionSpec, WorkflowSpec
from consortium.rules.context import EventContext
from consortium.rules.tables import StatusChange, WorkflowInstance

Guard = Callable[[EventContext, Any], None]
"""Raises Rejected (via ``ctx.require``) when the transition may not fire for this event."""


def instance_key(spec: str, instance: bytes) -> bytes:
    return spec.encode() + b"\x00" + instance


def current_state(ctx: EventContext, spec: str, instance: bytes) -> str:
    row: WorkflowInstance | None = ctx.state.get("workflow_instances", instance_key(spec, instance))
    return "" if row is None else row.state


def check_transition(
    ctx: EventContext,
    spec_name: str,
    instance: bytes,
    transition: str,
    guards: Mapping[str, Guard],
    body: Any,
) -> TransitionSpec:
    """Raise the typed rejection if ``transition`` may not fire now; return its definition."""
    spec: WorkflowSpec | None = ctx.state.get("workflow_specs", spec_name.encode())
    ctx.require(spec is not None, Code.INVALID, f"this ledger's genesis defines no {spec_name!r}")
    assert spec is not None
    step = spec.transition(transition)
    ctx.require(step is not None, Code.INVALID, f"{spec_name!r} has no transition {transition!r}")
    assert step is not None
    state = current_state(ctx, spec_name, instance)
    ctx.require(
        state in step.sources,
        Code.WRONG_STATE if state else Code.NOT_FOUND,
        f"{transition!r} fires from {', '.join(s or 'nothing' for s in step.sources)}, "
        f"not from {state or 'nothing'}",
    )
    ctx.require_role(step.role)
    for name in step.guards:
        guard = guards.get(name)
        ctx.require(guard is not None, Code.INVALID, f"guard {name!r} is not implemented")
        assert guard is not None
        guard(ctx, body)
    return step


def advance(ctx: EventContext, spec_name: str, instance: bytes, step: TransitionSpec) -> None:
    key = instance_key(spec_name, instance)
    row: WorkflowInstance | None = ctx.state.get("workflow_instances", key)
    change = StatusChange(step.target, ctx.height, ctx.time_ms)
    if row is None:
        ctx.state.put(
            "workflow_instances", key, WorkflowInstance(spec_name, step.target, (change,))
        )
    else:
        ctx.state.put(
            "workflow_instances",
            key,
            msgspec.structs.replace(row, state=step.target, history=(*row.history, change)),
        )
