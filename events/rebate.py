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
    """The event description (a discount for a party the customer refers) together with the
    merchant's rebate transaction (``rebate_amount`` to the customer at ``rebate_time_ms``):
    authored and signed by the merchant before the promotion, then signed by customer and third
    party. Once it is on the ledger the rebate is held from the merchant's balance."""

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
    """The merchant's rebate transaction claimed: signed by the customer (author, who broadcasts
    it) and the third party before the rebate time. The merchant's signature is the one it put
    on the promotion, so the merchant need not (and may not) sign again."""

    promotion: bytes


class ConflictEvidence(EventBody, frozen=True, tag="rebate.evidence"):
    """Two different promotion bodies for one purchase, each signed by the same party."""

    party: bytes
    first_body: bytes
    first_signature: bytes
    second_body: bytes
    second_signature: bytes


BODIES = (Purchase, Promotion, NewPurchase, RebateClaim, ConflictEvidence)
