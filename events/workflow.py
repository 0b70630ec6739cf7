"""Declarative workflow definitions: states, transitions, the role that may fire each one, and
the named guards that must hold. They are part of the genesis, so every validator runs the same
process definition; the rules core interprets them deterministically."""

from __future__ import annotations

import msgspec


class TransitionSpec(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    name: str
    sources: tuple[str, ...]  # states it may fire from; "" is "the instance does not exist yet"
    target: str
    role: str
    guards: tuple[str, ...] = ()


class WorkflowSpec(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    name: str
    transitions: tuple[TransitionSpec, ...]
    final: tuple[str, ...] = ()

    def transition(self, name: str) -> TransitionSpec | None:
        return next((t for t in self.transitions if t.name == name), None)
