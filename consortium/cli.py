"""The ``consortium`` command line: one subcommand per module in ``consortium.commands``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from consortium.commands import audit, check, demo, genesis, init, keygen, node, status
from consortium.events.errors import ConsortiumError
from consortium.log_format import configure

COMMANDS = (demo, audit, init, keygen, genesis, node, check, status)


def _version() -> str:
    try:
        return version("consortium")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _add_logging_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The logging options, accepted before and after the subcommand: a subcommand's copy has
    no default of its own, so it never resets what was given before the subcommand."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="log what the validators do",
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text" if top else argparse.SUPPRESS,
        help="log lines as text (default) or as one JSON object each",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="consortium",
        description="A tamper-evident ledger run together by organisations that do not fully "
        "trust each other.",
    )
    parser.add_argument("--version", action="version", version=f"consortium {_version()}")
    _add_logging_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    for subcommand in commands.choices.values():
        _add_logging_options(subcommand, top=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure(args.verbose, args.log_format)
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
    except OSError as exc:
        # A path that cannot be used (a file where a directory belongs, no permission, a full
        # disk): the system's reason and the path are the message, not a traceback.
        print(f"consortium: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("consortium: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
