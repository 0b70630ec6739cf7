"""Library logging: every logger hangs under ``consortium``, which has a ``NullHandler``.

A host sees our records only if it configures logging; records about a validator carry the
structured fields ``validator`` and, where there is one, ``height`` (``record.validator``).
"""

from __future__ import annotations

import logging

ROOT = logging.getLogger("consortium")
ROOT.addHandler(logging.NullHandler())


def get_logger(module: str) -> logging.Logger:
    """The logger of ``module``: its ``__name__`` is already under ``consortium``; any other
    name is put there, so a host's logging config for ``consortium`` covers every record."""
    under_root = module.partition(".")[0] == "consortium"
    return logging.getLogger(module if under_root else f"consortium.{module}")
