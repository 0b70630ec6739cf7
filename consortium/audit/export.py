"""``consortium export``: every event as one JSON line, streamed block by block."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from consortium.audit.rows import plain
from consortium.audit.source import LogSource
from consortium.events.envelope import decode_event, event_id
from consortium.events.errors import MalformedError


def export_lines(path: Path | str) -> Iterator[str]:
    with LogSource(path) as source:
        for record in source.records():
            if record.stored is None:
                raise ValueError(
                    f"block {record.key_height} is unreadable: {record.problem}; "
                    "run `consortium audit` on this directory"
                )
            block = record.stored.committed.block
            header = block.header
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
