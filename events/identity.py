"""Identities: an Ed25519 key pair with the name the consortium knows it by."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import nacl.signing

from consortium.events.signing import Domain, signing_bytes


@dataclass(frozen=True, slots=True)
class Identity:
    """A party's private signing identity; only its public key ever leaves the process."""

    name: str
    signing_key: nacl.signing.SigningKey

    @classmethod
    def generate(cls, name: str) -> Identity:
        return cls(name, nacl.signing.SigningKey.generate())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Identity:
        """A reproducible identity: demos and tests get the same keys on every run."""
        return cls(name, nacl.signing.SigningKey(hashlib.sha256(seed).digest()))

    @property
    def public_key(self) -> bytes:
        return bytes(self.signing_key.verify_key)

    def sign(self, domain: Domain, chain_id: str, body: bytes) -> bytes:
        return self.signing_key.sign(signing_bytes(domain, chain_id, body)).signature

    def __repr__(self) -> str:
        return f"Identity({self.name!r}, {self.public_key.hex()[:16]}…)"
