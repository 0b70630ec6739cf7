"""Log output of the ``consortium`` command: plain lines for people, JSON lines for collectors.

The JSON form puts each record on one line with its time, level, logger and message, plus the
``validator`` and ``height`` fields validator records carry, so a log pipeline can filter by
validator without parsing prose.
"""

from __future__ import annotations

import json
import logging

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_EXTRA_FIELDS = ("validator", "height")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _EXTRA_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(verbose: bool, log_format: str) -> None:
    """Send records at INFO (verbose) or WARNING and above to stderr, in ``log_format``."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
