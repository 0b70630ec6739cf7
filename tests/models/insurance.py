"""A reference model of insurance value-added services: policies, reservations, orders passing
between providers, contracts and settlement.

Plain dictionaries and lists, no indexes: the open orders of a provider are counted by scanning
every order, the late orders found by scanning them all. Each event method takes the block time
and returns the code the ledger must give, applying the event if it is ``OK``; ``start_block``
passes on the orders whose acceptance window has lapsed, as the ledger does before a block's
events.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from consortium.events.results import Code

OPEN = ("assigned", "accepted")


@dataclass
class ModelPolicy:
    insurer: bytes
    owner: bytes
    cover: dict[str, tuple[int, int]]
    """service -> (max count, max amount)."""
    valid_until_ms: int
    accept_within_ms: int
    active: bool = True
    used: dict[str, list[int]] = field(default_factory=dict)
    """service -> [count, amount] of completed orders."""
    reserved: dict[str, list[int]] = field(default_factory=dict)
    """service -> [count, amount] held by open orders."""

    def free(self, service: str) -> tuple[int, int]:
        count, amount = self.cover[service]
        used = self.used.get(service, [0, 0])
        held = self.reserved.get(service, [0, 0])
        return count - used[0] - held[0], amount - used[1] - held[1]

    def add(self, table: dict[str, list[int]], service: str, count: int, amount: int) -> None:
        row = table.setdefault(service, [0, 0])
        row[0] += count
        row[1] += amount


@dataclass
class ModelOrder:
    policy: bytes
    service: str
    region: str
    provider: bytes
    reserved: int
    accept_by_ms: int
    status: str = "assigned"
    declined: set[bytes] = field(default_factory=set)
    timed_out: set[bytes] = field(default_factory=set)
    covered: int = 0
    history: list[tuple[str, int]] = field(default_factory=list)
    """(status, block time) of every change."""


@dataclass
class InsuranceModel:
    roles: dict[bytes, str]
    offers: dict[bytes, set[tuple[str, str]]]
    """provider -> the (service, region) pairs it serves."""
    balances: dict[bytes, int]
    contracts: dict[bytes, set[bytes]] = field(default_factory=dict)
    """provider -> the insurers contracted with it."""
    policies: dict[bytes, ModelPolicy] = field(default_factory=dict)
    orders: dict[bytes, ModelOrder] = field(default_factory=dict)

    # ------------------------------------------------------------ helpers

    def load(self, provider: bytes) -> int:
        return sum(1 for o in self.orders.values() if o.provider == provider and o.status in OPEN)

    def select(
        self, insurer: bytes, service: str, region: str, excluded: set[bytes]
    ) -> bytes | None:
        eligible = [
            p
            for p, offers in self.offers.items()
            if (service, region) in offers
            and insurer in self.contracts.get(p, set())
            and p not in excluded
        ]
        return min(eligible, key=lambda p: (self.load(p), p), default=None)

    def _move(self, order: ModelOrder, status: str, time_ms: int) -> None:
        order.status = status
        order.history.append((status, time_ms))

    def _assign(self, order: ModelOrder, provider: bytes, time_ms: int) -> None:
        order.provider = provider
        order.accept_by_ms = time_ms + self.policies[order.policy].accept_within_ms
        self._move(order, "assigned", time_ms)

    def _release(self, order: ModelOrder, status: str, time_ms: int) -> None:
        policy = self.policies[order.policy]
        policy.add(policy.reserved, order.service, -1, -order.reserved)
        self._move(order, status, time_ms)

    def _pass_on(self, order: ModelOrder, time_ms: int) -> None:
        insurer = self.policies[order.policy].insurer
        excluded = order.declined | order.timed_out
        following = self.select(insurer, order.service, order.region, excluded)
        if following is None:
            self._release(order, "unassigned", time_ms)
        else:
            self._assign(order, following, time_ms)

    def _holder_code(self, order: ModelOrder, author: bytes) -> Code:
        if author in order.timed_out:
            return Code.DEADLINE
        if order.status == "unassigned" or author != order.provider:
            return Code.WRONG_ROLE
        return Code.OK

    # ------------------------------------------------------------- blocks

    def start_block(self, time_ms: int) -> None:
        late = sorted(
            (o.accept_by_ms, oid)
            for oid, o in self.orders.items()
            if o.status == "assigned" and o.accept_by_ms <= time_ms
        )
        for _, oid in late:
            order = self.orders[oid]
            order.timed_out.add(order.provider)
            self._pass_on(order, time_ms)

    # ------------------------------------------------------------- events

    def issue(self, policy_id: bytes, policy: ModelPolicy) -> Code:
        self.policies[policy_id] = policy
        return Code.OK

    def cancel_policy(self, policy_id: bytes, author: bytes) -> Code:
        policy = self.policies[policy_id]
        if author != policy.insurer:
            return Code.WRONG_ROLE
        if not policy.active:
            return Code.WRONG_STATE
        policy.active = False
        return Code.OK

    def contract(self, insurer: bytes, provider: bytes) -> Code:
        if self.roles[insurer] != "insurer":
            return Code.WRONG_ROLE
        if provider not in self.offers:
            return Code.NOT_FOUND
        if insurer in self.contracts.get(provider, set()):
            return Code.ALREADY_EXISTS
        self.contracts.setdefault(provider, set()).add(insurer)
        return Code.OK

    def end_contract(self, insurer: bytes, provider: bytes, time_ms: int) -> Code:
        if self.roles[insurer] != "insurer":
            return Code.WRONG_ROLE
        if provider not in self.offers or insurer not in self.contracts.get(provider, set()):
            return Code.NOT_FOUND
        self.contracts[provider].discard(insurer)
        for oid in sorted(self.orders):
            order = self.orders[oid]
            if (
                order.provider == provider
                and order.status == "assigned"
                and self.policies[order.policy].insurer == insurer
            ):
                self._pass_on(order, time_ms)
        return Code.OK

    def request(
        self,
        order_id: bytes,
        author: bytes,
        policy_id: bytes,
        service: str,
        region: str,
        time_ms: int,
    ) -> Code:
        policy = self.policies.get(policy_id)
        if policy is None:
            return Code.NOT_FOUND
        if author != policy.owner:
            return Code.WRONG_ROLE
        if not policy.active:
            return Code.WRONG_STATE
        if time_ms >= policy.valid_until_ms:
            return Code.DEADLINE
        if service not in policy.cover:
            return Code.INVALID
        count, amount = policy.free(service)
        if count <= 0 or amount <= 0:
            return Code.EXHAUSTED
        provider = self.select(policy.insurer, service, region, set())
        if provider is None:
            return Code.NOT_FOUND
        share = -(-amount // count)
        policy.add(policy.reserved, service, 1, share)
        order = ModelOrder(policy_id, service, region, provider, share, 0)
        self.orders[order_id] = order
        self._assign(order, provider, time_ms)
        return Code.OK

    def _held(self, order_id: bytes, author: bytes, status: str) -> ModelOrder | Code:
        """The order, if ``author`` holds it and it is in ``status``; else the refusal."""
        order = self.orders.get(order_id)
        if order is None:
            return Code.NOT_FOUND
        if (code := self._holder_code(order, author)) is not Code.OK:
            return code
        if order.status != status:
            return Code.WRONG_STATE
        return order

    def accept(self, order_id: bytes, author: bytes, time_ms: int) -> Code:
        order = self._held(order_id, author, "assigned")
        if isinstance(order, Code):
            return order
        self._move(order, "accepted", time_ms)
        return Code.OK

    def decline(self, order_id: bytes, author: bytes, time_ms: int) -> Code:
        order = self._held(order_id, author, "assigned")
        if isinstance(order, Code):
            return order
        order.declined.add(author)
        self._pass_on(order, time_ms)
        return Code.OK

    def cancel(self, order_id: bytes, author: bytes, time_ms: int) -> Code:
        order = self.orders.get(order_id)
        if order is None:
            return Code.NOT_FOUND
        if author != self.policies[order.policy].owner:
            return Code.WRONG_ROLE
        if order.status not in OPEN:
            return Code.WRONG_STATE
        self._release(order, "cancelled", time_ms)
        return Code.OK

    def complete(self, order_id: bytes, author: bytes, cost: int, time_ms: int) -> Code:
        order = self._held(order_id, author, "accepted")
        if isinstance(order, Code):
            return order
        policy = self.policies[order.policy]
        _, free = policy.free(order.service)
        order.covered = min(cost, order.reserved + free)
        policy.add(policy.reserved, order.service, -1, -order.reserved)
        policy.add(policy.used, order.service, 1, order.covered)
        self._move(order, "completed", time_ms)
        return Code.OK

    def settle(self, order_id: bytes, author: bytes, time_ms: int) -> Code:
        order = self.orders.get(order_id)
        if order is None:
            return Code.NOT_FOUND
        insurer = self.policies[order.policy].insurer
        if author != insurer:
            return Code.WRONG_ROLE
        if order.status == "paid":
            return Code.ALREADY_EXISTS
        if order.status != "completed":
            return Code.WRONG_STATE
        if self.balances[insurer] < order.covered:
            return Code.INSUFFICIENT_FUNDS
        self.balances[insurer] -= order.covered
        self.balances[order.provider] += order.covered
        self._move(order, "paid", time_ms)
        return Code.OK

    # ---------------------------------------------------------- read models

    def entitlements(self, policy_id: bytes) -> list[tuple[str, int, int, int, int]]:
        """(service, count remaining, amount remaining, count reserved, amount reserved)."""
        policy = self.policies[policy_id]
        rows = []
        for service in policy.cover:
            count, amount = policy.free(service)
            held = policy.reserved.get(service, [0, 0])
            rows.append((service, count, amount, held[0], held[1]))
        return rows

    def spending(self) -> dict[bytes, int]:
        totals: dict[bytes, int] = {}
        for order in self.orders.values():
            if order.status == "paid":
                insurer = self.policies[order.policy].insurer
                totals[insurer] = totals.get(insurer, 0) + order.covered
        return totals
