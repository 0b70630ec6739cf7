"""What every demo section shares: fixed-seed identities, printing, waiting for receipts,
reading ledger time and state rows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from consortium.actors.receipts import ReceiptFuture
from consortium.api import Consortium
from consortium.events.identity import Identity

CHAIN_ID = "consortium-demo"
WAIT_S = 60.0

Say = Callable[[str], None]


def identity(name: str) -> Identity:
    """The same key for the same name on every run, so a rerun resumes the same consortium."""
    return Identity.from_seed(name, f"{CHAIN_ID}/{name}".encode())


def admin(organisation: str) -> Identity:
    return identity(f"admin@{organisation}")


def outcomes(futures: Iterable[ReceiptFuture]) -> Counter[str]:
    """Wait for every receipt; count them by result code."""
    return Counter(f.result(WAIT_S).result.code.value for f in futures)


def print_outcomes(title: str, counts: Counter[str], say: Say) -> None:
    say(f"  {title}: " + ", ".join(f"{code} {n}" for code, n in sorted(counts.items())))


def ledger_time_ms(consortium: Consortium) -> int:
    """The time of the last committed block (0 before the first): deadlines in events are in
    ledger time, not wall-clock time."""
    head = consortium.head()
    return head.time_ms if head is not None else 0


def state_row(consortium: Consortium, table: str, key: bytes) -> Any:
    """One row of a validator's state (None if absent), read in that validator's thread; a
    function rather than a lambda per call site, so loops need not bind their variables."""
    return consortium.inspect(lambda node: node.state.get(table, key))
