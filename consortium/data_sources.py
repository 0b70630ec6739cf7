"""Data sources behind one small plugin interface, and the SQLite source the demo uses.

A source answers one question: the named fields of one person's record, or None if it does not
hold that person. To add a source (a REST API, a registry, another database), write a class with
``name`` and ``fetch`` and hand an instance to the ``ExtractionSubsystem``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol


class DataSource(Protocol):
    name: str

    def fetch(self, owner: bytes, fields: Sequence[str]) -> dict[str, str] | None:
        """The requested fields of the record of the person with public key ``owner``."""


class SQLiteSource:
    """Reads a table with one row per person, keyed by the hex of the person's public key."""

    def __init__(self, path: Path | str, table: str = "people", name: str = "sqlite") -> None:
        if not table.isidentifier():
            raise ValueError(f"table name {table!r} is not an identifier")
        self.name = name
        self._path = Path(path)
        self._table = table

    def fetch(self, owner: bytes, fields: Sequence[str]) -> dict[str, str] | None:
        with sqlite3.connect(self._path) as db:
            db.row_factory = sqlite3.Row
            row = db.execute(
                f"SELECT * FROM {self._table} WHERE owner_key = ?", (owner.hex(),)
            ).fetchone()
        if row is None:
            return None
        return {f: str(row[f]) for f in fields if f in row.keys()}
