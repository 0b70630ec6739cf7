"""A reference model of token payments: balances, certificates and two-phase holds.

Each method takes the block time and returns whether the event is accepted, applying it if so;
``start_block`` runs what the ledger does before a block's events (holds past their timeout go
back to the payer). Pay is modelled without credit lines: it is accepted only when the balance
covers it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Hold:
    payer: bytes
    payee: bytes
    amount: int
    timeout_ms: int
    open: bool = True


@dataclass
class PaymentsModel:
    participants: frozenset[bytes]
    balances: dict[bytes, int]
    certificates: dict[bytes, tuple[int, bool]] = field(default_factory=dict)
    """key -> (valid until, revoked)."""
    holds: dict[bytes, Hold] = field(default_factory=dict)

    def start_block(self, time_ms: int) -> None:
        for hold in self.holds.values():
            if hold.open and hold.timeout_ms <= time_ms:
                hold.open = False
                self.balances[hold.payer] += hold.amount

    def may_debit(self, key: bytes, time_ms: int, needs_certificate: bool = False) -> bool:
        if key not in self.certificates:
            return not needs_certificate
        until, revoked = self.certificates[key]
        return not revoked and time_ms < until

    def certify(self, subject: bytes, until_ms: int, time_ms: int) -> bool:
        if subject not in self.participants or until_ms <= time_ms:
            return False
        self.certificates[subject] = (until_ms, False)
        return True

    def revoke(self, subject: bytes) -> bool:
        if subject not in self.certificates:
            return False
        self.certificates[subject] = (self.certificates[subject][0], True)
        return True

    def _move(self, payer: bytes, payee: bytes, amount: int) -> None:
        self.balances[payer] -= amount
        self.balances[payee] += amount

    def transfer(self, payer: bytes, payee: bytes, amount: int, time_ms: int) -> bool:
        ok = payer != payee and self.may_debit(payer, time_ms) and self.balances[payer] >= amount
        if ok:
            self._move(payer, payee, amount)
        return ok

    def pay(self, payer: bytes, merchant: bytes, amount: int, time_ms: int) -> bool:
        ok = self.may_debit(payer, time_ms, needs_certificate=True)
        ok = ok and self.balances[payer] >= amount
        if ok:
            self._move(payer, merchant, amount)
        return ok

    def linked(self, payer: bytes, legs: list[tuple[bytes, int]], time_ms: int) -> bool:
        total = sum(amount for _, amount in legs)
        ok = self.may_debit(payer, time_ms) and self.balances[payer] >= total
        if ok:
            for payee, amount in legs:
                self._move(payer, payee, amount)
        return ok

    def hold(
        self, hold_id: bytes, payer: bytes, payee: bytes, amount: int, timeout: int, time_ms: int
    ) -> bool:
        ok = self.may_debit(payer, time_ms) and timeout > time_ms
        ok = ok and self.balances[payer] >= amount
        if ok:
            self.balances[payer] -= amount
            self.holds[hold_id] = Hold(payer, payee, amount, timeout)
        return ok

    def finish(self, hold_id: bytes, author: bytes, post: bool, time_ms: int) -> bool:
        hold = self.holds.get(hold_id)
        ok = hold is not None and hold.open and time_ms < hold.timeout_ms
        ok = ok and hold is not None and author == hold.payer
        ok = ok and (not post or self.may_debit(author, time_ms))
        if ok and hold is not None:
            hold.open = False
            self.balances[hold.payee if post else hold.payer] += hold.amount
        return ok

    def held(self) -> int:
        return sum(h.amount for h in self.holds.values() if h.open)
