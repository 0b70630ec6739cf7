"""Messages between validators. Proposals and votes are signed; the rest carry signed data.

Vote bytes are canonical (encoded from the Struct) and checked to be so on receipt, so a quorum
certificate can be verified later from (height, round, hash, validator) alone.
"""

from __future__ import annotations

import enum

import msgspec

from consortium.events.block import Block, CommittedBlock, VoteSignature
from consortium.events.codec import BoundedDecoder, encode
from consortium.events.errors import MalformedError

MAX_PEER_MESSAGE_BYTES = 256 * 1024 * 1024


class VoteKind(enum.IntEnum):
    PREVOTE = 1
    PRECOMMIT = 2


class Proposal(msgspec.Struct, frozen=True, gc=False, array_like=True, forbid_unknown_fields=True):
    height: int
    round: int
    pol_round: int
    block: Block


class Vote(msgspec.Struct, frozen=True, gc=False, array_like=True, forbid_unknown_fields=True):
    kind: VoteKind
    height: int
    round: int
    block_hash: bytes  # empty for a vote for nothing (nil)
    validator: int


class SignedProposal(
    msgspec.Struct,
    frozen=True,
    gc=False,
    tag="proposal",
    array_like=True,
    forbid_unknown_fields=True,
):
    body: bytes
    signature: bytes


class SignedVote(
    msgspec.Struct, frozen=True, gc=False, tag="vote", array_like=True, forbid_unknown_fields=True
):
    body: bytes
    signature: bytes


class LockProof(msgspec.Struct, frozen=True, gc=False, array_like=True, forbid_unknown_fields=True):
    """Why a validator locked on a block: the block and the 2f+1 prevotes for it in ``round``.

    Kept with the validator's precommit so that after a restart it can still re-propose the
    block with its proof of lock, as a validator that never stopped would."""

    round: int
    block: Block
    prevotes: tuple[VoteSignature, ...]


class EventGossip(
    msgspec.Struct, frozen=True, gc=False, tag="gossip", array_like=True, forbid_unknown_fields=True
):
    """Envelopes a validator accepted at intake, forwarded so every mempool holds them."""

    envelopes: tuple[bytes, ...]


class Status(
    msgspec.Struct, frozen=True, gc=False, tag="status", array_like=True, forbid_unknown_fields=True
):
    """The next height the sender will decide; a peer behind it asks for blocks."""

    sender: int
    height: int


class SyncRequest(
    msgspec.Struct,
    frozen=True,
    gc=False,
    tag="sync_request",
    array_like=True,
    forbid_unknown_fields=True,
):
    sender: int
    from_height: int


class SyncResponse(
    msgspec.Struct,
    frozen=True,
    gc=False,
    tag="sync_response",
    array_like=True,
    forbid_unknown_fields=True,
):
    blocks: tuple[CommittedBlock, ...]


PeerMessage = SignedProposal | SignedVote | EventGossip | Status | SyncRequest | SyncResponse

_PEER: BoundedDecoder[PeerMessage] = BoundedDecoder(
    PeerMessage, MAX_PEER_MESSAGE_BYTES, "peer message"
)
_PROPOSAL: BoundedDecoder[Proposal] = BoundedDecoder(Proposal, MAX_PEER_MESSAGE_BYTES, "proposal")
_VOTE: BoundedDecoder[Vote] = BoundedDecoder(Vote, 1024, "vote")
_LOCK_PROOF: BoundedDecoder[LockProof] = BoundedDecoder(
    LockProof, MAX_PEER_MESSAGE_BYTES, "lock proof"
)


def decode_peer_message(data: bytes) -> PeerMessage:
    return _PEER.decode(data)


def decode_proposal(data: bytes) -> Proposal:
    return _PROPOSAL.decode(data)


def decode_lock_proof(data: bytes) -> LockProof:
    return _LOCK_PROOF.decode(data)


def decode_vote(data: bytes) -> Vote:
    vote = _VOTE.decode(data)
    if encode(vote) != bytes(data):
        raise MalformedError("vote: bytes are not in canonical form")
    return vote
