"""``consortium init``: a whole consortium of N validators on this machine, ready to start."""

from __future__ import annotations

import argparse
from pathlib import Path

from consortium.commands import CommandError, Commands, positive_int
from consortium.commands.genesis import MIN_FAULT_TOLERANT


def register(commands: Commands) -> None:
    init = commands.add_parser(
        "init",
        help="write keys, genesis, node configs and host configs for N local validators",
        description="Writes into DIR what N organisations would each make with keygen, genesis "
        "and a node config: keys/ (one validator key each and a host key), genesis.toml, "
        "node-I.toml per validator listening on a free 127.0.0.1 port, and client-I.toml, a host "
        "config that reaches validator I. Start each node with consortium node --config "
        "DIR/node-I.toml; consortium status DIR then shows them.",
        epilog="example: consortium init --validators 4 --dir ./testnet",
    )
    init.add_argument("--validators", type=positive_int, default=4, help="(default: 4)")
    init.add_argument("--dir", type=Path, required=True, help="a new or empty directory")
    init.add_argument("--chain-id", default="local-cluster", help="(default: %(default)s)")
    init.add_argument(
        "--allow-fewer-than-4",
        action="store_true",
        help="accept fewer than 4 validators (no fault tolerated; for tests only)",
    )
    init.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from consortium.local_cluster import write_cluster

    directory: Path = args.dir
    if args.validators < MIN_FAULT_TOLERANT and not args.allow_fewer_than_4:
        raise CommandError(
            f"--validators {args.validators}: fewer than {MIN_FAULT_TOLERANT} validators halt "
            "when any one fails; use 4 or more, or pass --allow-fewer-than-4"
        )
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise CommandError(f"--dir {directory} exists and is not an empty directory")
    files = write_cluster(directory, args.validators, chain_id=args.chain_id)
    print(f"wrote a consortium of {args.validators} validators in {directory}:")
    print(f"  genesis  {directory / 'genesis.toml'} (hash {files.genesis.hash.hex()})")
    for i, address in enumerate(files.addresses):
        print(f"  node {i}   {files.node_config(i)}  listening on {address}")
    print("start each node (one terminal or service each):")
    print(f"  consortium node --config {files.node_config(0)}   # ... and the others")
    print(f"then: consortium status {directory}")
    return 0
