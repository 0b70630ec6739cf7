"""A reference model of token payments: balances, certificates, two-phase holds, credit lines,
bills and their settlement, and every order's status history.

Each method takes the block time and returns whether the event is accepted (or, for the
settlement events, the exact code the ledger must give), applying it if so; ``start_block`` runs
what the ledger does before a block's events (holds past their timeout go back to the payer,
settlements unconfirmed for ``confirm_within_ms`` lapse). One token throughout.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from consortium.events.results import Code

History = list[tuple[str, int]]
"""(status, block time) of each step, oldest first."""


@dataclass
class Hold:
    payer: bytes
    payee: bytes
    amount: int
    timeout_ms: int
    open: bool = True


@dataclass
class Bill:
    enterprise: bytes
    merchant: bytes
    amount: int
    status: str = "open"


@dataclass
class Settling:
    debtor: bytes
    creditor: bytes
    amount: int
    bills: tuple[bytes, ...]
    due_ms: int
    history: History

    @property
    def status(self) -> str:
        return self.history[-1][0]


@dataclass
class PaymentsModel:
    participants: frozenset[bytes]
    balances: dict[bytes, int]
    confirm_within_ms: int
    certificates: dict[bytes, tuple[int, bool]] = field(default_factory=dict)
    """key -> (valid until, revoked)."""
    holds: dict[bytes, Hold] = field(default_factory=dict)
    limits: dict[tuple[bytes, bytes], int] = field(default_factory=dict)
    """(merchant, enterprise) -> credit limit."""
    used: dict[tuple[bytes, bytes], int] = field(default_factory=dict)
    bills: dict[bytes, Bill] = field(default_factory=dict)
    orders: dict[bytes, History] = field(default_factory=dict)
    settlements: dict[bytes, Settling] = field(default_factory=dict)

    def start_block(self, time_ms: int) -> None:
        for hold in self.holds.values():
            if hold.open and hold.timeout_ms <= time_ms:
                hold.open = False
                self.balances[hold.payer] += hold.amount
        for settlement in self.settlements.values():
            if settlement.status == "started" and settlement.due_ms <= time_ms:
                self._end_unsettled(settlement, "lapsed", time_ms)

    def debit_refusal(self, key: bytes, time_ms: int, needs_certificate: bool) -> Code | None:
        """Why a debit ``key`` authors is refused at ``time_ms``, or None."""
        if key not in self.certificates:
            return Code.WRONG_ROLE if needs_certificate else None
        until, revoked = self.certificates[key]
        if revoked:
            return Code.WRONG_ROLE
        return Code.DEADLINE if time_ms >= until else None

    def may_debit(self, key: bytes, time_ms: int, needs_certificate: bool = False) -> bool:
        return self.debit_refusal(key, time_ms, needs_certificate) is None

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

    def grant(self, merchant: bytes, enterprise: bytes, limit: int) -> None:
        self.limits[(merchant, enterprise)] = limit
        self.used.setdefault((merchant, enterprise), 0)

    def issue(self, to: bytes, amount: int) -> bool:
        self.balances[to] += amount
        return True

    def _move(self, payer: bytes, payee: bytes, amount: int) -> None:
        self.balances[payer] -= amount
        self.balances[payee] += amount

    def transfer(self, order: bytes, payer: bytes, payee: bytes, amount: int, time_ms: int) -> bool:
        ok = payer != payee and self.may_debit(payer, time_ms) and self.balances[payer] >= amount
        if ok:
            self._move(payer, payee, amount)
            self.orders[order] = [("completed", time_ms)]
        return ok

    def pay(self, order: bytes, payer: bytes, merchant: bytes, amount: int, time_ms: int) -> bool:
        """Balance first, the rest on the merchant's credit line as a bill."""
        if not self.may_debit(payer, time_ms, needs_certificate=True):
            return False
        cash = min(amount, self.balances[payer])
        on_credit = amount - cash
        line = (merchant, payer)
        if on_credit and (
            line not in self.limits or self.used[line] + on_credit > self.limits[line]
        ):
            return False
        self._move(payer, merchant, cash)
        if on_credit:
            self.used[line] += on_credit
            self.bills[order] = Bill(payer, merchant, on_credit)
        self.orders[order] = [("billed" if on_credit else "paid", time_ms)]
        return True

    def linked(
        self, order: bytes, payer: bytes, legs: list[tuple[bytes, int]], time_ms: int
    ) -> bool:
        total = sum(amount for _, amount in legs)
        ok = self.may_debit(payer, time_ms) and self.balances[payer] >= total
        if ok:
            for payee, amount in legs:
                self._move(payer, payee, amount)
            self.orders[order] = [("completed", time_ms)]
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

    # ------------------------------------------------------------------ settlement

    def _step(self, bills: tuple[bytes, ...], bill_status: str, order_status: str, t: int) -> None:
        for bill_id in bills:
            self.bills[bill_id].status = bill_status
            self.orders[bill_id].append((order_status, t))

    def _end_unsettled(self, settlement: Settling, status: str, time_ms: int) -> None:
        self._step(settlement.bills, "open", "billed", time_ms)
        settlement.history.append((status, time_ms))

    def start(
        self, sid: bytes, author: bytes, merchant: bytes, bills: tuple[bytes, ...], time_ms: int
    ) -> Code:
        refusal = self.debit_refusal(author, time_ms, needs_certificate=False)
        if refusal is not None:
            return refusal
        if not bills or len(set(bills)) != len(bills):
            return Code.INVALID
        for bill_id in bills:
            bill = self.bills.get(bill_id)
            if bill is None:
                return Code.NOT_FOUND
            if (bill.enterprise, bill.merchant) != (author, merchant):
                return Code.WRONG_ROLE
            if bill.status != "open":
                return Code.ALREADY_EXISTS
        amount = sum(self.bills[b].amount for b in bills)
        due = time_ms + self.confirm_within_ms
        self.settlements[sid] = Settling(
            author, merchant, amount, bills, due, [("started", time_ms)]
        )
        self._step(bills, "settling", "settling", time_ms)
        return Code.OK

    def _refusal(self, sid: bytes, author: bytes, parties: tuple[str, ...]) -> Code | None:
        settlement = self.settlements.get(sid)
        if settlement is None:
            return Code.NOT_FOUND
        if author not in (getattr(settlement, p) for p in parties):
            return Code.WRONG_ROLE
        return None if settlement.status == "started" else Code.WRONG_STATE

    def confirm(self, sid: bytes, author: bytes, time_ms: int) -> Code:
        refusal = self._refusal(sid, author, ("creditor",))
        if refusal is not None:
            return refusal
        s = self.settlements[sid]
        if self.balances[s.debtor] < s.amount:
            return Code.INSUFFICIENT_FUNDS
        self._move(s.debtor, s.creditor, s.amount)
        self.used[(s.creditor, s.debtor)] -= s.amount
        self._step(s.bills, "settled", "settled", time_ms)
        s.history.append(("settled", time_ms))
        return Code.OK

    def cancel(self, sid: bytes, author: bytes, time_ms: int) -> Code:
        refusal = self._refusal(sid, author, ("debtor", "creditor"))
        if refusal is not None:
            return refusal
        self._end_unsettled(self.settlements[sid], "cancelled", time_ms)
        return Code.OK
