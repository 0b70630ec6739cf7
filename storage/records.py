"""The framing of every stored record: a CRC-32 checksum over where it is stored and what it holds.

LMDB protects against torn transactions, not against a flipped bit on disk or a file edited by
hand. Every value in every database of a log is stored as ``frame(db, key, payload)``: four bytes
of CRC-32, big-endian, over the database's name, the key and the payload, then the payload.
``unframe(db, key, record)`` gives the payload back, or None when the checksum does not match.

The key is inside the checksum so that damage to a key is caught like damage to a value: a
flipped bit in a row key, or two records exchanged with their checksums intact, would otherwise
pass as good records under the wrong keys. The database name keeps a record copied into another
database from passing there. The bytes checked are ``db NUL len(key) key payload`` (the key's
length as four bytes, big-endian), so no shift of the boundary between key and payload gives
the same input.

This is the one framing API: the log (``storage.log``), the state rows (``storage.state_rows``),
signature-checking workers and the auditor all read and write records through it.
"""

from __future__ import annotations

import zlib

import msgspec

from consortium.events.block import BlockHeader, CommittedBlock
from consortium.events.results import EventResult

CHECKSUM_BYTES = 4


class StoredBlock(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """A committed block with its QC and the result of each event, in block order."""

    committed: CommittedBlock
    results: tuple[EventResult, ...]
    log_frontier: tuple[bytes, ...]  # of the whole-log Merkle tree after this block


class IntakeRejection(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """An event refused before consensus (bad bytes or signature, duplicate, overload)."""

    event_id: bytes
    code: str
    detail: str
    size: int
    head: bytes  # the first bytes of what was received, for forensics


def _checksum(db: bytes, key: bytes, payload: bytes | memoryview) -> bytes:
    where = db + b"\x00" + len(key).to_bytes(4, "big") + key
    return zlib.crc32(payload, zlib.crc32(where)).to_bytes(CHECKSUM_BYTES, "big")


def frame(db: bytes, key: bytes, payload: bytes) -> bytes:
    """The record to store under ``key`` in the database named ``db``."""
    return _checksum(db, key, payload) + payload


def intact(db: bytes, key: bytes, record: bytes | memoryview) -> bool:
    """Whether the record's checksum matches, without copying it (for checks of whole
    databases through LMDB's buffers)."""
    if len(record) < CHECKSUM_BYTES:
        return False
    return _checksum(db, bytes(key), record[CHECKSUM_BYTES:]) == bytes(record[:CHECKSUM_BYTES])


def unframe(db: bytes, key: bytes, record: bytes | memoryview) -> bytes | None:
    """The payload of the record stored under ``key`` in ``db``, or None when its checksum does
    not match (the record, its key, or both are damaged, or it belongs elsewhere)."""
    if not intact(db, key, record):
        return None
    return bytes(record[CHECKSUM_BYTES:])


HEADER_DECODER = msgspec.msgpack.Decoder(BlockHeader)
BLOCK_DECODER = msgspec.msgpack.Decoder(StoredBlock)
INTAKE_DECODER = msgspec.msgpack.Decoder(IntakeRejection)
