"""The genesis as a TOML file: what the organisations agree on, sign off and hand every node.

The file is the ``Genesis`` struct field by field (validators, participants, tokens, workflows
as arrays of tables); byte strings (the Ed25519 public keys) are written in hex. Reading goes
through ``msgspec.convert``, so a wrong or missing field is named with its path; the hash of the
genesis read back equals the hash of the genesis written, so every node computes the same chain.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi

from consortium.events.errors import ConsortiumError
from consortium.events.genesis import Genesis, GenesisParticipant, GenesisValidator, TokenDefinition
from consortium.key_file import HOST_ROLE, VALIDATOR_ROLE, PublicKeyInfo
from consortium.toml_writer import dumps

HEADER = """Consortium genesis: every validator of the chain must start from this exact file.
Public keys are Ed25519, in hex; validators are numbered in the order listed, from 0."""


class GenesisFileError(ConsortiumError):
    """A genesis file that cannot be read or does not describe a genesis."""


def build_genesis(
    chain_id: str,
    genesis_time_ms: int,
    keys: Sequence[PublicKeyInfo],
    tokens: Sequence[tuple[str, str]] = (),
) -> Genesis:
    """A genesis whose validators are the ``validator`` keys in the order given, and whose
    participants are the other keys (host keys excepted: they only open connections)."""
    if not chain_id.strip():
        raise GenesisFileError("the chain id is empty; give the chain a name (--chain-id)")
    seen: set[bytes] = set()
    for key in keys:
        if key.public_key in seen:
            raise GenesisFileError(f"the key of {key.name!r} is listed twice")
        seen.add(key.public_key)
    validators = tuple(
        GenesisValidator(k.name, k.organisation, k.public_key)
        for k in keys
        if k.role == VALIDATOR_ROLE
    )
    if not validators:
        raise GenesisFileError("no validator key given; create them with keygen --role validator")
    participants = tuple(
        GenesisParticipant(k.name, k.organisation, k.role, k.public_key)
        for k in keys
        if k.role not in (VALIDATOR_ROLE, HOST_ROLE)
    )
    organisations = {k.organisation for k in keys}
    unknown = sorted(org for _, org in tokens if org not in organisations)
    if unknown:
        raise GenesisFileError(f"tokens name organisations without a key: {unknown}")
    return Genesis(
        chain_id=chain_id,
        genesis_time_ms=genesis_time_ms,
        validators=validators,
        participants=participants,
        tokens=tuple(TokenDefinition(symbol, org) for symbol, org in tokens),
    )


def genesis_toml(genesis: Genesis) -> str:
    return dumps(_to_toml(genesis), HEADER)


def write_genesis(path: Path, genesis: Genesis) -> None:
    """Write the genesis; it is checked to read back to the same hash first."""
    text = genesis_toml(genesis)
    if parse_genesis(text).hash != genesis.hash:
        raise GenesisFileError("the genesis does not survive TOML; this is a bug, report it")
    path.write_text(text, encoding="utf-8")


def parse_genesis(text: str) -> Genesis:
    try:
        data = tomllib.loads(text)
        return msgspec.convert(_from_toml(data, mi.type_info(Genesis)), Genesis)
    except (tomllib.TOMLDecodeError, msgspec.ValidationError, ValueError) as exc:
        raise GenesisFileError(
            f"not a valid genesis: {exc}; fix the field named, or write the file again with "
            "consortium genesis"
        ) from exc


def read_genesis(path: Path) -> Genesis:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GenesisFileError(
            f"cannot read genesis file {path}: {exc.strerror}; check the path (relative paths "
            "in a config are taken from the config file's directory)"
        ) from None
    return parse_genesis(text)


def _to_toml(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, msgspec.Struct):
        return {f: _to_toml(getattr(value, f)) for f in value.__struct_fields__}
    if isinstance(value, tuple | list):
        return [_to_toml(v) for v in value]
    return value


def _from_toml(value: Any, kind: mi.Type) -> Any:
    """Turn the hex strings back into bytes wherever the Genesis type has bytes."""
    if isinstance(kind, mi.BytesType) and isinstance(value, str):
        return bytes.fromhex(value)
    if isinstance(kind, mi.StructType) and isinstance(value, dict):
        fields = {f.encode_name: f.type for f in kind.fields}
        return {k: _from_toml(v, fields[k]) if k in fields else v for k, v in value.items()}
    if isinstance(kind, mi.VarTupleType | mi.ListType) and isinstance(value, list):
        return [_from_toml(v, kind.item_type) for v in value]
    return value
