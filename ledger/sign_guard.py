"""The validator's last line against equivocating by accident: never two signatures per slot.

A validator that crashes after voting forgets its votes; restarted, it may see a different
proposal in the same round and vote again, which is exactly what a Byzantine double vote looks
like (the simulator found this). So every vote is recorded durably in the log before its
signature leaves, and asked to sign a different vote for the same (kind, height, round), the
guard hands back the earlier vote instead; the core says that again. A precommit for a block is
kept with its lock proof (the block and its 2f+1 prevotes), from which a restart restores the
lock and can re-propose the block. Proposals are recorded by
digest only (they carry whole blocks) and a second, different one is refused.

Records wait in memory until the shell takes the actions of the core's step, and then go to the
log in one transaction (``released``): a proposer signs its proposal and its prevote on it in one
step, and paid two fsyncs before its proposal could leave; now it pays one. A crash before that
write loses the records together with the messages that would have carried the signatures, so
no signature is sent before its record is durable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import msgspec

from consortium.consensus.actions import Action
from consortium.events.identity import Identity
from consortium.events.logs import get_logger
from consortium.events.signing import Domain
from consortium.events.wire import LockProof, decode_lock_proof, decode_vote
from consortium.storage.log import SIGNED_HEIGHTS_KEPT, EventLog

log = get_logger(__name__)


class _ProposalHead(msgspec.Struct, array_like=True):
    """The leading fields of a ``Proposal``; msgspec skips the block that follows."""

    height: int
    round: int


_PROPOSAL_HEAD = msgspec.msgpack.Decoder(_ProposalHead)
_VOTE_SLOTS = {Domain.PREVOTE: b"V", Domain.PRECOMMIT: b"C"}
_SIGNATURE_BYTES = 64


def _unpack(record: bytes) -> tuple[bytes, bytes, bytes]:
    """(signature, vote body, lock proof) of a vote record."""
    size = int.from_bytes(record[_SIGNATURE_BYTES : _SIGNATURE_BYTES + 2], "big")
    start = _SIGNATURE_BYTES + 2
    return record[:_SIGNATURE_BYTES], record[start : start + size], record[start + size :]


class SignGuard:
    def __init__(self, identity: Identity, chain_id: str, event_log: EventLog) -> None:
        self._identity = identity
        self._chain_id = chain_id
        self._log = event_log
        self._unrecorded: dict[tuple[int, bytes], bytes] = {}
        self._recorded_height = -1
        self._recorded: dict[bytes, bytes] = {}

    def sign(self, domain: Domain, body: bytes, proof: bytes) -> tuple[bytes, bytes] | None:
        """Sign ``body``, first recording it (with ``proof``, a precommit's lock proof)."""
        if domain is Domain.PROPOSAL:
            return self._sign_proposal(body)
        vote = decode_vote(body)
        slot = _VOTE_SLOTS[domain] + vote.round.to_bytes(4, "big")
        earlier = self._earlier(vote.height, slot)
        if earlier is not None:
            signature, earlier_body, _ = _unpack(earlier)
            if earlier_body != body:
                log.warning(
                    "validator %d already voted in height %d round %d; repeating that vote",
                    vote.validator,
                    vote.height,
                    vote.round,
                    extra={"height": vote.height, "validator": vote.validator},
                )
            return earlier_body, signature
        signature = self._signature(domain, body)
        record = signature + len(body).to_bytes(2, "big") + body + proof
        self._unrecorded[(vote.height, slot)] = record
        return body, signature

    def released(self, actions: Sequence[Action]) -> Sequence[Action]:
        """A core step's actions, handed to the shell only once the record of every signature
        given out since the last call is durable: the shell gets nothing to send otherwise."""
        self._record()
        return actions

    def _record(self) -> None:
        if self._unrecorded:
            self._log.record_signed([(h, slot, rec) for (h, slot), rec in self._unrecorded.items()])
            for (height, slot), record in self._unrecorded.items():
                if height == self._recorded_height:
                    self._recorded[slot] = record
            self._unrecorded.clear()

    def _earlier(self, height: int, slot: bytes) -> bytes | None:
        unrecorded = self._unrecorded.get((height, slot))
        return unrecorded if unrecorded is not None else self._recorded_at(height).get(slot)

    def _recorded_at(self, height: int) -> dict[bytes, bytes]:
        """The durable records at ``height``, read from the log once per height: what a run
        before a crash left is there, and every later record passes through this guard. One read
        per height rather than one per signature spares LMDB calls, each a release of the GIL."""
        if height != self._recorded_height:
            self._recorded = dict(self._log.signed_records(height))
            self._recorded_height = height
        return self._recorded

    def has_signing_record(self, head_height: int) -> bool:
        """Whether the log holds what this validator signed lately: a record at the height after
        ``head_height`` or one of the heights below it that the log keeps (at least
        ``SIGNED_HEIGHTS_KEPT`` below the last signed). False after losing the whole log or its
        signing records, and for a validator that signed nothing lately: the core then watches
        before it signs (docs/consensus.md, rule 11), a needless wait at worst."""
        lowest = max(1, head_height + 1 - 2 * SIGNED_HEIGHTS_KEPT)
        return any(self._log.signed_records(h) for h in range(head_height + 1, lowest - 1, -1))

    def lock_at(self, height: int) -> LockProof | None:
        """The lock proof kept with this validator's latest precommit for a block at
        ``height``: the lock it held there, which a restart must not forget."""
        latest: tuple[int, bytes] | None = None
        for slot, record in self._log.signed_records(height):
            if slot[:1] != _VOTE_SLOTS[Domain.PRECOMMIT]:
                continue
            _, body, proof = _unpack(record)
            vote = decode_vote(body)
            if vote.block_hash and proof and (latest is None or vote.round > latest[0]):
                latest = (vote.round, proof)
        return None if latest is None else decode_lock_proof(latest[1])

    def _sign_proposal(self, body: bytes) -> tuple[bytes, bytes] | None:
        head = _PROPOSAL_HEAD.decode(body)
        slot = b"P" + head.round.to_bytes(4, "big")
        digest = hashlib.sha256(body).digest()
        earlier = self._earlier(head.height, slot)
        if earlier is None:
            self._unrecorded[(head.height, slot)] = digest
        elif earlier != digest:
            log.warning(
                "refusing a second, different proposal for height %d round %d",
                head.height,
                head.round,
                extra={"height": head.height},
            )
            return None
        return body, self._signature(Domain.PROPOSAL, body)

    def _signature(self, domain: Domain, body: bytes) -> bytes:
        return self._identity.sign(domain, self._chain_id, body)
