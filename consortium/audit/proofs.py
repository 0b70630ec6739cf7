"""Inclusion and consistency proofs against tree heads that a quorum of validators signed.

Every block header carries ``log_size`` and ``log_root``, the RFC 6962 head of the Merkle tree
over every event of the log so far (leaf data = the stored envelope bytes), and every header is
signed by the 2f+1 precommits of its QC. A proof is therefore: the RFC 9162 audit path, the
header, and the QC. Checking it needs nothing but the genesis (the validators' public keys):
the QC must hold, the header must hash to what the QC signed, and the path must lead from the
leaf (or the older head) to that header's tree head.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from consortium.audit.source import LogSource
from consortium.consensus.certificates import qc_problem
from consortium.consensus.config import ConsensusConfig
from consortium.events.block import BlockHeader, QuorumCertificate, event_leaves, header_hash
from consortium.events.codec import encode
from consortium.events.envelope import event_id
from consortium.events.genesis import Genesis, decode_genesis
from consortium.events.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)


class ProofError(ValueError):
    """A proof cannot be made (unknown event, bad heights) or read."""


@dataclass(frozen=True, slots=True)
class SignedHead:
    header: BlockHeader
    qc: QuorumCertificate

    def as_json(self) -> dict[str, str]:
        return {"header": encode(self.header).hex(), "qc": encode(self.qc).hex()}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> SignedHead:
        header = msgspec.msgpack.decode(bytes.fromhex(data["header"]), type=BlockHeader)
        qc = msgspec.msgpack.decode(bytes.fromhex(data["qc"]), type=QuorumCertificate)
        return cls(header, qc)


def _heads_and_leaves(
    source: LogSource, up_to: int | None = None
) -> tuple[list[SignedHead], list[bytes]]:
    heads, leaves = [], []
    for record in source.records():
        if up_to is not None and record.key_height > up_to:
            break
        if record.stored is None:
            raise ProofError(f"block {record.key_height} is unreadable; run `consortium audit`")
        committed = record.stored.committed
        heads.append(SignedHead(committed.block.header, committed.qc))
        leaves.extend(event_leaves(committed.block.events))
    return heads, leaves


def prove_inclusion(path: Path | str, eid: bytes) -> dict[str, Any]:
    """An inclusion proof of event ``eid`` in the tree head of the log's last block."""
    with LogSource(path) as source:
        location = source.locate(eid)
        if location is None:
            raise ProofError(f"event {eid.hex()} is not in this log")
        height, index = location
        heads, leaves = _heads_and_leaves(source)
        block_head = heads[height - 1].header
        leaf_index = block_head.log_size - block_head.event_count + index
        record = next(source.records(height))
        assert record.stored is not None
        envelope = record.stored.committed.block.events[index]
        if event_id(envelope) != eid:
            raise ProofError("the id index points at another event; run `consortium audit`")
        head = heads[-1]
        return {
            "kind": "inclusion",
            "chain_id": source.genesis.chain_id,
            "genesis_hash": source.genesis.hash.hex(),
            "event_id": eid.hex(),
            "envelope": envelope.hex(),
            "height": height,
            "leaf_index": leaf_index,
            "tree_size": head.header.log_size,
            "path": [h.hex() for h in inclusion_proof(leaves, leaf_index)],
            "head": head.as_json(),
        }


def prove_consistency(path: Path | str, old_height: int, new_height: int) -> dict[str, Any]:
    """A proof that the log at ``new_height`` extends the log at ``old_height``."""
    if not 1 <= old_height <= new_height:
        raise ProofError("need 1 <= OLD <= NEW heights")
    with LogSource(path) as source:
        heads, leaves = _heads_and_leaves(source, new_height)
        if len(heads) < new_height:
            raise ProofError(f"the log has only {len(heads)} blocks")
        old, new = heads[old_height - 1], heads[new_height - 1]
        return {
            "kind": "consistency",
            "chain_id": source.genesis.chain_id,
            "genesis_hash": source.genesis.hash.hex(),
            "old": old.as_json(),
            "new": new.as_json(),
            "path": [h.hex() for h in consistency_proof(leaves, old.header.log_size)],
        }


def _head_problem(head: SignedHead, genesis: Genesis) -> str | None:
    config = ConsensusConfig(genesis.chain_id, genesis.validator_keys)
    if head.header.chain_id != genesis.chain_id:
        return "the tree head belongs to another chain"
    if header_hash(head.header) != head.qc.block_hash or head.qc.height != head.header.height:
        return "the quorum certificate does not sign this header"
    problem = qc_problem(head.qc, genesis.chain_id, config.validators, config.quorum)
    return f"the quorum certificate does not hold: {problem}" if problem else None


def check_proof(proof: dict[str, Any], genesis: Genesis) -> str | None:
    """Why ``proof`` does not hold for this genesis, or None when it does."""
    try:
        if proof.get("genesis_hash") != genesis.hash.hex():
            return "the proof was made for another genesis"
        path = [bytes.fromhex(h) for h in proof["path"]]
        if proof["kind"] == "inclusion":
            head = SignedHead.from_json(proof["head"])
            problem = _head_problem(head, genesis)
            if problem:
                return problem
            envelope = bytes.fromhex(proof["envelope"])
            if event_id(envelope).hex() != proof["event_id"]:
                return "the envelope is not the event the proof names"
            if head.header.log_size != proof["tree_size"]:
                return "the tree size differs from the signed head"
            ok = verify_inclusion(
                leaf_hash(envelope),
                proof["leaf_index"],
                proof["tree_size"],
                path,
                head.header.log_root,
            )
            return None if ok else "the audit path does not lead to the signed tree head"
        if proof["kind"] == "consistency":
            old, new = SignedHead.from_json(proof["old"]), SignedHead.from_json(proof["new"])
            problem = _head_problem(old, genesis) or _head_problem(new, genesis)
            if problem:
                return problem
            ok = verify_consistency(
                old.header.log_size,
                new.header.log_size,
                old.header.log_root,
                new.header.log_root,
                path,
            )
            return None if ok else "the newer tree head does not extend the older one"
        return f"unknown proof kind {proof.get('kind')!r}"
    except (KeyError, ValueError, TypeError, msgspec.DecodeError) as exc:
        return f"the proof file is malformed: {exc}"


def load_genesis(source: Path) -> Genesis:
    """The genesis from a validator's data directory or from a file written by ``--genesis-out``."""
    if source.is_dir():
        with LogSource(source) as log:
            return log.genesis
    try:
        return decode_genesis(source.read_bytes())
    except OSError as exc:
        raise ProofError(f"cannot read the genesis {source}: {exc}") from exc


def write_json(data: dict[str, Any], path: Path | None) -> str:
    text = json.dumps(data, indent=2, sort_keys=True)
    if path is not None:
        path.write_text(text + "\n")
    return text
