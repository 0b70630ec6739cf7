"""Signed envelopes: the exact body bytes plus the signatures over them.

The envelope keeps the body as the bytes that were signed, so a decoder of another version can
never change what is verified. The event id is the SHA-256 of the whole envelope as received.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import msgspec

from consortium.events.body import EventBody
from consortium.events.codec import BoundedDecoder, encode
from consortium.events.errors import MalformedError
from consortium.events.identity import Identity
from consortium.events.registry import EVENT_BODY_TYPES, EventBodyUnion
from consortium.events.signing import Domain, verify_signature

MAX_EVENT_BYTES = 64 * 1024
MAX_SIGNATURES = 16


class Signature(msgspec.Struct, frozen=True, gc=False, array_like=True, forbid_unknown_fields=True):
    signer: bytes
    signature: bytes


class Envelope(msgspec.Struct, frozen=True, gc=False, array_like=True, forbid_unknown_fields=True):
    """``body`` is the signed body bytes; ``signatures[0]`` is the author's."""

    body: bytes
    signatures: tuple[Signature, ...]


_ENVELOPE: BoundedDecoder[Envelope] = BoundedDecoder(Envelope, MAX_EVENT_BYTES, "envelope")
_BODY: BoundedDecoder[EventBody] = BoundedDecoder(EventBodyUnion, MAX_EVENT_BYTES, "event body")


def event_id(envelope_bytes: bytes) -> bytes:
    return hashlib.sha256(envelope_bytes).digest()


def encode_body(body: EventBody) -> bytes:
    if type(body) not in EVENT_BODY_TYPES:
        raise TypeError(f"{type(body).__name__} is not a registered event body")
    return encode(body)


def seal(body: EventBody, chain_id: str, signers: Sequence[Identity]) -> bytes:
    """Encode, sign by every signer (the author first) and return the envelope bytes."""
    body_bytes = encode_body(body)
    return encode(Envelope(body_bytes, _signatures(body_bytes, chain_id, signers)))


def add_signatures(envelope_bytes: bytes, chain_id: str, signers: Sequence[Identity]) -> bytes:
    """Co-sign: append signatures over the unchanged body bytes of an existing envelope."""
    envelope = decode_envelope(envelope_bytes)
    added = _signatures(envelope.body, chain_id, signers)
    return encode(Envelope(envelope.body, envelope.signatures + added))


def _signatures(
    body_bytes: bytes, chain_id: str, signers: Sequence[Identity]
) -> tuple[Signature, ...]:
    return tuple(
        Signature(s.public_key, s.sign(Domain.EVENT, chain_id, body_bytes)) for s in signers
    )


def decode_envelope(data: bytes) -> Envelope:
    envelope = _ENVELOPE.decode(data)
    if len(envelope.signatures) > MAX_SIGNATURES:
        raise MalformedError(
            f"envelope: {len(envelope.signatures)} signatures, max {MAX_SIGNATURES}"
        )
    return envelope


def decode_body(body_bytes: bytes) -> EventBody:
    body = _BODY.decode(body_bytes)
    if len(body.author) != 32:
        raise MalformedError("event body: `author` must be a 32-byte Ed25519 public key")
    if body.seq < 1:
        raise MalformedError("event body: `seq` must be >= 1")
    return body


def first_bad_signer(envelope: Envelope, chain_id: str) -> bytes | None:
    """The first signer whose signature fails, or None when all verify."""
    for sig in envelope.signatures:
        if not verify_signature(sig.signer, sig.signature, Domain.EVENT, chain_id, envelope.body):
            return sig.signer
    return None


def signers(envelope: Envelope) -> tuple[bytes, ...]:
    return tuple(s.signer for s in envelope.signatures)


class DecodedEvent(msgspec.Struct, frozen=True, gc=False):
    """An envelope's body and signer keys, decoded once at intake and reused by execution."""

    body: EventBody
    signers: tuple[bytes, ...]


def decode_event(envelope_bytes: bytes) -> tuple[Envelope, DecodedEvent]:
    """Decode an envelope and its body; MalformedError names what is wrong."""
    envelope = decode_envelope(envelope_bytes)
    return envelope, DecodedEvent(decode_body(envelope.body), signers(envelope))
