"""A reference model of court-ordered restitution: cases, claims, orders, write-offs, custody.

Plain dictionaries, no workflow engine: each event method checks, in the order the ledger's
engine does (the instance's state, the author's role, then the transition's guards), and
returns the code the ledger must give, applying the event if it is ``OK``. Amounts live in one
``balances`` dictionary (the bank, each case's custody account, the victims); every status is
kept with its history of (status, block time).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from consortium.events.results import Code

WHOLE = 10_000


def shares_of(residual: int, shares: list[tuple[bytes, int]]) -> list[tuple[bytes, int]]:
    """Each share rounded down; if they make the whole, the largest (first among equals) gets
    what rounding left over."""
    amounts = [(victim, residual * points // WHOLE) for victim, points in shares]
    if shares and sum(points for _, points in shares) == WHOLE:
        order = sorted(range(len(shares)), key=lambda i: (-shares[i][1], i))
        victim, amount = amounts[order[0]]
        amounts[order[0]] = (victim, amount + residual - sum(a for _, a in amounts))
    return amounts


@dataclass
class Status:
    state: str = ""
    history: list[tuple[str, int]] = field(default_factory=list)

    def move(self, state: str, time_ms: int) -> None:
        self.state = state
        self.history.append((state, time_ms))


@dataclass
class ModelCase:
    court: bytes
    bank: bytes
    custody: bytes
    custody_amount: int
    entitled: dict[bytes, int]
    status: Status = field(default_factory=Status)


@dataclass
class ModelClaim:
    status: Status = field(default_factory=Status)
    account: bytes = b""
    ordered: int = 0
    paid: int = 0
    written_off: int = 0
    settlement: tuple[int, Status] | None = None
    """(amount, status) of the victim's settlement, once an order made one."""


@dataclass
class RestitutionModel:
    roles: dict[bytes, str]
    balances: dict[bytes, int]
    cases: dict[str, ModelCase] = field(default_factory=dict)
    claims: dict[tuple[str, bytes], ModelClaim] = field(default_factory=dict)

    def start_block(self, time_ms: int) -> None:
        """Restitution has no deadlines."""

    # ------------------------------------------------------------ helpers

    def claim(self, case: str, victim: bytes) -> ModelClaim:
        return self.claims.setdefault((case, victim), ModelClaim())

    def claim_state(self, case: str, victim: bytes) -> str:
        found = self.claims.get((case, victim))
        return found.status.state if found else ""

    def case_state(self, case: str) -> str:
        return self.cases[case].status.state if case in self.cases else ""

    @staticmethod
    def source(state: str, sources: tuple[str, ...]) -> Code:
        if state in sources:
            return Code.OK
        return Code.WRONG_STATE if state else Code.NOT_FOUND

    def gate(
        self, state: str, sources: tuple[str, ...], author: bytes, role: str, case: str
    ) -> Code:
        """The engine's first checks, then the case's existence and its author (court or
        bank), which every guard after the first reads."""
        if (code := self.source(state, sources)) is not Code.OK:
            return code
        if self.roles.get(author) != role:
            return Code.WRONG_ROLE
        if case not in self.cases:
            return Code.NOT_FOUND
        found = self.cases[case]
        if author != (found.court if role == "court" else found.bank):
            return Code.WRONG_ROLE
        return Code.OK

    def reserved(self, case: str) -> int:
        return sum(c.ordered - c.paid for (name, _), c in self.claims.items() if name == case)

    def set_settlement(self, c: ModelClaim, state: str, amount: int, t: int) -> None:
        status = c.settlement[1] if c.settlement else Status()
        status.move(state, t)
        c.settlement = (amount, status)

    # ------------------------------------------------------------ the case

    def register(
        self,
        author: bytes,
        name: str,
        bank: bytes,
        custody: bytes,
        custody_amount: int,
        fixed: list[tuple[bytes, int]],
        shares: list[tuple[bytes, int]],
        t: int,
    ) -> Code:
        if (code := self.source(self.case_state(name), ("",))) is not Code.OK:
            return code
        if self.roles.get(author) != "court":
            return Code.WRONG_ROLE
        if self.roles.get(bank) != "bank":
            return Code.WRONG_ROLE
        victims = [v for v, _ in fixed] + [v for v, _ in shares]
        if not victims or len(set(victims)) != len(victims):
            return Code.INVALID
        total_fixed = sum(a for _, a in fixed)
        resolved: list[tuple[bytes, int]] = []
        if shares:
            if sum(p for _, p in shares) > WHOLE or total_fixed >= custody_amount:
                return Code.INVALID
            resolved = shares_of(custody_amount - total_fixed, shares)
            if any(a <= 0 for _, a in resolved):
                return Code.INVALID
        case = ModelCase(author, bank, custody, custody_amount, dict(fixed + resolved))
        case.status.move("registered", t)
        self.cases[name] = case
        return Code.OK

    def confirm_custody(self, author: bytes, name: str, t: int) -> Code:
        code = self.gate(self.case_state(name), ("registered",), author, "bank", name)
        if code is not Code.OK:
            return code
        case = self.cases[name]
        if self.balances[case.bank] < case.custody_amount:
            return Code.INSUFFICIENT_FUNDS
        self.balances[case.bank] -= case.custody_amount
        self.balances[case.custody] = self.balances.get(case.custody, 0) + case.custody_amount
        case.status.move("in_custody", t)
        return Code.OK

    def issue_order(
        self, author: bytes, name: str, payments: list[tuple[bytes, int]], t: int
    ) -> Code:
        code = self.gate(self.case_state(name), ("in_custody", "ordered"), author, "court", name)
        if code is not Code.OK:
            return code
        victims = [v for v, _ in payments]
        if not victims or len(set(victims)) != len(victims):
            return Code.INVALID
        if any(self.claim_state(name, v) not in ("verified", "confirmed") for v in victims):
            return Code.WRONG_STATE
        case = self.cases[name]
        for v, amount in payments:
            if self.claim(name, v).ordered + amount > case.entitled.get(v, 0):
                return Code.EXHAUSTED
        wanted = sum(a for _, a in payments)
        if self.reserved(name) + wanted > self.balances.get(case.custody, 0):
            return Code.INSUFFICIENT_FUNDS
        for v, amount in payments:
            c = self.claim(name, v)
            c.ordered += amount
            self.set_settlement(c, "ordered", c.ordered, t)
        case.status.move("ordered", t)
        return Code.OK

    def close(self, author: bytes, name: str, t: int) -> Code:
        code = self.gate(self.case_state(name), ("in_custody", "ordered"), author, "court", name)
        if code is not Code.OK:
            return code
        case = self.cases[name]
        for v, amount in case.entitled.items():
            c = self.claims.get((name, v))
            if c is None or c.status.state not in ("confirmed", "written_off"):
                return Code.WRONG_STATE
            if c.paid + c.written_off != amount:
                return Code.WRONG_STATE
        case.status.move("closed", t)
        return Code.OK

    def return_custody(self, author: bytes, name: str, amount: int, t: int) -> Code:
        code = self.gate(self.case_state(name), ("closed",), author, "court", name)
        if code is not Code.OK:
            return code
        case = self.cases[name]
        held = self.balances.get(case.custody, 0)
        if held == 0:
            return Code.EXHAUSTED
        if amount != held:
            return Code.INVALID
        self.balances[case.custody] = 0
        self.balances[case.bank] += held
        case.status.move("returned", t)
        return Code.OK

    # ------------------------------------------------------------ claims

    def register_claim(self, author: bytes, name: str, t: int) -> Code:
        if (code := self.source(self.claim_state(name, author), ("",))) is not Code.OK:
            return code
        if self.roles.get(author) != "victim":
            return Code.WRONG_ROLE
        if name not in self.cases or author not in self.cases[name].entitled:
            return Code.NOT_FOUND
        if self.case_state(name) not in ("registered", "in_custody", "ordered"):
            return Code.WRONG_STATE
        c = self.claim(name, author)
        c.account = author
        c.status.move("claimed", t)
        return Code.OK

    def verify(self, author: bytes, name: str, victim: bytes, t: int) -> Code:
        code = self.gate(self.claim_state(name, victim), ("claimed",), author, "court", name)
        if code is not Code.OK:
            return code
        self.claim(name, victim).status.move("verified", t)
        return Code.OK

    def disburse(self, author: bytes, name: str, victim: bytes, t: int) -> Code:
        state = self.claim_state(name, victim)
        code = self.gate(state, ("verified", "confirmed"), author, "bank", name)
        if code is not Code.OK:
            return code
        c, case = self.claim(name, victim), self.cases[name]
        due = c.ordered - c.paid
        if due <= 0:
            return Code.WRONG_STATE
        if due > self.balances.get(case.custody, 0):
            return Code.INSUFFICIENT_FUNDS
        self.balances[case.custody] -= due
        self.balances[c.account] = self.balances.get(c.account, 0) + due
        c.paid = c.ordered
        c.status.move("paid", t)
        self.set_settlement(c, "paid", c.ordered, t)
        return Code.OK

    def confirm(self, author: bytes, name: str, t: int) -> Code:
        if (code := self.source(self.claim_state(name, author), ("paid",))) is not Code.OK:
            return code
        if self.roles.get(author) != "victim":
            return Code.WRONG_ROLE
        c = self.claim(name, author)
        c.status.move("confirmed", t)
        self.set_settlement(c, "confirmed", c.ordered, t)
        return Code.OK

    def write_off(self, author: bytes, name: str, victim: bytes, amount: int, t: int) -> Code:
        state = self.claim_state(name, victim)
        sources = ("", "claimed", "verified", "confirmed")
        if (code := self.gate(state, sources, author, "court", name)) is not Code.OK:
            return code
        if victim not in self.cases[name].entitled:
            return Code.NOT_FOUND
        c = self.claims.get((name, victim), ModelClaim())
        remainder = self.cases[name].entitled[victim] - c.paid
        if remainder <= 0:
            return Code.EXHAUSTED
        if amount != remainder:
            return Code.INVALID
        self.claims[(name, victim)] = c
        c.ordered, c.written_off = c.paid, amount
        c.status.move("written_off", t)
        if c.settlement is not None:
            self.set_settlement(c, "written_off", c.paid, t)
        return Code.OK
