"""The validator's last line against equivocating by accident: never two signatures per slot.

A validator that crashes after voting forgets its votes; restarted, it may see a different
proposal in the same round and vote again, which is exactly what a Byzantine double vote looks
like (the simulator found this). So every vote and proposal is recorded durably in the log
before its signature leaves, and a request to sign different bytes for the same (kind, height,
round) is refused; the consensus core then stays silent in that slot.
"""

from __future__ import annotations

import hashlib

import msgspec

from events.identity import Identity
from events.logs import get_logger
from events.signing import Domain
from events.wire import decode_vote
from storage.log import EventLog

log = get_logger(__name__)


class _ProposalHead(msgspec.Struct, array_like=True):
    """The leading fields of a ``Proposal``; msgspec skips the block that follows."""

    height: int
    round: int


_PROPOSAL_HEAD = msgspec.msgpack.Decoder(_ProposalHead)
_GUARDED = {Domain.PROPOSAL: b"P", Domain.PREVOTE: b"V", Domain.PRECOMMIT: b"C"}


class SignGuard:
    def __init__(self, identity: Identity, chain_id: str, event_log: EventLog) -> None:
        self._identity = identity
        self._chain_id = chain_id
        self._log = event_log

    def sign(self, domain: Domain, body: bytes) -> bytes | None:
        kind = _GUARDED.get(domain)
        if kind is not None and not self._may_sign(kind, body):
            return None
        return self._identity.sign(domain, self._chain_id, body)

    def _may_sign(self, kind: bytes, body: bytes) -> bool:
        height, round_ = self._position(kind, body)
        slot = kind + round_.to_bytes(4, "big")
        digest = hashlib.sha256(body).digest()
        previous = self._log.signed_digest(height, slot)
        if previous is None:
            self._log.record_signed(height, slot, digest)
            return True
        if previous != digest:
            log.warning(
                "refusing to sign a second, different %s for height %d round %d",
                kind.decode(),
                height,
                round_,
                extra={"height": height},
            )
            return False
        return True

    @staticmethod
    def _position(kind: bytes, body: bytes) -> tuple[int, int]:
        if kind == b"P":
            head = _PROPOSAL_HEAD.decode(body)
            return head.height, head.round
        vote = decode_vote(body)
        return vote.height, vote.round
