"""Subcommands of the ``consortium`` command; each module has ``register(subparsers)``."""

from __future__ import annotations

import argparse
from typing import TypeAlias

from consortium.events.errors import ConsortiumError

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What ``register`` receives: the ``consortium`` parser's subcommands."""


class CommandError(ConsortiumError):
    """A command line argument that cannot work; the message says which and what to give."""


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1 (argparse names the option on refusal)."""
    value = non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: an integer of at least 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value
