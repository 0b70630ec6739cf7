"""``consortium node --config node.toml``: run one validator until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
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
    node.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from consortium.genesis_file import read_genesis
    from consortium.key_file import read_secret_key
    from consortium.network_node import NetworkedConsortium
    from consortium.node_config import check_against_genesis, load_node_config

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    config = load_node_config(args.config)
    check_against_genesis(
        config, read_genesis(config.genesis_file), read_secret_key(config.key_file)
    )
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    node = NetworkedConsortium(config)
    try:
        print(
            f"validator {node.index} of chain {node.genesis.chain_id!r} listening on "
            f"{node.network.address}, at height {node.height()}",
            flush=True,
        )
        while not stop.wait(0.5):
            pass
    finally:
        node.stop()
    print(f"validator {node.index} stopped", flush=True)
    return 0
