"""Subcommands of the ``consortium`` command; each module has ``register(subparsers)``."""
