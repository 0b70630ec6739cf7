"""Library logging: every logger hangs under ``consortium``, which has a ``NullHandler``.

A host sees our records only if it configures logging; records about a validator carry the
structured fields ``validator`` and, where there is one, ``height`` (``record.validator``).
"""

from __future__ import annotations

import logging

ROOT = logging.getLogger("consortium")
ROOT.addHandler(logging.NullHandler())


def get_logger(module: str) -> logging.Logger:
    return logging.getLogger(f"consortium.{module}")
