"""``consortium genesis``: the TOML genesis of a consortium, from its members' public key files."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from consortium.commands import Commands

MIN_FAULT_TOLERANT = 4
"""The fewest validators that tolerate one faulty validator (n = 3f+1 with f = 1)."""


def register(commands: Commands) -> None:
    genesis = commands.add_parser(
        "genesis",
        help="build a TOML genesis file from the organisations' public key files",
        description="Reads the public key files (.pub, from consortium keygen) of every "
        "validator and founding participant and writes the genesis every node must start from. "
        "Validators are numbered in the order their files are given, from 0; keys with any "
        "other role except 'host' become genesis participants with that role.",
        epilog="example: consortium genesis --chain-id trade-1 --token EUR:north-bank "
        "--out genesis.toml keys/*.pub",
    )
    genesis.add_argument("keys", nargs="+", type=Path, help="public key files (.pub)")
    genesis.add_argument("--chain-id", required=True, help="the chain's name; signatures bind it")
    genesis.add_argument("--out", type=Path, required=True, help="the genesis file to write")
    genesis.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="SYMBOL:ORG",
        help="a token and the organisation whose issuers may create it (repeatable)",
    )
    genesis.add_argument(
        "--time-ms",
        type=int,
        help="genesis time, ms since the epoch (default: now); blocks must come after it",
    )
    genesis.add_argument(
        "--allow-fewer-than-4",
        action="store_true",
        help=f"accept 1 to {MIN_FAULT_TOLERANT - 1} validators: such a chain stops if any "
        "validator fails (BFT with n validators tolerates (n-1)//3 faults); for tests only",
    )
    genesis.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from consortium.genesis_file import GenesisFileError, build_genesis, write_genesis
    from consortium.key_file import read_public_key

    if args.out.exists():
        raise GenesisFileError(f"{args.out} exists; refusing to overwrite a genesis")
    tokens = []
    for spec in args.token:
        symbol, sep, org = spec.partition(":")
        if not sep or not symbol or not org:
            raise GenesisFileError(f"--token {spec!r}: write it as SYMBOL:ORGANISATION")
        tokens.append((symbol, org))
    time_ms = args.time_ms if args.time_ms is not None else time.time_ns() // 1_000_000
    keys = [read_public_key(path, secret_allowed=False) for path in args.keys]
    genesis = build_genesis(args.chain_id, time_ms, keys, tokens)
    n = len(genesis.validators)
    if n < MIN_FAULT_TOLERANT and not args.allow_fewer_than_4:
        raise GenesisFileError(
            f"{n} validator key(s) given; a chain of fewer than {MIN_FAULT_TOLERANT} validators "
            "halts when any one of them fails. Give at least 4 validator .pub files, or pass "
            "--allow-fewer-than-4 for a test chain"
        )
    write_genesis(args.out, genesis)
    print(
        f"wrote {args.out}: chain {genesis.chain_id!r}, {len(genesis.validators)} validators, "
        f"{len(genesis.participants)} participants, genesis hash {genesis.hash.hex()}"
    )
    return 0
