"""``consortium demo``: the business processes on an embedded 4-validator consortium."""

from __future__ import annotations

import argparse
from pathlib import Path

from consortium.commands import CommandError, Commands, positive_int


def register(commands: Commands) -> None:
    demo = commands.add_parser(
        "demo",
        help="run the business processes on an embedded 4-validator consortium",
        description="Starts 4 validators in this process with their logs under --data, runs the "
        "workflows with good and bad events, and prints what each party sees, the outcomes and "
        "every validator's state digest. Run it again on the same directory to resume from disk.",
        epilog="example: consortium demo --data ./demo-data",
    )
    demo.add_argument(
        "--data",
        type=Path,
        default=Path("consortium-demo-data"),
        help="directory for the validators' logs (default: %(default)s)",
    )
    demo.add_argument(
        "--events",
        type=positive_int,
        default=1000,
        help="number of payment events (default: %(default)s)",
    )
    demo.add_argument(
        "--no-fsync",
        action="store_true",
        help="do not fsync each block (faster; a power loss may lose the last blocks)",
    )
    demo.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from consortium.demo import run_demo

    if args.data.exists() and not args.data.is_dir():
        raise CommandError(f"--data {args.data} is a file; give a directory for the logs")
    return run_demo(args.data, args.events, print, durable=not args.no_fsync)
