"""The tagged union of every event body the ledger accepts.

Each workflow's vocabulary module lists its bodies in ``BODIES``; adding a workflow means adding
its module to ``VOCABULARIES``. The union is closed so that every validator decodes the same set.
"""

from __future__ import annotations

from typing import Union

from consortium.events import (
    credit,
    insurance,
    payments,
    private_data,
    rebate,
    restitution,
    validators,
)

VOCABULARIES = (payments, credit, rebate, insurance, restitution, private_data, validators)

EVENT_BODY_TYPES: tuple[type, ...] = tuple(b for m in VOCABULARIES for b in m.BODIES)

EventBodyUnion = Union[EVENT_BODY_TYPES]  # type: ignore[valid-type]  # noqa: UP007
