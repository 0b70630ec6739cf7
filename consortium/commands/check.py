"""``consortium check CONFIG``: a node or host config and its genesis, checked against each
other before anything starts, with the failing field named."""

from __future__ import annotations

import argparse
from pathlib import Path
from urllib.parse import urlsplit

from consortium.commands import Commands


def register(commands: Commands) -> None:
    check = commands.add_parser(
        "check",
        help="validate a node or client config against its genesis and key file",
        description="Reads the config, its genesis and its key file and checks that they fit: "
        "the key is a validator of the genesis (node) and may be read, every other validator "
        "has a peer address and no peer index is outside the genesis, client keys are 32-byte "
        "hex keys, [ledger] settings are valid; for a client config, that the validator index "
        "is in the genesis. Exits 0 when all holds, 2 naming the first field that does not.",
        epilog="example: consortium check node.toml",
    )
    check.add_argument("configs", nargs="+", type=Path, metavar="CONFIG")
    check.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    for path in args.configs:
        print(f"{path}: {check_config(path)}")
    return 0


def check_config(path: Path) -> str:
    """What the config is, if it holds together; ConsortiumError naming the field otherwise."""
    from consortium.genesis_file import read_genesis
    from consortium.key_file import read_secret_key
    from consortium.node_config import ConfigError, NodeConfig, check_against_genesis, load_config

    config = load_config(path)
    genesis = read_genesis(config.genesis_file)
    identity = read_secret_key(config.key_file)
    if not isinstance(config, NodeConfig):
        n = len(genesis.validators)
        if not 0 <= config.validator < n:
            raise ConfigError(
                f"client.validator is {config.validator}; the genesis has validators 0..{n - 1}"
            )
        listed = {config.validator}
        for i, (fallback, _) in enumerate(config.fallbacks):
            if not 0 <= fallback < n or fallback in listed:
                raise ConfigError(
                    f"client.fallbacks[{i}].validator is {fallback}; it must be one of the "
                    f"genesis validators 0..{n - 1} not listed before"
                )
            listed.add(fallback)
        also = "".join(f", then {i} at {at}" for i, at in config.fallbacks)
        return f"ok: host {identity.name!r} of chain {genesis.chain_id!r} -> validator " + (
            f"{config.validator} at {config.address}{also}"
        )
    index = check_against_genesis(config, genesis, identity)
    own = config.peers.get(index)
    if own is not None and urlsplit(own).port != urlsplit(config.listen).port:
        raise ConfigError(
            f"peers.{index} is {own!r} but node.listen is {config.listen!r}: the ports differ, "
            "so the other validators would call a port this node does not listen on"
        )
    return (
        f"ok: validator {index} ({genesis.validators[index].name}) of chain "
        f"{genesis.chain_id!r}, {len(config.peers)} peers, {len(config.client_keys)} client keys"
    )
