"""Encryption for private data: symmetric data keys, sealed to readers' X25519 keys.

Every identity's Ed25519 key converts to an X25519 key (pynacl), so no second key pair is
needed: a data key sealed with ``nacl.public.SealedBox`` to a participant's public key can be
opened only with that participant's signing key.
"""

from __future__ import annotations

import nacl.bindings
import nacl.public
import nacl.secret
import nacl.utils

from consortium.events.identity import Identity


def new_data_key() -> bytes:
    return nacl.utils.random(nacl.secret.SecretBox.KEY_SIZE)


def encrypt(data_key: bytes, plaintext: bytes) -> bytes:
    return bytes(nacl.secret.SecretBox(data_key).encrypt(plaintext))


def decrypt(data_key: bytes, ciphertext: bytes) -> bytes:
    return nacl.secret.SecretBox(data_key).decrypt(ciphertext)


def seal_to(reader_public_key: bytes, data_key: bytes) -> bytes:
    """``data_key`` sealed to the holder of Ed25519 public key ``reader_public_key``."""
    curve = nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(reader_public_key)
    return bytes(nacl.public.SealedBox(nacl.public.PublicKey(curve)).encrypt(data_key))


def unseal(reader: Identity, sealed: bytes) -> bytes:
    private = reader.signing_key.to_curve25519_private_key()
    return nacl.public.SealedBox(private).decrypt(sealed)
