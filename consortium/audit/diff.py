"""``consortium diff``: the first height (and event) where two validators' logs differ.

Blocks are compared by their content, not their header hashes alone: the events (so a changed,
removed, added or reordered event is named by its index and id), then the stored results, then
the header field by field and the stored log frontier. The quorum certificates are not compared:
two honest validators may each hold a different 2f+1 of the same precommits.
"""

from __future__ import annotations

from itertools import zip_longest
from pathlib import Path

from consortium.audit.source import BlockRecord, LogSource
from consortium.events.envelope import event_id
from consortium.events.results import EventResult
from consortium.storage.records import StoredBlock


def first_difference(left: Path | str, right: Path | str) -> str | None:
    """A sentence naming the first difference, or None when the logs are identical."""
    if Path(left).resolve() == Path(right).resolve():
        return _unreadable_in(left)  # one directory: identical to itself once it can be read
    with LogSource(left) as a, LogSource(right) as b:
        if a.genesis.hash != b.genesis.hash:
            return "the two logs belong to different genesis files (different consortia)"
        for ra, rb in zip_longest(a.records(), b.records()):
            if ra is None or rb is None:
                shorter, height = (
                    ("first", rb.key_height) if ra is None else ("second", ra.key_height)
                )
                return f"the {shorter} log ends before height {height}"
            if ra.key_height != rb.key_height:
                low = min(ra.key_height, rb.key_height)
                return f"height {low}: only one log holds a block record under this height"
            problem = _unreadable(ra, left) or _unreadable(rb, right)
            if problem is not None:
                return problem
            assert ra.stored is not None and rb.stored is not None
            difference = _block_difference(ra.stored, rb.stored)
            if difference is not None:
                return f"height {ra.key_height}, {difference}"
    return None


def _unreadable_in(path: Path | str) -> str | None:
    with LogSource(path) as source:
        for record in source.records():
            if (problem := _unreadable(record, path)) is not None:
                return problem
    return None


def _unreadable(record: BlockRecord, path: Path | str) -> str | None:
    if record.stored is not None:
        return None
    return (
        f"height {record.key_height}: the block record in {path} is unreadable "
        f"({record.problem}); run `consortium audit {path}`"
    )


def _block_difference(a: StoredBlock, b: StoredBlock) -> str | None:
    """What first differs between two stored blocks: an event, a result, a header field."""
    ba, bb = a.committed.block, b.committed.block
    for index, (ea, eb) in enumerate(zip_longest(ba.events, bb.events)):
        if ea != eb:
            ida = event_id(ea).hex() if ea is not None else "none"
            idb = event_id(eb).hex() if eb is not None else "none"
            return f"event {index}: {ida} vs {idb}"
    for index, (ra, rb) in enumerate(zip_longest(a.results, b.results)):
        if ra != rb:
            return f"result of event {index}: {_result(ra)} vs {_result(rb)}"
    for name in ba.header.__struct_fields__:
        va, vb = getattr(ba.header, name), getattr(bb.header, name)
        if va != vb:
            return f"header field {name}: {_short(va)} vs {_short(vb)}"
    if a.log_frontier != b.log_frontier:
        return "same block, different stored log frontier"
    return None


def _result(result: EventResult | None) -> str:
    if result is None:
        return "none"
    return f"{result.code.value} ({result.detail})" if result.detail else str(result.code.value)


def _short(value: object) -> str:
    text = value.hex() if isinstance(value, bytes) else str(value)
    return text if len(text) <= 70 else text[:67] + "..."
