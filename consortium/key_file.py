"""Key files: an organisation's Ed25519 signing key on disk, and the public half it shares.

The secret file is created with mode 0600 (never group- or world-readable, refused on read if
it has become so, as ssh does) and its seed is never logged or printed: errors name the file and
the problem only. The public file (``FILE.pub``) holds the same name, organisation, role and
public key without the seed; it is what the organisation sends to whoever assembles the genesis.
``consortium genesis`` reads either kind, since both carry the public fields.

A secret file may hold its seed sealed under a passphrase instead of in clear: libsodium's
secretbox (XSalsa20-Poly1305) keyed by Argon2id (``nacl.pwhash``) over the passphrase and a
random salt, the KDF limits written beside them so that they can be raised later. A wrong
passphrase fails the box's authentication, so it is told apart from a damaged file only as
"cannot open". A loader given no passphrase takes it from ``CONSORTIUM_KEY_PASSPHRASE``, so a
node started by a service manager needs no prompt.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.signing
import nacl.utils

from consortium.events.errors import ConsortiumError
from consortium.events.identity import Identity
from consortium.toml_writer import dumps

SEED_BYTES = 32
KEY_BYTES = 32
VALIDATOR_ROLE = "validator"
PASSPHRASE_ENV = "CONSORTIUM_KEY_PASSPHRASE"
_KDF = nacl.pwhash.argon2id
HOST_ROLE = "host"
"""A key a host uses to connect to a validator (listed in the node's ``client_keys``)."""


class KeyFileError(ConsortiumError):
    """A key file that is missing, malformed, or readable by others."""


@dataclass(frozen=True, slots=True)
class PublicKeyInfo:
    """What a key file says about its key, without the secret."""

    name: str
    organisation: str
    role: str
    public_key: bytes


def public_path_for(secret_path: Path) -> Path:
    """``keys/north.key`` -> ``keys/north.pub``; ``keys/north`` -> ``keys/north.pub``."""
    return secret_path.with_suffix(".pub")


def write_key_pair(
    path: Path, name: str, role: str, organisation: str, passphrase: str | None = None
) -> tuple[Path, Identity]:
    """Generate a key; write ``path`` (secret, 0600; the seed sealed under ``passphrase`` if
    one is given) and its ``.pub``; never overwrite either.

    Returns the public file's path and the identity.
    """
    if path.suffix == ".pub":
        raise KeyFileError(f"{path}: the secret key file must not end in .pub; use e.g. NAME.key")
    for label, value in (("name", name), ("organisation", organisation), ("role", role)):
        if not value.strip():
            raise KeyFileError(f"the key's {label} is empty; give it a non-empty {label}")
    public_path = public_path_for(path)
    for existing in (path, public_path):
        if existing.exists():
            raise KeyFileError(
                f"{existing} exists; refusing to overwrite a key (choose another --out)"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    identity = Identity(name, nacl.signing.SigningKey.generate())
    info = PublicKeyInfo(name, organisation, role, identity.public_key)
    _write_secret(path, identity, info, passphrase)
    public_path.write_text(
        dumps(_public_fields(info), "Ed25519 public key; share it freely."), "utf-8"
    )
    return public_path, identity


def _public_fields(info: PublicKeyInfo) -> dict[str, str]:
    return {
        "name": info.name,
        "organisation": info.organisation,
        "role": info.role,
        "public_key": info.public_key.hex(),
    }


def _write_secret(
    path: Path, identity: Identity, info: PublicKeyInfo, passphrase: str | None
) -> None:
    """Create ``path`` with mode 0600 from the start (O_EXCL: fails if it exists)."""
    seed = bytes(identity.signing_key)
    secret = {"seed": seed.hex()} if passphrase is None else _seal(seed, passphrase)
    text = dumps(
        {**_public_fields(info), **secret},
        f"Ed25519 signing key of {info.name!r}. SECRET: keep this file mode 0600.",
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def _seal(seed: bytes, passphrase: str) -> dict[str, str | int]:
    if not passphrase:
        raise KeyFileError("the passphrase is empty; give one, or none for a clear key file")
    salt = nacl.utils.random(_KDF.SALTBYTES)
    opslimit, memlimit = _KDF.OPSLIMIT_INTERACTIVE, _KDF.MEMLIMIT_INTERACTIVE
    key = _KDF.kdf(
        nacl.secret.SecretBox.KEY_SIZE, passphrase.encode(), salt, opslimit, memlimit
    )
    return {
        "kdf": "argon2id",
        "salt": salt.hex(),
        "opslimit": opslimit,
        "memlimit": memlimit,
        "sealed_seed": bytes(nacl.secret.SecretBox(key).encrypt(seed)).hex(),
    }


def _open_sealed(path: Path, data: dict[str, object], passphrase: str | None) -> bytes:
    if passphrase is None:
        passphrase = os.environ.get(PASSPHRASE_ENV)
    if passphrase is None:
        raise KeyFileError(
            f"{path} is sealed under a passphrase; give it (set {PASSPHRASE_ENV})"
        )
    if data.get("kdf") != "argon2id":
        raise KeyFileError(f"{path}: unknown kdf {data.get('kdf')!r}; expected 'argon2id'")
    key = _KDF.kdf(
        nacl.secret.SecretBox.KEY_SIZE,
        passphrase.encode(),
        bytes.fromhex(str(data["salt"])),
        int(str(data["opslimit"])),
        int(str(data["memlimit"])),
    )
    try:
        return nacl.secret.SecretBox(key).decrypt(bytes.fromhex(str(data["sealed_seed"])))
    except nacl.exceptions.CryptoError:
        raise KeyFileError(
            f"{path}: cannot open the sealed key: wrong passphrase (or a damaged file)"
        ) from None


def read_secret_key(path: Path | str, passphrase: str | None = None) -> Identity:
    """The identity in a secret key file; KeyFileError if it is unreadable, malformed, a public
    ``.pub`` file, or readable by group or others. A sealed file is opened with
    ``passphrase``, or else ``$CONSORTIUM_KEY_PASSPHRASE``."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text("utf-8"))
        sealed = "sealed_seed" in data
        if "seed" not in data and not sealed and "public_key" in data:
            raise KeyFileError(
                f"{path} is a public key file (no secret seed); name the secret file that "
                f"consortium keygen wrote beside it ({path.with_suffix('.key').name})"
            )
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(
                f"{path} is readable by others (mode {stat.S_IMODE(mode):o}); "
                f"run: chmod 600 {path}"
            )
        seed = _open_sealed(path, data, passphrase) if sealed else bytes.fromhex(data["seed"])
        if len(seed) != SEED_BYTES:
            raise ValueError(f"seed must be {SEED_BYTES} bytes")
        identity = Identity(str(data["name"]), nacl.signing.SigningKey(seed))
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, KeyError, ValueError, TypeError) as exc:
        # The message names the file and the kind of problem, never the contents.
        raise KeyFileError(
            f"{path} is not a secret key file ({type(exc).__name__}); "
            "create one with: consortium keygen"
        ) from None
    if "public_key" in data and data["public_key"] != identity.public_key.hex():
        raise KeyFileError(f"{path}: public_key does not belong to the seed; the file is damaged")
    return identity


def read_public_key(path: Path, *, secret_allowed: bool = True) -> PublicKeyInfo:
    """The public fields of a public or secret key file; with ``secret_allowed=False`` a
    secret file is refused (it should not travel to whoever assembles the genesis)."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
        if not secret_allowed and ("seed" in data or "sealed_seed" in data):
            raise KeyFileError(
                f"{path} is a SECRET key file; pass its public file "
                f"{public_path_for(path).name} instead, and keep the secret one where it is"
            )
        key = bytes.fromhex(data["public_key"])
        if len(key) != KEY_BYTES:
            raise ValueError(f"public_key must be {KEY_BYTES} bytes")
        return PublicKeyInfo(
            str(data["name"]), str(data["organisation"]), str(data["role"]), key
        )
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, KeyError, ValueError, TypeError) as exc:
        raise KeyFileError(
            f"{path} is not a key file written by consortium keygen "
            f"({type(exc).__name__}: {exc})"
        ) from None
