"""What a rule sees of the event it judges: the state, the ledger time and who signed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from consortium.events.results import Code, Rejected
from consortium.rules.state import Overlay
from consortium.rules.tables import Participant


@dataclass(slots=True)
class EventContext:
    """Made once per executed event by every validator, so not ``frozen``: a frozen dataclass
    sets each field through ``object.__setattr__``, five times slower to build. Rules only read it.
    """

    state: Overlay
    height: int
    time_ms: int
    event_id: bytes
    signers: tuple[bytes, ...]
    author: Participant
    enrollable_roles: frozenset[str]

    @property
    def author_key(self) -> bytes:
        return self.signers[0]

    @property
    def chain_id(self) -> str:
        chain: str = self.state.get("chain", b"id")
        return chain

    def require(self, condition: bool, code: Code, detail: str) -> None:
        if not condition:
            raise Rejected(code, detail)

    def require_role(self, *roles: str) -> None:
        self.require(
            self.author.role in roles,
            Code.WRONG_ROLE,
            f"role {self.author.role!r} may not do this; needs one of {', '.join(roles)}",
        )

    def existing(self, table: str, key: bytes, missing: str) -> Any:
        """The row under ``key``, or a ``not_found`` rejection that says ``missing``."""
        row = self.state.get(table, key)
        if row is None:
            raise Rejected(Code.NOT_FOUND, missing)
        return row

    def participant(self, key: bytes, what: str) -> Participant:
        found: Participant | None = self.state.get("participants", key)
        if found is None or not found.active:
            raise Rejected(Code.NOT_FOUND, f"{what} is not a registered participant")
        return found
