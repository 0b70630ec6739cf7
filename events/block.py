"""Blocks, headers and quorum certificates.

The header commits to everything a replay must reproduce: the previous block, the events
(RFC 6962 Merkle root over the envelope bytes), the per-event results, the digest of every table
of the state after execution, and the head of the Merkle tree over the whole log. A quorum
certificate of 2f+1 precommit signatures over the header hash therefore certifies the resulting
state and a tree head, which is what lets an auditor trust a replay and a proof.
"""

from __future__ import annotations

import hashlib

import msgspec

from consortium.events.codec import encode
from consortium.events.merkle import leaf_hash


class TableDigest(
    msgspec.Struct, frozen=True, gc=False, array_like=True, forbid_unknown_fields=True
):
    name: str
    digest: bytes


class _HashSlot:
    """A slot outside the Struct's fields for ``header_hash`` to keep its answer in: msgspec
    neither encodes nor compares it, and a decoded or rebuilt header starts without it."""

    __slots__ = ("_hash",)
    _hash: bytes


class BlockHeader(
    _HashSlot, msgspec.Struct, frozen=True, gc=False, array_like=True, forbid_unknown_fields=True
):
    chain_id: str
    height: int
    round: int
    prev_hash: bytes
    proposer: int
    time_ms: int
    event_count: int
    events_root: bytes
    results_root: bytes
    log_size: int  # events in the whole log up to and including this block
    log_root: bytes  # RFC 6962 head of the tree over every event of the log so far
    table_digests: tuple[TableDigest, ...]

    @property
    def state_digest(self) -> bytes:
        return state_digest(self.table_digests)


def state_digest(table_digests: tuple[TableDigest, ...]) -> bytes:
    h = hashlib.sha256(b"consortium/state/v1")
    for t in table_digests:
        h.update(t.name.encode() + b"\x00" + t.digest)
    return h.digest()


def event_leaves(envelopes: tuple[bytes, ...] | list[bytes]) -> list[bytes]:
    """RFC 6962 leaf hashes of a block's events: the leaf data is the stored envelope bytes."""
    return [leaf_hash(e) for e in envelopes]


class Block(msgspec.Struct, frozen=True, gc=False, array_like=True, forbid_unknown_fields=True):
    header: BlockHeader
    events: tuple[bytes, ...]

    @property
    def hash(self) -> bytes:
        return header_hash(self.header)


def header_hash(header: BlockHeader) -> bytes:
    """SHA-256 of the header's canonical bytes, computed once per header object.

    Consensus asks for a block's hash on nearly every message of its height (about 40 times
    per height across four validators of one process), and the log and the node again. Every
    field is immutable (the header is frozen and holds only str, int, bytes and a tuple of
    frozen digests), so the first answer stays the answer."""
    try:
        return header._hash
    except AttributeError:
        digest = hashlib.sha256(encode(header)).digest()
        msgspec.structs.force_setattr(header, "_hash", digest)
        return digest


class VoteSignature(
    msgspec.Struct, frozen=True, gc=False, array_like=True, forbid_unknown_fields=True
):
    validator: int
    signature: bytes


class QuorumCertificate(
    msgspec.Struct, frozen=True, gc=False, array_like=True, forbid_unknown_fields=True
):
    """2f+1 precommits for ``block_hash`` at (height, round), each over the canonical vote bytes."""

    height: int
    round: int
    block_hash: bytes
    votes: tuple[VoteSignature, ...]


class CommittedBlock(
    msgspec.Struct, frozen=True, gc=False, array_like=True, forbid_unknown_fields=True
):
    block: Block
    qc: QuorumCertificate
