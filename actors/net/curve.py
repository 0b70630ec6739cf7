"""CurveZMQ keys derived from the Ed25519 identities the genesis already names.

Every validator is known by its Ed25519 public key; its X25519 key (the birational map libsodium
implements) is what CurveZMQ authenticates. So no second set of keys has to be distributed, and
a peer that completes the Curve handshake holds the signing key of a genesis validator.
"""

from __future__ import annotations

import nacl.signing
from zmq.utils import z85

from consortium.events.identity import Identity


def curve_secret_key(identity: Identity) -> bytes:
    """The Z85 CurveZMQ secret key of ``identity``; never log or store it."""
    return z85.encode(bytes(identity.signing_key.to_curve25519_private_key()))


def curve_public_key(ed25519_public_key: bytes) -> bytes:
    """The Z85 CurveZMQ public key of the holder of ``ed25519_public_key``."""
    verify_key = nacl.signing.VerifyKey(ed25519_public_key)
    return z85.encode(bytes(verify_key.to_curve25519_public_key()))


def raw_curve_public_key(ed25519_public_key: bytes) -> bytes:
    """The same key as 32 raw bytes: what a ZAP request carries."""
    return z85.decode(curve_public_key(ed25519_public_key))
