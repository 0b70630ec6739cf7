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
def test_ten_minute_soak_has_no_memory_growth() -> None:
    seconds = float(os.environ.get("CONSORTIUM_SOAK_SECONDS", "600"))
    result = soak(seconds=seconds, offered_per_s=1000)
    assert result.growth_after_warmup_mb < 64, result.rss_mb_samples
