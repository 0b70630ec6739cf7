"""``consortium status``: where each validator is, asked over the network as a host asks."""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from consortium.commands import CommandError, Commands

if TYPE_CHECKING:
    from consortium.node_config import ClientConfig
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
        "digest at the same height. A node config with a metrics address is read from its "
        "/health instead (no state digest). Exits 1 if a validator does not answer.",
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
    from consortium.node_config import ClientConfig, load_config

    failed = 0
    for path in client_configs(args.configs):
        config = load_config(path)
        if isinstance(config, ClientConfig):
            where, line = f"{config.validator} ({config.address})", _client_line(config)
        else:
            where, line = _node_lines(path, config.ledger.metrics)
        failed += line.startswith(NO_ANSWER)
        print(f"validator {where}: {line}", flush=True)
    return 1 if failed else 0


NO_ANSWER = "no answer: "


def _client_line(config: ClientConfig) -> str:
    """Asked over the network as a host asks, with the client config's key."""
    from consortium.events.errors import ConsortiumError
    from consortium.genesis_file import read_genesis
    from consortium.key_file import read_secret_key
    from consortium.remote import RemoteConsortium

    try:
        remote = RemoteConsortium(
            read_genesis(config.genesis_file),
            read_secret_key(config.key_file),
            config.validator,
            config.address,
            query_timeout_s=QUERY_TIMEOUT_S,
        )
        with remote:
            return _line(remote)
    except (ConsortiumError, TimeoutError) as exc:
        return f"{NO_ANSWER}{exc}"


def _line(remote: RemoteConsortium) -> str:
    status = remote.status()
    digest = remote.state_digest().hex()
    live = _live(status.round, status.mempool, status.peers)
    if status.last_commit_ms is None:
        return f"height 0 (no block yet), {live}, state {digest}"
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(status.last_commit_ms / 1000))
    age = status.last_commit_age_s
    ago = "" if age is None else f" ({age:.1f} s ago)"
    return f"height {status.height}, {live}, last commit {when} UTC{ago}, state {digest}"


def _node_lines(path: Path, metrics: str | None) -> tuple[str, str]:
    """A node config names no host key to ask with: its ``/health`` says where it is."""
    from consortium.metrics import parse_address
    from consortium.node_config import ConfigError

    if metrics is None:
        raise ConfigError(
            f"{path} is a node config without a metrics address; give its client config "
            '(client-N.toml), or set metrics = "127.0.0.1:PORT" under [node] to read its /health'
        )
    host, port = parse_address(metrics)
    url = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}/health"
    try:
        report = _health(url)
    except (OSError, ValueError) as exc:
        return url, f"{NO_ANSWER}{exc}; check that the node runs"
    lines = [
        f"height {v['height']}, {_live(v['round'], v['mempool'], v['peers'])}, "
        f"{_since(v['last_commit_age_s'])}, {'healthy' if v['healthy'] else 'UNHEALTHY'}"
        for v in report["validators"]
    ]
    where = ", ".join(str(v["validator"]) for v in report["validators"])
    return f"{where} ({url})", "; ".join(lines) or "no validator runs"


def _health(url: str) -> Any:
    """The JSON of a ``/health`` endpoint, healthy (200) or not (503)."""
    try:
        with urllib.request.urlopen(url, timeout=QUERY_TIMEOUT_S) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code != 503:
            raise
        return json.load(exc)


def _live(round_: int | None, mempool: int, peers: int | None) -> str:
    return f"round {round_}, mempool {mempool}, peers {peers}"


def _since(age_s: float | None) -> str:
    return "no commit since it started" if age_s is None else f"last commit {age_s:.1f} s ago"
