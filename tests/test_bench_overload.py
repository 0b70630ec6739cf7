"""The overload mode: a host flooding an embedded consortium gets an answer to everything."""

from __future__ import annotations

from consortium.bench.overload import overload


def test_a_flat_out_flood_is_answered_in_full_and_the_chain_stays_live() -> None:
    result = overload(2.0, budget=500)  # small, so a slow machine still overflows it
    assert result.unanswered == 0
    assert result.live_after
    assert result.codes.get("ok", 0) > 0
    assert result.codes.get("overloaded", 0) > 0  # the budget, not memory, took the excess
    assert sum(result.codes.values()) == result.submitted
