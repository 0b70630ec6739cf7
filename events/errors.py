"""Typed errors raised while reading untrusted bytes."""

from __future__ import annotations


class ConsortiumError(Exception):
    """Root of every error this library raises on purpose."""


class MalformedError(ConsortiumError):
    """Bytes that do not decode to the expected message; the text names the bad field."""


class SignatureError(ConsortiumError):
    """A signature that does not verify for its key, domain, chain and bytes."""
