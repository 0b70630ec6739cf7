"""The ``consortium`` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from events.errors import ConsortiumError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="consortium",
        description="A tamper-evident ledger run together by organisations that do not fully "
        "trust each other.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the validators do")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="run the business processes on an embedded 4-validator consortium",
        description="Starts 4 validators in this process with their logs under --data, runs the "
        "workflows with good and bad events, and prints the outcomes and every validator's state "
        "digest. Run it again on the same directory to resume from disk.",
        epilog="example: consortium demo --data ./demo-data",
    )
    demo.add_argument(
        "--data",
        type=Path,
        default=Path("consortium-demo-data"),
        help="directory for the validators' logs (default: %(default)s)",
    )
    demo.add_argument(
        "--events", type=int, default=1000, help="number of payment events (default: %(default)s)"
    )
    demo.add_argument(
        "--no-fsync",
        action="store_true",
        help="do not fsync each block (faster; a power loss may lose blocks)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "demo":
            from consortium.demo import run_demo

            return run_demo(args.data, args.events, print, durable=not args.no_fsync)
    except ConsortiumError as exc:
        print(f"consortium: {exc}", file=sys.stderr)
        return 2
    except TimeoutError:
        print(
            "consortium: the validators did not answer in time; run with -v to see why",
            file=sys.stderr,
        )
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
