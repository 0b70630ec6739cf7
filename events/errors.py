"""Typed errors raised while reading untrusted bytes."""

from __future__ import annotations


class ConsortiumError(Exception):
    """Root of every error this library raises on purpose."""


class MalformedError(ConsortiumError):
    """Bytes that do not decode to the expected message; the text names the bad field."""


class SignatureError(ConsortiumError):
    """A signature that does not verify for its key, domain, chain and bytes."""


class EventRejected(ConsortiumError):
    """An event the ledger did not accept; ``code`` and ``detail`` say why."""

    def __init__(self, code: str, detail: str, advice: str) -> None:
        super().__init__(f"{code}: {detail}. {advice}")
        self.code = code
        self.detail = detail


class RejectedAtIntake(EventRejected):
    """Refused by the receiving validator before consensus (bytes, signature, duplicate, load)."""


class RejectedByRule(EventRejected):
    """In a block, but refused by the workflow's rules; the block's results keep the reason."""


class ReceiptTimeout(ConsortiumError, TimeoutError):
    """No receipt within the time asked for; the event may still commit later."""


class ConsortiumStopped(ConsortiumError):
    """The consortium (or the validator a handle submits to) has stopped."""
