"""Memory under a steady load: a short bounded run in CI, the long soak marked slow."""

from __future__ import annotations

import os

import pytest

from consortium.bench.soak import soak


def test_short_soak_completes_and_samples_memory() -> None:
    result = soak(seconds=4, offered_per_s=300)
    assert result.events >= 1000
    assert len(result.rss_mb_samples) >= 3
    assert all(m > 0 for m in result.rss_mb_samples)
    assert all(s.anon_mb > 0 and s.file_mb > 0 for s in result.samples)
    # every payment leaves an order row on each of the 4 validators
    assert result.state_rows >= 4 * result.events


@pytest.mark.slow
def test_ten_minute_soak_grows_only_with_the_projections_and_the_log() -> None:
    """Every payment adds an order row (about 500 bytes) to each validator's in-memory
    projections; heap growth well beyond that per event is a leak."""
    seconds = float(os.environ.get("CONSORTIUM_SOAK_SECONDS", "600"))
    result = soak(seconds=seconds, offered_per_s=1000)
    # About 500 bytes of heap per order row and validator; far beyond that is a leak.
    assert result.heap_bytes_per_event < 4 * 1500, result.samples
