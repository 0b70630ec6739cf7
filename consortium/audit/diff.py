"""``consortium diff``: the first height (and event) where two validators' logs differ."""

from __future__ import annotations

from itertools import zip_longest
from pathlib import Path

from consortium.audit.source import LogSource
from consortium.events.envelope import event_id


def first_difference(left: Path | str, right: Path | str) -> str | None:
    """A sentence naming the first difference, or None when the logs are identical."""
    with LogSource(left) as a, LogSource(right) as b:
        if a.genesis.hash != b.genesis.hash:
            return "the two logs belong to different genesis files (different consortia)"
        for ra, rb in zip_longest(a.records(), b.records()):
            if ra is None or rb is None:
                shorter, height = (
                    ("first", rb.key_height) if ra is None else ("second", ra.key_height)
                )
                return f"the {shorter} log ends before height {height}"
            height = ra.key_height
            if ra.stored is None or rb.stored is None:
                return f"height {height}: a block record is unreadable (run `consortium audit`)"
            ba, bb = ra.stored.committed.block, rb.stored.committed.block
            if ba.hash == bb.hash:
                continue
            for index, (ea, eb) in enumerate(zip_longest(ba.events, bb.events)):
                if ea != eb:
                    ida = event_id(ea).hex() if ea is not None else "none"
                    idb = event_id(eb).hex() if eb is not None else "none"
                    return f"height {height}, event {index}: {ida} vs {idb}"
            hashes = f"{ba.hash.hex()} vs {bb.hash.hex()}"
            return f"height {height}: same events, different headers ({hashes})"
    return None
