"""Byzantine validators: honest code with a deviation layered on what it sends.

Each behaviour rewrites the honest validator's outgoing messages (re-signed with its real key, so
they pass signature checks and must be caught by the protocol itself) or adds messages of its
own on every tick. Twins and a skewed clock need no behaviour: they are set up by the run (two
endpoints for one key; a validator built with a far-off clock skew).
"""

from __future__ import annotations

import hashlib
import random

import msgspec

from consortium.consensus.certificates import VOTE_DOMAIN
from consortium.events.block import Block, CommittedBlock, QuorumCertificate, VoteSignature
from consortium.events.codec import encode
from consortium.events.errors import MalformedError
from consortium.events.signing import Domain
from consortium.events.wire import (
    SignedProposal,
    SignedVote,
    SyncResponse,
    Vote,
    VoteKind,
    decode_peer_message,
    decode_proposal,
    decode_vote,
)
from tests.sim.faults import Fault
from tests.sim.validator import SimValidator

Message = tuple[int | None, bytes]


class _Honest:
    """No deviation; subclasses override what they change."""

    def outgoing(self, v: SimValidator, recipient: int | None, payload: bytes) -> list[Message]:
        return [(recipient, payload)]

    def incoming(self, v: SimValidator, sender: int, payload: bytes) -> None:
        return None

    def tick(self, v: SimValidator) -> None:
        return None


def _decoded(payload: bytes) -> object | None:
    try:
        return decode_peer_message(payload)
    except MalformedError:
        return None


class InvalidBlocks(_Honest):
    """Proposes blocks whose header lies about the execution results, and votes for them."""

    def __init__(self) -> None:
        self._forged: dict[bytes, bytes] = {}

    def outgoing(self, v: SimValidator, recipient: int | None, payload: bytes) -> list[Message]:
        message = _decoded(payload)
        chain = v.ctx.genesis.chain_id
        if isinstance(message, SignedProposal):
            proposal = decode_proposal(message.body)
            block = proposal.block
            lie = hashlib.sha256(b"forged" + block.header.results_root).digest()
            forged = Block(msgspec.structs.replace(block.header, results_root=lie), block.events)
            self._forged[block.hash] = forged.hash
            body = encode(msgspec.structs.replace(proposal, block=forged))
            signed = SignedProposal(body, v.identity.sign(Domain.PROPOSAL, chain, body))
            return [(recipient, encode(signed))]
        if isinstance(message, SignedVote):
            vote = decode_vote(message.body)
            forged_hash = self._forged.get(vote.block_hash)
            if forged_hash is not None:
                body = encode(msgspec.structs.replace(vote, block_hash=forged_hash))
                signed_vote = SignedVote(body, v.identity.sign(VOTE_DOMAIN[vote.kind], chain, body))
                return [(recipient, encode(signed_vote))]
        return [(recipient, payload)]


class ForgedCertificates(_Honest):
    """Answers catch-up requests with blocks whose certificates are forged or under-signed."""

    def __init__(self) -> None:
        self._served = 0

    def outgoing(self, v: SimValidator, recipient: int | None, payload: bytes) -> list[Message]:
        message = _decoded(payload)
        if not isinstance(message, SyncResponse):
            return [(recipient, payload)]
        self._served += 1
        forge = (_under_signed, _garbage_signatures, _counted_twice, _altered_block)
        blocks = tuple(forge[self._served % len(forge)](c, v) for c in message.blocks)
        return [(recipient, encode(SyncResponse(blocks)))]


def _under_signed(committed: CommittedBlock, v: SimValidator) -> CommittedBlock:
    qc = committed.qc
    keep = qc.votes[: v.ctx.config.quorum - 1]
    return CommittedBlock(committed.block, msgspec.structs.replace(qc, votes=keep))


def _garbage_signatures(committed: CommittedBlock, v: SimValidator) -> CommittedBlock:
    qc = committed.qc
    votes = tuple(VoteSignature(s.validator, bytes(64)) for s in qc.votes)
    return CommittedBlock(committed.block, msgspec.structs.replace(qc, votes=votes))


def _counted_twice(committed: CommittedBlock, v: SimValidator) -> CommittedBlock:
    """Own precommit signed for real, then listed under every index to fake a quorum."""
    qc = committed.qc
    body = encode(Vote(VoteKind.PRECOMMIT, qc.height, qc.round, qc.block_hash, v.index))
    signature = v.identity.sign(Domain.PRECOMMIT, v.ctx.genesis.chain_id, body)
    votes = tuple(VoteSignature(v.index, signature) for _ in range(v.ctx.config.quorum))
    return CommittedBlock(
        committed.block, QuorumCertificate(qc.height, qc.round, qc.block_hash, votes)
    )


def _altered_block(committed: CommittedBlock, v: SimValidator) -> CommittedBlock:
    """The real certificate on a block with one event dropped: the QC no longer matches."""
    block = committed.block
    altered = Block(block.header, block.events[1:] if block.events else (b"",))
    return CommittedBlock(altered, committed.qc)


class MalformedFlood(_Honest):
    """Sends every peer junk on every tick: random bytes, truncated and re-tagged messages,
    votes with bad signatures, votes naming validators that do not exist."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._last_honest: bytes = b""

    def outgoing(self, v: SimValidator, recipient: int | None, payload: bytes) -> list[Message]:
        self._last_honest = payload
        return [(recipient, payload)]

    def tick(self, v: SimValidator) -> None:
        rng = self._rng
        junk = [
            rng.randbytes(rng.randint(0, 300)),
            self._last_honest[: rng.randint(0, max(0, len(self._last_honest) - 1))],
            b"\x92\xa8proposal" + rng.randbytes(40),
            encode(SignedVote(encode(Vote(VoteKind.PREVOTE, v.height + 1, 0, b"", v.index)), b"x")),
            encode(SignedVote(encode(Vote(VoteKind.PRECOMMIT, v.height + 1, 0, b"", 99)), b"")),
            encode(SyncResponse(())) + b"\x00",
        ]
        v.send_raw([(None, payload) for payload in junk])


def behaviour_for(kind: str, rng: random.Random) -> _Honest:
    if kind == Fault.INVALID_VOTES:
        return InvalidBlocks()
    if kind == Fault.FORGED_QC:
        return ForgedCertificates()
    if kind == Fault.MALFORMED_FLOOD:
        return MalformedFlood(rng)
    raise ValueError(f"{kind} is not a message behaviour")
