"""Domain-separated Ed25519 signing.

Every signature covers ``domain || len(chain_id) || chain_id || body`` so a signature made for one
chain, or for one kind of message, never verifies as another. Verification always uses the bytes
that were received; nothing is re-encoded to be checked.
"""

from __future__ import annotations

import enum

import nacl.bindings
import nacl.exceptions


class Domain(bytes, enum.Enum):
    """What a signature is for; part of every signed message."""

    EVENT = b"consortium/event/v1"
    PROPOSAL = b"consortium/proposal/v1"
    PREVOTE = b"consortium/prevote/v1"
    PRECOMMIT = b"consortium/precommit/v1"


def signing_bytes(domain: Domain, chain_id: str, body: bytes) -> bytes:
    chain = chain_id.encode()
    return domain.value + b"\x00" + len(chain).to_bytes(2, "big") + chain + body


def verify_signature(
    public_key: bytes, signature: bytes, domain: Domain, chain_id: str, body: bytes
) -> bool:
    """True when ``signature`` is ``public_key``'s over this domain, chain and body.

    libsodium's strict verification (canonical S, no small-order keys) is the only verifier used,
    so every validator makes the same decision on the same bytes.
    """
    if len(public_key) != 32 or len(signature) != 64:
        return False
    try:
        nacl.bindings.crypto_sign_open(
            signature + signing_bytes(domain, chain_id, body), public_key
        )
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError):
        return False
    return True
