"""Off-log stores for private data: encrypted payloads, and the keys that erasure destroys.

The ledger keeps only a blob's SHA-256 and the blob's data key wrapped under a per-record
key-encryption key (KEK). The blob bytes live in a ``BlobStore``, the KEKs in a ``KeyStore``,
one file each, written atomically (temporary file, fsync, rename). Erasing a record deletes its
blob and destroys its KEK: the wrapped key left in the immutable log then opens nothing, so the
log stays intact and verifiable while the data is gone (crypto-shredding).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

KEY_SIZE = 32


def _write_atomically(directory: Path, target: Path, data: bytes) -> None:
    """``data`` at ``target``, all or nothing, durable once this returns."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _named(directory: Path, name: bytes) -> Path:
    if len(name) != 32:
        raise ValueError("a blob or key is named by 32 bytes (a SHA-256)")
    return directory / name.hex()


class BlobStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def put(self, data: bytes) -> bytes:
        digest = hashlib.sha256(data).digest()
        target = _named(self.path, digest)
        if not target.exists():
            _write_atomically(self.path, target, data)
        return digest

    def get(self, digest: bytes) -> bytes | None:
        """The blob's bytes, or None if absent (never stored, or erased)."""
        try:
            data = _named(self.path, digest).read_bytes()
        except FileNotFoundError:
            return None
        if hashlib.sha256(data).digest() != digest:
            raise ValueError(f"blob {digest.hex()} is damaged: its content does not match its name")
        return data

    def delete(self, digest: bytes) -> bool:
        """Erase a blob; True if it was there."""
        try:
            _named(self.path, digest).unlink()
        except FileNotFoundError:
            return False
        return True


class KeyStore:
    """The custodian's key-encryption keys, one per record, named by the record's blob hash.

    Kept apart from the blobs and never in the log, so that destroying a 32-byte file is all
    erasure needs to make every copy of the record's ciphertext and wrapped key unreadable."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def put(self, name: bytes, key: bytes) -> None:
        if len(key) != KEY_SIZE:
            raise ValueError(f"a key-encryption key is {KEY_SIZE} bytes, not {len(key)}")
        _write_atomically(self.path, _named(self.path, name), key)

    def get(self, name: bytes) -> bytes | None:
        """The KEK, or None if it was never made here or has been destroyed."""
        try:
            key = _named(self.path, name).read_bytes()
        except FileNotFoundError:
            return None
        if len(key) != KEY_SIZE:
            raise ValueError(f"key {name.hex()} is damaged: {len(key)} bytes")
        return key

    def destroy(self, name: bytes) -> bool:
        """Overwrite the KEK with zeros, make that durable, then unlink it; True if it was
        there. (The overwrite defeats undelete on an ordinary file system; on copy-on-write or
        flash storage only the unlink is certain, which is why the key is all that is kept.)"""
        target = _named(self.path, name)
        try:
            with target.open("r+b") as out:
                out.write(bytes(KEY_SIZE))
                out.flush()
                os.fsync(out.fileno())
        except FileNotFoundError:
            return False
        target.unlink()
        return True
