"""The one integer range of the ledger's state, and the checks every rule makes against it.

The state is msgpack-encoded, which holds integers from -2**63 to 2**64-1; a row outside that
range cannot be encoded, so a block that wrote one could not be hashed or stored and every
proposal after it would fail (issue 21: ``IssueTokens`` of 2**64-1 to a holder halted the
chain). Rules therefore keep every amount, balance, supply, credit limit, count, share and
ledger time in ``0..MAX_VALUE`` (2**63-1): it fits a signed and an unsigned 64-bit integer
alike, and the sum of two values in range still encodes, so a check made before a sum is
stored is always made on encodable numbers. A value or a sum outside the range is refused
with ``invalid`` and a detail naming the field, never raised as an error.
"""

from __future__ import annotations

from collections.abc import Iterable

from consortium.events.results import Code, Rejected

MAX_VALUE = 2**63 - 1


def in_range(value: int, field: str, low: int = 0) -> int:
    """``value`` if it lies in ``low..MAX_VALUE``, else an ``invalid`` rejection naming
    ``field``."""
    if not low <= value <= MAX_VALUE:
        raise Rejected(Code.INVALID, f"{field} {value} is outside {low}..{MAX_VALUE}")
    return value


def amount(value: int, field: str) -> int:
    """A positive quantity: an amount moved, a limit, a price, a count allowed."""
    return in_range(value, field, low=1)


def total(values: Iterable[int], field: str) -> int:
    """The sum of ``values`` if it stays in range, else an ``invalid`` rejection naming
    ``field``: for every sum a rule stores (a supply, a balance, an order's total)."""
    return in_range(sum(values), field)
