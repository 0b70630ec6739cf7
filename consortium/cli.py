"""The ``consortium`` command line: one subcommand per module in ``consortium.commands``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from consortium.commands import audit, demo, genesis, keygen, node
from consortium.events.errors import ConsortiumError

COMMANDS = (demo, audit, keygen, genesis, node)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="consortium",
        description="A tamper-evident ledger run together by organisations that do not fully "
        "trust each other.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the validators do")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.run(args))
    except ConsortiumError as exc:
        print(f"consortium: {exc}", file=sys.stderr)
        return 2
    except TimeoutError:
        print(
            "consortium: the validators did not answer in time; run with -v to see why",
            file=sys.stderr,
        )
        return 3
    except BrokenPipeError:
        # The reader (e.g. `| head`) has gone; say nothing more, as Unix tools do.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("consortium: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
