"""What a host should do about each kind of rejection; used in exception messages."""

from __future__ import annotations

from consortium.events.results import Code

ADVICE: dict[Code, str] = {
    Code.MALFORMED: "Build events with ParticipantHandle.submit or events.envelope.seal",
    Code.BAD_SIGNATURE: "Sign with the author's key for this chain id; do not re-encode the body",
    Code.DUPLICATE: "This event was submitted before; wait for the first receipt",
    Code.OVERLOADED: "The validator is at capacity; retry after a short delay",
    Code.UNKNOWN_AUTHOR: "Have an organisation admin register the author's key first",
    Code.MISSING_SIGNATURE: "Collect every required signature over the same body bytes",
    Code.WRONG_ROLE: "Submit it as a participant whose role may do this",
    Code.REPLAY: "Submit a new event; each sequence number is used once",
    Code.INVALID: "Fix the event's fields as the detail says",
    Code.NOT_FOUND: "Refer to something that exists on the ledger",
    Code.ALREADY_EXISTS: "It is on the ledger already; nothing to do",
    Code.INSUFFICIENT_FUNDS: "Fund the account (or raise its credit) first",
    Code.DEADLINE: "The ledger-time deadline has passed; start the process again",
    Code.EXHAUSTED: "The entitlement is used up; a new policy or case is needed",
    Code.WRONG_STATE: "The process is not at the step this event belongs to; see its status",
}

INTAKE_CODES = frozenset({Code.MALFORMED, Code.BAD_SIGNATURE, Code.DUPLICATE, Code.OVERLOADED})


def advice_for(code: Code) -> str:
    return ADVICE.get(code, "See the detail")
