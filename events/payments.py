"""Event bodies of token payments: registration, issuance, transfer.

Amounts are integers in minor units, never floats.
"""

from __future__ import annotations

from consortium.events.body import EventBody


class RegisterParticipant(EventBody, frozen=True, tag="payments.register"):
    """An organisation admin enrols a key under its organisation with one role."""

    participant: bytes
    name: str
    role: str


class IssueTokens(EventBody, frozen=True, tag="payments.issue"):
    """The issuing organisation creates ``amount`` of its token in a participant's account."""

    token: str
    to: bytes
    amount: int


class Transfer(EventBody, frozen=True, tag="payments.transfer"):
    """Moves ``amount`` of ``token`` from the author's account to ``to``."""

    token: str
    to: bytes
    amount: int
    memo: str = ""


class RotateKey(EventBody, frozen=True, tag="payments.rotate_key"):
    """The user's organisation (an admin, author) moves a user from ``old_key`` to ``new_key``,
    which co-signs to prove its holder has it. The old key need not sign: rotation is also how
    a lost or stolen key is retired."""

    old_key: bytes
    new_key: bytes


BODIES = (RegisterParticipant, IssueTokens, Transfer, RotateKey)
