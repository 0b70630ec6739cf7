"""Storage errors that name what is wrong and what to do about it."""

from __future__ import annotations

from consortium.events.errors import ConsortiumError


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


class StateCorruptError(StorageError):
    """A stored state row fails its checksum; the stored state is marked for a rebuild."""

    def __init__(self, table: str, key: bytes) -> None:
        super().__init__(
            f"the stored state row {table}/{key.hex()[:16]}… fails its checksum. The stored "
            "state was marked stale: restart this validator and it rebuilds the state from its "
            "log, which is checked against every block header."
        )
