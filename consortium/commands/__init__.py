"""Subcommands of the ``consortium`` command; each module has ``register(subparsers)``."""

from __future__ import annotations

import argparse
from typing import TypeAlias

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What ``register`` receives: the ``consortium`` parser's subcommands."""
