"""``consortium export``: every event as one JSON line, streamed block by block."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

from consortium.audit.rows import plain
from consortium.audit.source import LogSource
from consortium.events.envelope import decode_event, event_id
from consortium.events.errors import ConsortiumError, MalformedError

Progress = Callable[[int, int], None]


class ExportError(ConsortiumError):
    """A block cannot be exported: its record is unreadable."""


def export_lines(path: Path | str, progress: Progress | None = None) -> Iterator[str]:
    """The lines of every event, block by block; ``progress(blocks done, blocks)`` after each."""
    with LogSource(path) as source:
        total = source.block_count()
        for done, record in enumerate(source.records(), start=1):
            if record.stored is None:
                raise ExportError(
                    f"block {record.key_height} is unreadable: {record.problem}; "
                    f"run `consortium audit {path}` for a full report"
                )
            block = record.stored.committed.block
            header = block.header
            if len(block.events) != len(record.stored.results):
                raise ExportError(
                    f"block {record.key_height} holds {len(block.events)} events but "
                    f"{len(record.stored.results)} results; run `consortium audit {path}`"
                )
            for index, (envelope_bytes, result) in enumerate(
                zip(block.events, record.stored.results, strict=True)
            ):
                line: dict[str, object] = {
                    "height": header.height,
                    "index": index,
                    "time_ms": header.time_ms,
                    "event_id": event_id(envelope_bytes).hex(),
                    "result": result.code.value,
                    "detail": result.detail,
                }
                try:
                    envelope, event = decode_event(envelope_bytes)
                    line["type"] = type(event.body).__name__
                    line["body"] = plain(event.body)
                    line["signatures"] = plain(envelope.signatures)
                except MalformedError as exc:
                    line["malformed"] = str(exc)
                    line["envelope"] = envelope_bytes.hex()
                yield json.dumps(line, sort_keys=True)
            if progress is not None:
                progress(done, total)
