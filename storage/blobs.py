"""A content-addressed store for encrypted payloads that must not live in the log.

The ledger keeps only a blob's SHA-256; the bytes live here, one file per blob, written
atomically (temporary file, fsync, rename). Deleting a blob is how private data is erased: the
log, which never held the bytes, stays intact and verifiable.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


class BlobStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def _file(self, digest: bytes) -> Path:
        if len(digest) != 32:
            raise ValueError("a blob is named by its 32-byte SHA-256")
        return self.path / digest.hex()

    def put(self, data: bytes) -> bytes:
        digest = hashlib.sha256(data).digest()
        target = self._file(digest)
        if target.exists():
            return digest
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get(self, digest: bytes) -> bytes | None:
        """The blob's bytes, or None if absent (never stored, or erased)."""
        try:
            data = self._file(digest).read_bytes()
        except FileNotFoundError:
            return None
        if hashlib.sha256(data).digest() != digest:
            raise ValueError(f"blob {digest.hex()} is damaged: its content does not match its name")
        return data

    def delete(self, digest: bytes) -> bool:
        """Erase a blob; True if it was there."""
        try:
            self._file(digest).unlink()
        except FileNotFoundError:
            return False
        return True
