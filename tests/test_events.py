"""Signed envelopes: domain separation, co-signing, and typed errors for bad bytes."""

from __future__ import annotations

import msgspec
import pytest

from consortium.events.codec import encode
from consortium.events.envelope import (
    MAX_EVENT_BYTES,
    Envelope,
    add_signatures,
    decode_body,
    decode_envelope,
    event_id,
    first_bad_signer,
    seal,
)
from consortium.events.errors import MalformedError
from consortium.events.identity import Identity
from consortium.events.payments import Transfer
from consortium.events.signing import Domain, verify_signature

ALICE = Identity.from_seed("alice", b"alice")
BOB = Identity.from_seed("bob", b"bob")


def _transfer() -> Transfer:
    return Transfer(author=ALICE.public_key, seq=1, token="EUR", to=BOB.public_key, amount=5)


def test_signature_for_one_chain_does_not_verify_on_another() -> None:
    envelope = decode_envelope(seal(_transfer(), "chain-a", [ALICE]))
    assert first_bad_signer(envelope, "chain-a") is None
    assert first_bad_signer(envelope, "chain-b") == ALICE.public_key


def test_signature_for_one_message_kind_does_not_verify_as_another() -> None:
    body = b"the same bytes"
    signature = ALICE.sign(Domain.PREVOTE, "chain", body)
    assert verify_signature(ALICE.public_key, signature, Domain.PREVOTE, "chain", body)
    for other in (Domain.PRECOMMIT, Domain.PROPOSAL, Domain.EVENT):
        assert not verify_signature(ALICE.public_key, signature, other, "chain", body)


def test_chain_id_prefix_is_length_delimited() -> None:
    signature = ALICE.sign(Domain.EVENT, "ab", b"c")
    assert not verify_signature(ALICE.public_key, signature, Domain.EVENT, "a", b"bc")


def test_cosignature_covers_the_same_body_bytes() -> None:
    envelope_bytes = add_signatures(seal(_transfer(), "c", [ALICE]), "c", [BOB])
    envelope = decode_envelope(envelope_bytes)
    assert [s.signer for s in envelope.signatures] == [ALICE.public_key, BOB.public_key]
    assert first_bad_signer(envelope, "c") is None
    assert decode_body(envelope.body) == _transfer()


def test_tampered_body_fails_verification() -> None:
    envelope = decode_envelope(seal(_transfer(), "c", [ALICE]))
    body = bytearray(envelope.body)
    body[-1] ^= 1
    tampered = Envelope(bytes(body), envelope.signatures)
    assert first_bad_signer(tampered, "c") == ALICE.public_key


def test_event_id_is_sha256_of_the_envelope_bytes() -> None:
    import hashlib

    data = seal(_transfer(), "c", [ALICE])
    assert event_id(data) == hashlib.sha256(data).digest()


@pytest.mark.parametrize(
    "data",
    [b"", b"\xc1", b"\x93\x01\x02\x03", b"\x92\xc4\x01x\x91\x01", bytes(range(256))],
)
def test_malformed_envelopes_raise_a_typed_error(data: bytes) -> None:
    with pytest.raises(MalformedError):
        decode_envelope(data)


def test_oversized_input_is_refused_before_decoding() -> None:
    with pytest.raises(MalformedError, match="exceeds limit"):
        decode_envelope(b"\x00" * (MAX_EVENT_BYTES + 1))


def test_deep_nesting_is_refused_without_recursion() -> None:
    nested = b"\x91" * 100_000 + b"\x00"
    with pytest.raises(MalformedError):
        decode_envelope(nested)
    with pytest.raises(MalformedError):
        decode_body(nested[:MAX_EVENT_BYTES])


def test_unknown_event_type_names_the_problem() -> None:
    body = msgspec.msgpack.encode({"type": "no.such.event", "author": bytes(32), "seq": 1})
    with pytest.raises(MalformedError, match=r"no\.such\.event"):
        decode_body(body)


def test_body_with_bad_author_or_sequence_is_malformed() -> None:
    with pytest.raises(MalformedError, match="author"):
        decode_body(encode(Transfer(author=b"short", seq=1, token="E", to=b"", amount=1)))
    with pytest.raises(MalformedError, match="seq"):
        decode_body(encode(Transfer(author=bytes(32), seq=0, token="E", to=b"", amount=1)))


def test_a_tag_that_is_not_utf8_is_malformed_not_a_crash() -> None:
    """Found by the simulator (byzantine mix, seed 2): msgspec raises UnicodeDecodeError here."""
    from consortium.events.wire import decode_peer_message

    with pytest.raises(MalformedError):
        decode_peer_message(b"\x92\xa8prop\xb0sal" + bytes(8))
