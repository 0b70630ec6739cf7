"""Inclusion and consistency proofs against tree heads that a quorum of validators signed.

Every block header carries ``log_size`` and ``log_root``, the RFC 6962 head of the Merkle tree
over every event of the log so far (leaf data = the stored envelope bytes), and every header is
signed by the 2f+1 precommits of its QC. A proof is therefore: the RFC 9162 audit path, the
header, and the QC. Checking it needs nothing but the genesis (the validators' public keys):
the QC must hold, the header must hash to what the QC signed, and the path must lead from the
leaf (or the older head) to that header's tree head.

Every field a proof carries is checked against signed data, so none can be edited unnoticed: the
genesis hash and chain id against the genesis (and the chain id in every signed header), an
inclusion proof's ``height`` and ``leaf_index`` against the signed header of the event's own
block (whose events are leaves ``log_size - event_count`` to ``log_size - 1``), ``tree_size``
against the signed head. The file format, encodings and signing bytes are in docs/proofs.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from consortium.audit.source import AuditSourceError, LogSource
from consortium.consensus.certificates import qc_problem
from consortium.consensus.config import ConsensusConfig
from consortium.events.block import BlockHeader, QuorumCertificate, event_leaves, header_hash
from consortium.events.codec import BoundedDecoder, encode
from consortium.events.envelope import event_id
from consortium.events.errors import ConsortiumError, MalformedError
from consortium.events.genesis import Genesis, decode_genesis
from consortium.events.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)

Progress = Callable[[int, int], None]

MAX_HEAD_PART_BYTES = 1 << 20
"""The largest header or QC a proof may carry: a header is a few hundred bytes and a QC about
70 bytes a validator, so this leaves room for ~15,000 validators and refuses a hostile file's
giant or deeply nested part before it is decoded."""
MAX_PROOF_FILE_BYTES = 16 << 20
"""The largest proof file read: an audit path holds 32 bytes per doubling of the log."""

_HEADER: BoundedDecoder[BlockHeader] = BoundedDecoder(
    BlockHeader, MAX_HEAD_PART_BYTES, "proof header"
)
_QC: BoundedDecoder[QuorumCertificate] = BoundedDecoder(
    QuorumCertificate, MAX_HEAD_PART_BYTES, "proof quorum certificate"
)


class ProofError(ConsortiumError):
    """A proof cannot be made (unknown event, bad heights, unreadable log) or read."""


class SignedHeadFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A header and its QC as a proof file holds them: hex of their msgpack encodings."""

    header: str
    qc: str


class InclusionProof(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="kind", tag="inclusion"
):
    chain_id: str
    genesis_hash: str
    event_id: str
    envelope: str
    height: int
    leaf_index: int
    tree_size: int
    path: list[str]
    block: SignedHeadFile  # the signed head of the block at ``height``, which holds the event
    head: SignedHeadFile  # the signed head the path leads to (the log's last block)


class ConsistencyProof(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="kind", tag="consistency"
):
    chain_id: str
    genesis_hash: str
    old: SignedHeadFile
    new: SignedHeadFile
    path: list[str]


Proof = InclusionProof | ConsistencyProof


@dataclass(frozen=True, slots=True)
class SignedHead:
    header: BlockHeader
    qc: QuorumCertificate

    def as_file(self) -> SignedHeadFile:
        return SignedHeadFile(encode(self.header).hex(), encode(self.qc).hex())

    @classmethod
    def from_file(cls, part: SignedHeadFile) -> SignedHead:
        """The head, decoded within bounds: MalformedError for bytes that are not one."""
        return cls(_HEADER.decode(_hex(part.header)), _QC.decode(_hex(part.qc)))


def _hex(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise MalformedError(f"{text[:20]!r}… is not hex") from None


def _walk(
    source: LogSource, up_to: int | None, progress: Progress | None
) -> Iterator[tuple[SignedHead, tuple[bytes, ...]]]:
    """Each block's signed head and events, in height order, up to ``up_to``."""
    total = source.block_count() if up_to is None else min(up_to, source.block_count())
    for done, record in enumerate(source.records(), start=1):
        if up_to is not None and record.key_height > up_to:
            return
        if record.stored is None or record.key_height != done:
            raise ProofError(
                f"block {done} is missing or unreadable; run `consortium audit {source.path}`"
            )
        committed = record.stored.committed
        yield SignedHead(committed.block.header, committed.qc), committed.block.events
        if progress is not None:
            progress(done, total)


def prove_inclusion(
    path: Path | str, eid: bytes, progress: Progress | None = None
) -> dict[str, Any]:
    """An inclusion proof of event ``eid`` in the tree head of the log's last block.

    The event is found by reading the log, not the id index, so a damaged index cannot make a
    present event look absent (``consortium audit`` reports the index itself)."""
    with LogSource(path) as source:
        leaves: list[bytes] = []
        found: tuple[SignedHead, int, bytes] | None = None
        head: SignedHead | None = None
        for head, events in _walk(source, None, progress):
            if found is None:
                for index, envelope in enumerate(events):
                    if event_id(envelope) == eid:
                        found = head, len(leaves) + index, envelope
            leaves.extend(event_leaves(events))
        if found is None or head is None:
            raise ProofError(
                f"event {eid.hex()} is not in this log; check the id with "
                f"`consortium export {source.path}` (and that this is the right validator)"
            )
        block, leaf_index, envelope = found
        proof = InclusionProof(
            chain_id=source.genesis.chain_id,
            genesis_hash=source.genesis.hash.hex(),
            event_id=eid.hex(),
            envelope=envelope.hex(),
            height=block.header.height,
            leaf_index=leaf_index,
            tree_size=head.header.log_size,
            path=[h.hex() for h in inclusion_proof(leaves, leaf_index)],
            block=block.as_file(),
            head=head.as_file(),
        )
    return _plain(proof)


def prove_consistency(
    path: Path | str, old_height: int, new_height: int, progress: Progress | None = None
) -> dict[str, Any]:
    """A proof that the log at ``new_height`` extends the log at ``old_height``."""
    if not 1 <= old_height <= new_height:
        raise ProofError(
            f"cannot prove heights {old_height} to {new_height}: give --consistency OLD NEW "
            "with 1 <= OLD <= NEW"
        )
    with LogSource(path) as source:
        heads, leaves = [], []
        for head, events in _walk(source, new_height, progress):
            heads.append(head)
            leaves.extend(event_leaves(events))
        if len(heads) < new_height:
            raise ProofError(
                f"the log has only {len(heads)} blocks; give a NEW height of at most {len(heads)}"
            )
        old, new = heads[old_height - 1], heads[new_height - 1]
        proof = ConsistencyProof(
            chain_id=source.genesis.chain_id,
            genesis_hash=source.genesis.hash.hex(),
            old=old.as_file(),
            new=new.as_file(),
            path=[h.hex() for h in consistency_proof(leaves, old.header.log_size)],
        )
    return _plain(proof)


def _plain(proof: Proof) -> dict[str, Any]:
    plain: dict[str, Any] = msgspec.to_builtins(proof)
    return plain


def _head_problem(head: SignedHead, genesis: Genesis) -> str | None:
    """Why ``head`` is not a header of this chain signed by a quorum, or None."""
    config = ConsensusConfig(genesis.chain_id, genesis.validator_keys)
    if head.header.chain_id != genesis.chain_id:
        return f"the signed header {head.header.height} belongs to chain {head.header.chain_id!r}"
    if header_hash(head.header) != head.qc.block_hash or head.qc.height != head.header.height:
        return f"the quorum certificate does not sign header {head.header.height}"
    problem = qc_problem(head.qc, genesis.chain_id, config.validators, config.quorum)
    return f"the quorum certificate does not hold: {problem}" if problem else None


def check_proof(proof: dict[str, Any], genesis: Genesis) -> str | None:
    """Why ``proof`` does not hold for this genesis, or None when it does."""
    try:
        parsed: Proof = msgspec.convert(proof, Proof)
    except msgspec.ValidationError as exc:
        return f"the proof file is malformed: {exc}"
    if parsed.genesis_hash != genesis.hash.hex():
        return "the proof was made for another genesis"
    if parsed.chain_id != genesis.chain_id:
        return f"the proof names chain {parsed.chain_id!r}, the genesis {genesis.chain_id!r}"
    try:
        path = [_hex(h) for h in parsed.path]
        if isinstance(parsed, InclusionProof):
            return _inclusion_problem(parsed, path, genesis)
        return _consistency_problem(parsed, path, genesis)
    except MalformedError as exc:
        return f"the proof file is malformed: {exc}"


def _inclusion_problem(proof: InclusionProof, path: list[bytes], genesis: Genesis) -> str | None:
    block, head = SignedHead.from_file(proof.block), SignedHead.from_file(proof.head)
    problem = _head_problem(block, genesis) or _head_problem(head, genesis)
    if problem:
        return problem
    if block.header.height != proof.height:
        return (
            f"the proof's height {proof.height} is not its signed block's ({block.header.height})"
        )
    if head.header.height < block.header.height:
        return "the signed head is older than the block that holds the event"
    envelope = _hex(proof.envelope)
    if event_id(envelope).hex() != proof.event_id:
        return "the envelope is not the event the proof names"
    first = block.header.log_size - block.header.event_count
    if not first <= proof.leaf_index < block.header.log_size:
        return (
            f"leaf {proof.leaf_index} is not in block {proof.height}, which holds leaves "
            f"{first} to {block.header.log_size - 1}"
        )
    if head.header.log_size != proof.tree_size:
        return "the tree size differs from the signed head"
    ok = verify_inclusion(
        leaf_hash(envelope), proof.leaf_index, proof.tree_size, path, head.header.log_root
    )
    return None if ok else "the audit path does not lead to the signed tree head"


def _consistency_problem(
    proof: ConsistencyProof, path: list[bytes], genesis: Genesis
) -> str | None:
    old, new = SignedHead.from_file(proof.old), SignedHead.from_file(proof.new)
    problem = _head_problem(old, genesis) or _head_problem(new, genesis)
    if problem:
        return problem
    if old.header.height > new.header.height:
        return "the older signed head is higher than the newer one"
    ok = verify_consistency(
        old.header.log_size, new.header.log_size, old.header.log_root, new.header.log_root, path
    )
    return None if ok else "the newer tree head does not extend the older one"


def read_proof(path: Path) -> dict[str, Any]:
    """The JSON object in a proof file, read within ``MAX_PROOF_FILE_BYTES``."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_PROOF_FILE_BYTES + 1)
    except OSError as exc:
        raise ProofError(f"cannot read the proof {path}: {exc.strerror or exc}") from exc
    if len(data) > MAX_PROOF_FILE_BYTES:
        raise ProofError(f"{path} is over {MAX_PROOF_FILE_BYTES} bytes: not a proof file")
    try:
        proof = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProofError(f"{path} is not a proof file (not JSON: {exc})") from exc
    if not isinstance(proof, dict):
        raise ProofError(f"{path} is not a proof file (not a JSON object)")
    return proof


def load_genesis(source: Path) -> Genesis:
    """The genesis from a validator's data directory or from a file written by
    ``consortium export-genesis``."""
    if source.is_dir():
        try:
            with LogSource(source) as log:
                return log.genesis
        except AuditSourceError as exc:
            raise ProofError(
                f"{exc}; give --genesis a file written by `consortium export-genesis` or a "
                "validator's data directory"
            ) from exc
    try:
        return decode_genesis(source.read_bytes())
    except OSError as exc:
        raise ProofError(
            f"cannot read the genesis {source}: {exc.strerror or exc}; give a file written by "
            "`consortium export-genesis DIR -o FILE` or a validator's data directory"
        ) from exc
    except MalformedError as exc:
        raise ProofError(
            f"{source} is not a genesis file ({exc}); write one with "
            "`consortium export-genesis DIR -o FILE`"
        ) from exc


def write_json(data: dict[str, Any], path: Path | None) -> str:
    text = json.dumps(data, indent=2, sort_keys=True)
    if path is not None:
        path.write_text(text + "\n")
    return text
