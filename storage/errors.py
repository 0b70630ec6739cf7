"""Storage errors that name what is wrong and what to do about it."""

from __future__ import annotations

from pathlib import Path

from consortium.events.errors import ConsortiumError

_RESTORE = (
    "restore this validator's directory from a backup, or start it on an empty directory and "
    "let it resync from its peers"
)


class StorageError(ConsortiumError):
    """The data directory cannot be used as asked."""


class LogCorruptError(StorageError):
    """A stored record fails its checksum, breaks the hash chain, or is missing, or a record is
    where none belongs; the log is not used. ``height`` is None when the damage is in no
    height's record (the genesis, the event id index)."""

    def __init__(self, height: int | None, what: str) -> None:
        where = "log corrupt" if height is None else f"log corrupt at height {height}"
        super().__init__(f"{where}: {what}. The log was not used; {_RESTORE}.")
        self.height = height
        self.what = what


class LogFileError(LogCorruptError):
    """The LMDB file itself is truncated or unreadable: found before LMDB maps it, since a read
    past the end of a mapped file kills the process with SIGBUS."""

    def __init__(self, path: Path, what: str) -> None:
        super().__init__(None, f"{path / 'data.mdb'} {what}")
        self.path = path


class LogFormatError(StorageError):
    """The log was written in a format this version does not read."""

    def __init__(self, path: Path, found: bytes, expected: bytes) -> None:
        super().__init__(
            f"{path} holds a log in format {found.decode(errors='replace')!r}; this version "
            f"reads {expected.decode()!r} only. Run this validator with the version that wrote "
            "the log, or start it on an empty directory and let it resync from its peers."
        )
        self.found = found


class StateCorruptError(StorageError):
    """A stored state row fails its checksum; the stored state is marked for a rebuild."""

    def __init__(self, table: str, key: bytes, what: str = "fails its checksum") -> None:
        super().__init__(
            f"the stored state row {table}/{key.hex()[:16]}… {what}. The stored state was "
            "marked stale: restart this validator and it rebuilds the state from its log, which "
            "is checked against every block header."
        )
        self.table = table
        self.key = key
