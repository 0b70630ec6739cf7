"""What the stateful tests share: their example budget and a block of queued events.

``CONSORTIUM_STATEFUL_EXAMPLES`` sets how many random runs each machine makes (small by default
so CI stays fast; raise it for a longer sweep)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import HealthCheck, settings

from consortium.events.results import Code
from tests.ledger_fixtures import Ledger

EXAMPLES = int(os.environ.get("CONSORTIUM_STATEFUL_EXAMPLES", "200"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

ModelStep = Callable[[int], bool | Code]
"""Applies one event to the model at a block time; whether the model accepts it, or the exact
code the ledger must give."""


@dataclass
class Block:
    """Events queued for the next block, each with the model's version of it."""

    envelopes: list[bytes] = field(default_factory=list)
    steps: list[ModelStep] = field(default_factory=list)

    def add(self, envelope: bytes, step: ModelStep) -> None:
        self.envelopes.append(envelope)
        self.steps.append(step)

    def run(self, ledger: Ledger, time_ms: int, start: Callable[[int], None]) -> None:
        """Run the block on the ledger and the model; their verdicts (or codes) must agree event
        by event."""
        results = ledger.run(*self.envelopes, time_ms=time_ms)
        start(time_ms)
        expected = [step(time_ms) for step in self.steps]
        got = [
            r.code if isinstance(e, Code) else r.accepted
            for r, e in zip(results, expected, strict=True)
        ]
        assert got == expected, [(r.code, r.detail) for r in results]
        self.envelopes.clear()
        self.steps.clear()
