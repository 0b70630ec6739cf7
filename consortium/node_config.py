"""The config files of a networked deployment: one per validator node, one per remote host.

A node file (``[node]``, ``[peers]``, optional ``[ledger]``) says where the node keeps its log,
where it listens, how to reach the other validators (by their index in the genesis) and which
host keys may connect as clients; a client file (``[client]``) says which validator a host talks
to. Relative paths are taken from the config file's directory. Unknown keys are refused, so a
typo never silently falls back to a default.
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
from consortium.toml_writer import dumps


class ConfigError(ConsortiumError):
    """A config file that cannot be read or has wrong or unknown settings."""


class _NodeSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    genesis: str
    key_file: str
    data_dir: str
    listen: str
    client_keys: tuple[str, ...] = ()


class _NodeFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    node: _NodeSection
    peers: dict[str, str] = {}
    ledger: dict[str, Any] = {}


class _ClientSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    genesis: str
    key_file: str
    validator: int
    address: str


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


_LEDGER_FIELDS = frozenset(f.name for f in dataclasses.fields(ConsortiumConfig))


def load_config(path: Path) -> NodeConfig | ClientConfig:
    """Read a node file or a client file, whichever ``path`` is."""
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
                base / client.genesis, base / client.key_file, client.validator, client.address
            )
        return _node_config(msgspec.convert(data, _NodeFile), base)
    except (msgspec.ValidationError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


def load_node_config(path: Path) -> NodeConfig:
    config = load_config(path)
    if not isinstance(config, NodeConfig):
        raise ConfigError(f"{path} is a client config, not a node config")
    return config


def _node_config(file: _NodeFile, base: Path) -> NodeConfig:
    unknown = sorted(set(file.ledger) - _LEDGER_FIELDS)
    if unknown:
        raise ValueError(f"unknown [ledger] settings {unknown}; known: {sorted(_LEDGER_FIELDS)}")
    node = file.node
    return NodeConfig(
        genesis_file=base / node.genesis,
        key_file=base / node.key_file,
        data_dir=base / node.data_dir,
        listen=node.listen,
        peers={int(index): address for index, address in file.peers.items()},
        client_keys=tuple(bytes.fromhex(k) for k in node.client_keys),
        ledger=msgspec.convert(file.ledger, ConsortiumConfig),
    )


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
