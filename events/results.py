"""Per-event results: accepted, or rejected with a typed reason the submitter receives."""

from __future__ import annotations

import enum

import msgspec


class Code(enum.StrEnum):
    """Why an event was rejected (or ``OK``). Stable strings: they are hashed into blocks."""

    OK = "ok"
    # Refused at intake, before consensus; kept in the receiving validator's intake log.
    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    DUPLICATE = "duplicate"
    OVERLOADED = "overloaded"
    # Refused by the rules at execution; kept in the block's results.
    UNKNOWN_AUTHOR = "unknown_author"
    MISSING_SIGNATURE = "missing_signature"
    WRONG_ROLE = "wrong_role"
    REPLAY = "replay"
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    DEADLINE = "deadline"
    EXHAUSTED = "exhausted"
    WRONG_STATE = "wrong_state"


class EventResult(
    msgspec.Struct, frozen=True, gc=False, array_like=True, forbid_unknown_fields=True
):
    code: Code
    detail: str = ""

    @property
    def accepted(self) -> bool:
        return self.code is Code.OK


ACCEPTED = EventResult(Code.OK)


class Rejected(Exception):
    """Raised inside rule checks; carries the typed result that goes on the ledger."""

    def __init__(self, code: Code, detail: str) -> None:
        super().__init__(f"{code.value}: {detail}")
        self.result = EventResult(code, detail)
