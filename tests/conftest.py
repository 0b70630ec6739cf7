"""Fixtures shared by the suite: no pykka actor outlives a test; workflow ledgers two ways."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest

from consortium.events.genesis import Genesis
from tests.ledger_fixtures import LedgerFactory


@pytest.fixture(autouse=True)
def stop_all_actors() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all()


@pytest.fixture(params=["rules", "actors"])
def make_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerFactory]:
    """Workflow scenarios run twice: on the rules core alone, and end to end through participant
    and validator actors of a 4-validator consortium (``tests/actor_ledger.py``). For the
    latter, the test ends by checking all four validators agree and that reopening every log
    from disk rebuilds the same projections."""
    from tests.actor_ledger import ActorLedger
    from tests.ledger_fixtures import GENESIS, rules_ledger

    made: list[ActorLedger] = []

    def make(genesis: Genesis = GENESIS) -> Any:
        if request.param == "rules":
            return rules_ledger(genesis)
        ledger = ActorLedger(tmp_path / f"ledger-{len(made)}", genesis)
        made.append(ledger)
        return ledger

    yield make
    for ledger in made:
        try:
            assert wait_for_agreement(ledger), "the validators did not agree"
            before = {t: list(ledger.state.rows(t)) for t in ("accounts", "orders", "settlements")}
            digest = ledger.consortium.state_digest(0)
            ledger.reopen()
            after = {t: list(ledger.state.rows(t)) for t in ("accounts", "orders", "settlements")}
            assert after == before and ledger.digests() == {digest}
        finally:
            ledger.stop()


def wait_for_agreement(ledger: Any, timeout_s: float = 20.0) -> bool:
    """All four validators at one height with one state digest (the last block may still be
    reaching the slowest one when the test's last receipt arrives)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        heights = {ledger.consortium.height(i) for i in range(ledger.consortium.size)}
        if len(heights) == 1 and len(ledger.digests()) == 1:
            return True
        time.sleep(0.02)
    return False
