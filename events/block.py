"""Blocks, headers and quorum certificates.

The header commits to everything a replay must reproduce: the previous block, the event ids
(RFC 6962 Merkle root), the per-event results (Merkle root) and the digest of every table of the
state after execution. A quorum certificate of 2f+1 precommit signatures over the header hash
therefore certifies the resulting state, which is what lets an auditor trust a replay.
"""

from __future__ import annotations

import hashlib

import msgspec

from events.codec import encode


class TableDigest(msgspec.Struct, frozen=True, array_like=True):
    name: str
    digest: bytes


class BlockHeader(msgspec.Struct, frozen=True, array_like=True):
    chain_id: str
    height: int
    round: int
    prev_hash: bytes
    proposer: int
    time_ms: int
    event_count: int
    events_root: bytes
    results_root: bytes
    table_digests: tuple[TableDigest, ...]

    @property
    def state_digest(self) -> bytes:
        return state_digest(self.table_digests)


def state_digest(table_digests: tuple[TableDigest, ...]) -> bytes:
    h = hashlib.sha256(b"consortium/state/v1")
    for t in table_digests:
        h.update(t.name.encode() + b"\x00" + t.digest)
    return h.digest()


class Block(msgspec.Struct, frozen=True, array_like=True):
    header: BlockHeader
    events: tuple[bytes, ...]

    @property
    def hash(self) -> bytes:
        return header_hash(self.header)


def header_hash(header: BlockHeader) -> bytes:
    return hashlib.sha256(encode(header)).digest()


class VoteSignature(msgspec.Struct, frozen=True, array_like=True):
    validator: int
    signature: bytes


class QuorumCertificate(msgspec.Struct, frozen=True, array_like=True):
    """2f+1 precommits for ``block_hash`` at (height, round), each over the canonical vote bytes."""

    height: int
    round: int
    block_hash: bytes
    votes: tuple[VoteSignature, ...]


class CommittedBlock(msgspec.Struct, frozen=True, array_like=True):
    block: Block
    qc: QuorumCertificate
