"""The config files of a networked deployment: one per validator node, one per remote host.

A node file (``[node]``, ``[peers]``, optional ``[ledger]``) says where the node keeps its log,
where it listens (and optionally where it serves metrics), how to reach the other validators (by
their index in the genesis) and which host keys may connect as clients; a client file
(``[client]``) says which validator a host talks to. Relative paths are taken from the config
file's directory. Unknown keys are refused, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from consortium.config import ConsortiumConfig
from consortium.events.errors import ConsortiumError
from consortium.events.genesis import Genesis
from consortium.events.identity import Identity
from consortium.key_file import KEY_BYTES
from consortium.toml_writer import dumps


class ConfigError(ConsortiumError):
    """A config file that cannot be read or has wrong or unknown settings."""


class _NodeSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    genesis: str
    key_file: str
    data_dir: str
    listen: str
    client_keys: tuple[str, ...] = ()
    metrics: str | None = None


class _NodeFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    node: _NodeSection
    peers: dict[str, str] = {}
    ledger: dict[str, Any] = {}


class _Fallback(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    validator: int
    address: str


class _ClientSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    genesis: str
    key_file: str
    validator: int
    address: str
    fallbacks: tuple[_Fallback, ...] = ()


class _ClientFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    client: _ClientSection


@dataclass(frozen=True, slots=True)
class NodeConfig:
    genesis_file: Path
    key_file: Path
    data_dir: Path
    """The validator's log is ``data_dir/validator-<index>``, as in the embedded mode."""
    listen: str
    peers: dict[int, str]
    client_keys: tuple[bytes, ...]
    ledger: ConsortiumConfig


@dataclass(frozen=True, slots=True)
class ClientConfig:
    genesis_file: Path
    key_file: Path
    validator: int
    address: str
    fallbacks: tuple[tuple[int, str], ...] = ()
    """Further validators this host trusts, ``(validator, address)``, in the order it moves to
    them when the current one stops answering."""


_NODE_LEVEL = frozenset({"metrics"})
"""ConsortiumConfig fields a node file sets under ``[node]``: they are about the process."""
_LEDGER_FIELDS = frozenset(f.name for f in dataclasses.fields(ConsortiumConfig)) - _NODE_LEVEL


def load_config(path: Path | str) -> NodeConfig | ClientConfig:
    """Read a node file or a client file, whichever ``path`` is."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot read config {path}: {exc.strerror}; check the path (the README's "
            "'Running across machines' shows a node config)"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}; fix that line") from None
    base = path.parent
    try:
        if "client" in data:
            client = msgspec.convert(data, _ClientFile).client
            return ClientConfig(
                base / client.genesis,
                base / client.key_file,
                client.validator,
                client.address,
                tuple((f.validator, f.address) for f in client.fallbacks),
            )
        return _node_config(msgspec.convert(data, _NodeFile), base)
    except (msgspec.ValidationError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


def load_node_config(path: Path | str) -> NodeConfig:
    path = Path(path)
    config = load_config(path)
    if not isinstance(config, NodeConfig):
        raise ConfigError(f"{path} is a client config, not a node config")
    return config


def _node_config(file: _NodeFile, base: Path) -> NodeConfig:
    unknown = sorted(set(file.ledger) - _LEDGER_FIELDS)
    if unknown and set(unknown) <= _NODE_LEVEL:
        raise ValueError(f"ledger.{unknown[0]}: {unknown[0]} belongs under [node]")
    if unknown:
        raise ValueError(f"unknown [ledger] settings {unknown}; known: {sorted(_LEDGER_FIELDS)}")
    node = file.node
    return NodeConfig(
        genesis_file=base / node.genesis,
        key_file=base / node.key_file,
        data_dir=base / node.data_dir,
        listen=node.listen,
        peers={_peer_index(index): address for index, address in file.peers.items()},
        client_keys=tuple(_client_key(i, k) for i, k in enumerate(node.client_keys)),
        ledger=_ledger(file.ledger, node.metrics),
    )


def _ledger(table: dict[str, Any], metrics: str | None) -> ConsortiumConfig:
    """The ``[ledger]`` table as a ConsortiumConfig; its own checks name the bad field, here
    with the table's name in front."""
    try:
        config = msgspec.convert(table, ConsortiumConfig)
    except msgspec.ValidationError as exc:
        message = str(exc)  # a type error names its path ($.x); a check names its field first
        raise ValueError(
            message.replace("`$.", "`ledger.") if "`$." in message else f"ledger.{message}"
        ) from None
    try:
        return dataclasses.replace(config, metrics=metrics)
    except ValueError as exc:
        raise ValueError(f"node.{exc}") from None


def _peer_index(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(
            f"peers.{text}: a peer is named by its validator index in the genesis (0, 1, ...)"
        ) from None


def _client_key(position: int, text: str) -> bytes:
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise ValueError(
            f"node.client_keys[{position}] is not a {KEY_BYTES}-byte public key in hex; copy "
            "the public_key line of the host's .pub file"
        )
    return key


def check_against_genesis(config: NodeConfig, genesis: Genesis, identity: Identity) -> int:
    """This node's validator index; ConfigError if the config and the genesis disagree: the
    key is not a validator's, a ``[peers]`` index is not a validator, or a validator other than
    this node has no address (it could never be reached)."""
    try:
        index = genesis.validator_keys.index(identity.public_key)
    except ValueError:
        raise ConfigError(
            f"node.key_file {config.key_file}: its key is not a validator of chain "
            f"{genesis.chain_id!r}; use the key file of a validator that {config.genesis_file} "
            "names (its public key is listed under [[validators]])"
        ) from None
    n = len(genesis.validators)
    unknown = sorted(i for i in config.peers if not 0 <= i < n)
    if unknown:
        raise ConfigError(
            f"peers.{unknown[0]}: the genesis has validators 0..{n - 1} only; remove it or fix "
            "the index"
        )
    missing = sorted(i for i in range(n) if i != index and i not in config.peers)
    if missing:
        raise ConfigError(
            f"[peers] has no address for validator(s) {missing} "
            f"({', '.join(genesis.validators[i].name for i in missing)}); add a line "
            f"'{missing[0]} = \"tcp://HOST:PORT\"' for each"
        )
    return index


def node_config_toml(
    *,
    genesis: str,
    key_file: str,
    data_dir: str,
    listen: str,
    peers: Mapping[int, str],
    client_keys: tuple[bytes, ...] = (),
    ledger: Mapping[str, Any] | None = None,
) -> str:
    """A node file; paths are written as given (relative ones are from the file's directory)."""
    node = {
        "genesis": genesis,
        "key_file": key_file,
        "data_dir": data_dir,
        "listen": listen,
        "client_keys": [k.hex() for k in client_keys],
    }
    table: dict[str, Any] = {"node": node, "peers": {str(i): a for i, a in sorted(peers.items())}}
    if ledger:
        table["ledger"] = dict(ledger)
    return dumps(
        table,
        "Consortium validator node: consortium node --config THIS_FILE\n"
        "[peers]: every validator's address by its index in the genesis (this node's own is "
        "ignored).",
    )


def client_config_toml(*, genesis: str, key_file: str, validator: int, address: str) -> str:
    client = {"genesis": genesis, "key_file": key_file, "validator": validator, "address": address}
    return dumps({"client": client}, "Consortium remote host: the validator it submits to.")
