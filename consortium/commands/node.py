"""``consortium node --config node.toml``: run one validator until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import threading
from pathlib import Path
from types import FrameType

from consortium.commands import Commands


def register(commands: Commands) -> None:
    node = commands.add_parser(
        "node",
        help="run one validator of a networked consortium",
        description="Runs the validator whose key the config names, listening for its peers and "
        "for the hosts the config allows, until SIGTERM or Ctrl-C; then it finishes the message "
        "in hand (a block being committed is committed), closes its log and exits 0. A node that "
        "was down or is new catches up from its peers' blocks and quorum certificates.",
        epilog="example: consortium node --config north-bank.toml",
    )
    node.add_argument("--config", type=Path, required=True, help="the node's TOML config file")
    node.add_argument(
        "--metrics-port",
        type=_port,
        metavar="PORT",
        help="serve Prometheus metrics at http://127.0.0.1:PORT/metrics and health at /health "
        "(overrides the config's [node] metrics; needs pip install 'consortium[metrics]')",
    )
    node.set_defaults(run=_run)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0..65535)")
    return port


def _run(args: argparse.Namespace) -> int:
    from consortium.genesis_file import read_genesis
    from consortium.key_file import read_secret_key
    from consortium.network_node import NetworkedConsortium
    from consortium.node_config import check_against_genesis, load_node_config

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    config = load_node_config(args.config)
    if args.metrics_port is not None:
        ledger = dataclasses.replace(config.ledger, metrics=f"127.0.0.1:{args.metrics_port}")
        config = dataclasses.replace(config, ledger=ledger)
    check_against_genesis(
        config, read_genesis(config.genesis_file), read_secret_key(config.key_file)
    )
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    node = NetworkedConsortium(config)
    try:
        metrics = node.metrics_address
        print(
            f"validator {node.index} of chain {node.genesis.chain_id!r} listening on "
            f"{node.network.address}, at height {node.height()}"
            + (f"; metrics on http://{metrics}/metrics" if metrics else ""),
            flush=True,
        )
        while not stop.wait(0.5):
            pass
    finally:
        node.stop()
    print(f"validator {node.index} stopped", flush=True)
    return 0
