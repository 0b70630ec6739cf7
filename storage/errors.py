"""Storage errors that name what is wrong and what to do about it."""

from __future__ import annotations

from events.errors import ConsortiumError


class StorageError(ConsortiumError):
    """The data directory cannot be used as asked."""


class LogCorruptError(StorageError):
    """A stored record fails its checksum or breaks the hash chain; the log is not used."""

    def __init__(self, height: int, what: str) -> None:
        super().__init__(
            f"log corrupt at height {height}: {what}. The log was not used; restore this "
            "validator's directory from a backup or let it resync from its peers."
        )
        self.height = height
        self.what = what
