"""A reference model of the merchant promotion rebate: purchases, promotions holding the rebate,
new purchases, claims, the rebate paid or given back at its time, merchants' transfers.

Plain dictionaries; each event method checks in the order the rules do and returns the code
the ledger must give, applying the event if it is ``OK``. ``start_block`` settles every open
promotion whose rebate time the block has reached, as the ledger's block hook does before the
block's events. Statuses are kept with their history of (status, block time).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from consortium.events.results import Code


@dataclass
class ModelOrder:
    kind: str
    parties: tuple[bytes, bytes]
    amount: int
    history: list[tuple[str, int]]


@dataclass
class ModelPromotion:
    merchant: bytes
    customer: bytes
    third_party: bytes
    purchase: bytes
    new_price: int
    rebate_time_ms: int
    rebate_amount: int
    hold: bytes
    new_purchase: bytes = b""
    claim: bytes = b""
    status: str = "open"
    settlement: list[tuple[str, int]] = field(default_factory=list)
    """(status, block time) of the rebate's settlement."""


@dataclass
class RebateModel:
    balances: dict[bytes, int]
    revoked: set[bytes] = field(default_factory=set)
    orders: dict[bytes, ModelOrder] = field(default_factory=dict)
    promotions: dict[bytes, ModelPromotion] = field(default_factory=dict)

    def start_block(self, time_ms: int) -> None:
        for p in self.promotions.values():
            if p.status == "open" and p.rebate_time_ms <= time_ms:
                paid = bool(p.new_purchase and p.claim)
                p.status = "paid" if paid else "lapsed"
                self.move(p.hold, p.customer if paid else p.merchant, p.rebate_amount)
                p.settlement.append(("settled" if paid else "void", time_ms))

    def move(self, payer: bytes, payee: bytes, amount: int) -> None:
        self.balances[payer] = self.balances.get(payer, 0) - amount
        self.balances[payee] = self.balances.get(payee, 0) + amount

    @staticmethod
    def signatures(signers: tuple[bytes, ...], expected: set[bytes]) -> Code:
        if len(set(signers)) != len(signers):
            return Code.INVALID
        if expected - set(signers):
            return Code.MISSING_SIGNATURE
        if set(signers) - expected:
            return Code.INVALID
        return Code.OK

    def payment_order(
        self, order: bytes, kind: str, payer: bytes, payee: bytes, amount: int, t: int
    ) -> None:
        self.move(payer, payee, amount)
        self.orders[order] = ModelOrder(kind, (payer, payee), amount, [("paid", t)])

    # ------------------------------------------------------------ events

    def purchase(
        self, order: bytes, signers: tuple[bytes, ...], merchant: bytes, amount: int, t: int
    ) -> Code:
        customer = signers[0]
        if (code := self.signatures(signers, {customer, merchant})) is not Code.OK:
            return code
        if customer in self.revoked:
            return Code.WRONG_ROLE
        if self.balances.get(customer, 0) < amount:
            return Code.INSUFFICIENT_FUNDS
        self.payment_order(order, "rebate.purchase", customer, merchant, amount, t)
        return Code.OK

    def promote(
        self,
        promotion: bytes,
        signers: tuple[bytes, ...],
        fields: ModelPromotion,
        t: int,
    ) -> Code:
        """``fields`` holds what the body says (its ``merchant`` is the author)."""
        purchase = self.orders.get(fields.purchase)
        if purchase is None or purchase.kind != "rebate.purchase":
            return Code.NOT_FOUND
        customer, merchant = purchase.parties
        if fields.merchant != merchant:
            return Code.WRONG_ROLE
        if fields.customer != customer or fields.third_party in (customer, merchant):
            return Code.INVALID
        expected = {merchant, customer, fields.third_party}
        if (code := self.signatures(signers, expected)) is not Code.OK:
            return code
        if not 0 < fields.new_price < purchase.amount:
            return Code.INVALID
        if t >= fields.rebate_time_ms:
            return Code.DEADLINE
        if any(p.purchase == fields.purchase for p in self.promotions.values()):
            return Code.ALREADY_EXISTS
        if merchant in self.revoked:
            return Code.WRONG_ROLE
        if self.balances.get(merchant, 0) < fields.rebate_amount:
            return Code.INSUFFICIENT_FUNDS
        self.move(merchant, fields.hold, fields.rebate_amount)
        fields.settlement.append(("held", t))
        self.promotions[promotion] = fields
        return Code.OK

    def in_time(self, promotion: bytes, t: int) -> Code:
        if promotion not in self.promotions:
            return Code.NOT_FOUND
        if t >= self.promotions[promotion].rebate_time_ms:
            return Code.DEADLINE
        return Code.OK

    def new_purchase(
        self, order: bytes, promotion: bytes, signers: tuple[bytes, ...], t: int
    ) -> Code:
        if (code := self.in_time(promotion, t)) is not Code.OK:
            return code
        p = self.promotions[promotion]
        if signers[0] != p.merchant:
            return Code.WRONG_ROLE
        if p.new_purchase:
            return Code.ALREADY_EXISTS
        expected = {p.merchant, p.customer, p.third_party}
        if (code := self.signatures(signers, expected)) is not Code.OK:
            return code
        if p.third_party in self.revoked:
            return Code.WRONG_ROLE
        if self.balances.get(p.third_party, 0) < p.new_price:
            return Code.INSUFFICIENT_FUNDS
        self.payment_order(order, "rebate.new_purchase", p.third_party, p.merchant, p.new_price, t)
        p.new_purchase = order
        return Code.OK

    def claim(self, event: bytes, promotion: bytes, signers: tuple[bytes, ...], t: int) -> Code:
        if (code := self.in_time(promotion, t)) is not Code.OK:
            return code
        p = self.promotions[promotion]
        if signers[0] != p.customer:
            return Code.WRONG_ROLE
        if p.claim:
            return Code.ALREADY_EXISTS
        if (code := self.signatures(signers, {p.customer, p.third_party})) is not Code.OK:
            return code
        p.claim = event
        return Code.OK

    def transfer(self, order: bytes, payer: bytes, payee: bytes, amount: int, t: int) -> Code:
        if payer in self.revoked:
            return Code.WRONG_ROLE
        if self.balances.get(payer, 0) < amount:
            return Code.INSUFFICIENT_FUNDS
        self.move(payer, payee, amount)
        self.orders[order] = ModelOrder("transfer", (payer, payee), amount, [("completed", t)])
        return Code.OK

    def revoke(self, key: bytes) -> Code:
        self.revoked.add(key)
        return Code.OK
