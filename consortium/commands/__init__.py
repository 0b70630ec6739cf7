"""Subcommands of the ``consortium`` command; each module has ``register(subparsers)``."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
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


def positive_float(text: str) -> float:
    """An argparse type: a finite number above 0 (seconds, events per second)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def output_file(text: str) -> Path:
    """An argparse type: a file to write, in a directory that exists, checked before any work
    is spent on what goes in it."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory; name a file")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"directory {path.parent} does not exist; create it first")
    return path
