"""The tagged union of every event body the ledger accepts.

A workflow adds its bodies here; the union is closed so that every validator decodes the same set.
"""

from __future__ import annotations

from typing import Union

from events.payments import IssueTokens, RegisterParticipant, Transfer

EVENT_BODY_TYPES: tuple[type, ...] = (RegisterParticipant, IssueTokens, Transfer)

EventBodyUnion = Union[EVENT_BODY_TYPES]  # type: ignore[valid-type]  # noqa: UP007
