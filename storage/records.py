"""The framing of every stored record: a CRC-32 checksum in front of msgpack bytes.

LMDB protects against torn transactions, not against a flipped bit on disk or a file edited by
hand; the checksum catches those on every read, before any byte is decoded.
"""

from __future__ import annotations

import zlib

import msgspec

from consortium.events.block import BlockHeader, CommittedBlock
from consortium.events.results import EventResult


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


def frame(payload: bytes) -> bytes:
    return zlib.crc32(payload).to_bytes(4, "big") + payload


def unframe(record: bytes) -> bytes | None:
    """The payload, or None when the checksum does not match."""
    if len(record) < 4:
        return None
    payload = record[4:]
    if zlib.crc32(payload).to_bytes(4, "big") != record[:4]:
        return None
    return payload


HEADER_DECODER = msgspec.msgpack.Decoder(BlockHeader)
BLOCK_DECODER = msgspec.msgpack.Decoder(StoredBlock)
INTAKE_DECODER = msgspec.msgpack.Decoder(IntakeRejection)
