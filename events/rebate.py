"""Event bodies of the merchant promotion rebate (CN113177820B).

Each artefact is one body signed, over the same bytes, by exactly the parties the process names;
the signatures are collected between the parties' own actors before the artefact is broadcast.
"""

from __future__ import annotations

from consortium.events.body import EventBody


class Purchase(EventBody, frozen=True, tag="rebate.purchase"):
    """A completed first-type transaction: the customer (author) pays the merchant, who co-signs."""

    merchant: bytes
    token: str
    amount: int


class Promotion(EventBody, frozen=True, tag="rebate.promotion"):
    """The event description: a discount for a party the customer refers, and a rebate to the
    customer at ``rebate_time_ms``. Authored by the merchant, signed by merchant, customer and
    third party."""

    purchase: bytes  # event id of the customer's Purchase
    customer: bytes
    third_party: bytes
    new_price: int
    rebate_time_ms: int
    rebate_amount: int


class NewPurchase(EventBody, frozen=True, tag="rebate.new_purchase"):
    """The referred purchase at the promotion price; signed by third party, customer, merchant
    and broadcast by the merchant (author)."""

    promotion: bytes


class RebateClaim(EventBody, frozen=True, tag="rebate.claim"):
    """The merchant's rebate transaction, signed by the third party and the customer, broadcast
    by the customer (author) before the rebate time."""

    promotion: bytes


class ConflictEvidence(EventBody, frozen=True, tag="rebate.evidence"):
    """Two different promotion bodies for one purchase, each signed by the same party."""

    party: bytes
    first_body: bytes
    first_signature: bytes
    second_body: bytes
    second_signature: bytes


BODIES = (Purchase, Promotion, NewPurchase, RebateClaim, ConflictEvidence)
