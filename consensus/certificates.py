"""Signed votes and quorum certificates: making, checking and counting them.

A QC stores only (validator, signature) pairs; the signed bytes are the canonical encoding of the
precommit, rebuilt from the QC's height, round and block hash, so anyone holding the genesis keys
can check a QC offline.
"""

from __future__ import annotations

from collections.abc import Callable

from consortium.events.block import QuorumCertificate, VoteSignature
from consortium.events.codec import encode
from consortium.events.signing import Domain, verify_signature
from consortium.events.wire import Vote, VoteKind

Verifier = Callable[[bytes, bytes, Domain, str, bytes], bool]

VOTE_DOMAIN = {VoteKind.PREVOTE: Domain.PREVOTE, VoteKind.PRECOMMIT: Domain.PRECOMMIT}


def precommit_bytes(height: int, round_: int, block_hash: bytes, validator: int) -> bytes:
    return encode(Vote(VoteKind.PRECOMMIT, height, round_, block_hash, validator))


def qc_problem(
    qc: QuorumCertificate,
    chain_id: str,
    validators: tuple[bytes, ...],
    quorum: int,
    verify: Verifier = verify_signature,
) -> str | None:
    """Why ``qc`` does not certify its block, or None when it holds 2f+1 distinct valid votes."""
    seen: set[int] = set()
    for vote in qc.votes:
        if not 0 <= vote.validator < len(validators):
            return f"vote by unknown validator index {vote.validator}"
        if vote.validator in seen:
            return f"validator {vote.validator} counted twice"
        seen.add(vote.validator)
        body = precommit_bytes(qc.height, qc.round, qc.block_hash, vote.validator)
        if not verify(validators[vote.validator], vote.signature, Domain.PRECOMMIT, chain_id, body):
            return f"signature of validator {vote.validator} does not verify"
    if len(seen) < quorum:
        return f"{len(seen)} votes, quorum is {quorum}"
    return None


def make_qc(
    height: int, round_: int, block_hash: bytes, signatures: dict[int, bytes]
) -> QuorumCertificate:
    votes = tuple(VoteSignature(v, signatures[v]) for v in sorted(signatures))
    return QuorumCertificate(height, round_, block_hash, votes)
