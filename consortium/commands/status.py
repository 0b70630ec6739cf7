"""``consortium status``: where each validator is, asked over the network as a host asks."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from consortium.commands import CommandError, Commands

if TYPE_CHECKING:
    from consortium.remote import RemoteConsortium

QUERY_TIMEOUT_S = 5.0


def register(commands: Commands) -> None:
    status = commands.add_parser(
        "status",
        help="print height, round, mempool, peers, last commit and state digest of validators",
        description="Connects to each validator named by a client config (or by every "
        "client-*.toml of a directory written by consortium init) and prints its height, the "
        "round it is deciding, the events waiting in its mempool, the peers it hears from, the "
        "time of its last block and its state digest. Validators that agree show the same "
        "digest at the same height. Exits 1 if a validator does not answer.",
        epilog="example: consortium status ./testnet",
    )
    status.add_argument("configs", nargs="+", type=Path, metavar="CONFIG")
    status.set_defaults(run=_run)


def client_configs(paths: list[Path]) -> list[Path]:
    """The client configs named, with a directory standing for its ``client-*.toml`` files."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(path.glob("client-*.toml"), key=lambda p: (len(p.name), p.name))
            if not inside:
                raise CommandError(f"{path} holds no client-*.toml (write one with init)")
            found.extend(inside)
        else:
            found.append(path)
    return found


def _run(args: argparse.Namespace) -> int:
    from consortium.events.errors import ConsortiumError
    from consortium.genesis_file import read_genesis
    from consortium.key_file import read_secret_key
    from consortium.node_config import ClientConfig, ConfigError, load_config
    from consortium.remote import RemoteConsortium

    failed = 0
    for path in client_configs(args.configs):
        config = load_config(path)
        if not isinstance(config, ClientConfig):
            raise ConfigError(f"{path} is a node config; give a client config ([client])")
        try:
            remote = RemoteConsortium(
                read_genesis(config.genesis_file),
                read_secret_key(config.key_file),
                config.validator,
                config.address,
                query_timeout_s=QUERY_TIMEOUT_S,
            )
            with remote:
                remote_status = _line(remote)
        except (ConsortiumError, TimeoutError) as exc:
            failed += 1
            remote_status = f"no answer: {exc}"
        print(f"validator {config.validator} ({config.address}): {remote_status}", flush=True)
    return 1 if failed else 0


def _line(remote: RemoteConsortium) -> str:
    status = remote.status()
    digest = remote.state_digest().hex()
    live = f"round {status.round}, mempool {status.mempool}, peers {status.peers}"
    if status.last_commit_ms is None:
        return f"height 0 (no block yet), {live}, state {digest}"
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(status.last_commit_ms / 1000))
    age = status.last_commit_age_s
    ago = "" if age is None else f" ({age:.1f} s ago)"
    return f"height {status.height}, {live}, last commit {when} UTC{ago}, state {digest}"
