"""What every demo section shares: fixed-seed identities, printing, waiting for receipts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from consortium.actors.receipts import ReceiptFuture
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
