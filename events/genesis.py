"""The genesis description: the chain id, the validator set and the founding organisations.

Every validator starts from the same genesis; its hash is stored in every log, so two logs of
different consortia are never confused.
"""

from __future__ import annotations

import hashlib

import msgspec

from consortium.events.codec import BoundedDecoder, encode
from consortium.events.workflow import WorkflowSpec


class GenesisValidator(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    name: str
    organisation: str
    public_key: bytes


class GenesisParticipant(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    name: str
    organisation: str
    role: str
    public_key: bytes


class TokenDefinition(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    """A token and the organisation whose issuers may create it."""

    symbol: str
    organisation: str


class Genesis(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    chain_id: str
    genesis_time_ms: int
    validators: tuple[GenesisValidator, ...]
    participants: tuple[GenesisParticipant, ...] = ()
    tokens: tuple[TokenDefinition, ...] = ()
    workflows: tuple[WorkflowSpec, ...] = ()

    @property
    def validator_keys(self) -> tuple[bytes, ...]:
        return tuple(v.public_key for v in self.validators)

    @property
    def hash(self) -> bytes:
        return hashlib.sha256(encode(self)).digest()


_GENESIS: BoundedDecoder[Genesis] = BoundedDecoder(Genesis, 16 * 1024 * 1024, "genesis")


def decode_genesis(data: bytes) -> Genesis:
    return _GENESIS.decode(data)
