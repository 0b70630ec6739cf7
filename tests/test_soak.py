"""Memory under a steady load: a short bounded run in CI, the long soak marked slow."""

from __future__ import annotations

import os

import pytest

from bench.soak import soak


def test_short_soak_completes_and_samples_memory() -> None:
    result = soak(seconds=4, offered_per_s=300)
    assert result.events >= 1000
    assert len(result.rss_mb_samples) >= 3
    assert all(m > 0 for m in result.rss_mb_samples)


@pytest.mark.slow
def test_ten_minute_soak_grows_only_with_the_projections_and_the_log() -> None:
    """Every payment adds an order row to each validator's in-memory projections and its
    records to each memory-mapped log, about 2 KB per event for 4 validators together; anything
    well beyond that per event is a leak."""
    seconds = float(os.environ.get("CONSORTIUM_SOAK_SECONDS", "600"))
    result = soak(seconds=seconds, offered_per_s=1000)
    per_event_kb = result.growth_after_warmup_mb * 1024 / result.events
    assert per_event_kb < 8, result.rss_mb_samples
