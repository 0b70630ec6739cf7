"""Random interleavings of insurance events, several per block, with clock jumps that let
acceptance windows lapse and policies expire, contracts made and ended, against the rules core
and the reference model; every event's code must agree, and after every step the orders (with
their status histories), the providers' loads and contracts, the owners' entitlements in the
accounts projection, the balances and the insurers' spending."""

from __future__ import annotations

import msgspec
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from consortium.events.body import EventBody
from consortium.events.envelope import event_id
from consortium.events.identity import Identity
from consortium.events.insurance import (
    AcceptOrder,
    CancelOrder,
    CancelPolicy,
    CompleteOrder,
    ContractProvider,
    Coverage,
    DeclineOrder,
    EndContract,
    IssuePolicy,
    RegisterProvider,
    RequestService,
    SettleOrder,
)
from consortium.events.payments import IssueTokens, RegisterParticipant
from consortium.rules.insurance import value_added_spending
from consortium.rules.tables import account_key
from tests.ledger_fixtures import ADMIN, Ledger, ident, rules_ledger, same_projections
from tests.models.insurance import OPEN, InsuranceModel, ModelPolicy
from tests.stateful import SETTINGS, Block, ModelStep
from tests.test_rules_payments import balance

I1, I2 = ident("insurer-1"), ident("insurer-2")
O1, O2 = ident("owner-1"), ident("owner-2")
P1, P2, P3 = ident("provider-1"), ident("provider-2"), ident("provider-3")
PROVIDERS = (P1, P2, P3)
OFFERS = {
    P1: (("towing", "fuel"), ("north",)),
    P2: (("towing",), ("north", "south")),
    P3: (("towing", "fuel"), ("north",)),
}
CONTRACTS = ((I1, P1), (I1, P2), (I2, P2), (I2, P3))
FUNDS = {I1: 10_000, I2: 250}
POLICIES = (  # insurer, owner, coverage, valid until, acceptance window
    (I1, O1, (Coverage("towing", 3, 1_000), Coverage("fuel", 2, 300)), 60_000, 3_000),
    (I2, O2, (Coverage("towing", 2, 500),), 30_000, 1_500),
)
HOLDER = "holder"
"""Stands for the provider the model says holds the order when the event is queued."""

insurers = st.sampled_from((I1, I2))
maybe_owner = st.sampled_from((None, None, None, O1, O2))
"""None stands for the policy's own car owner."""
providers = st.sampled_from(PROVIDERS)
acting = st.sampled_from((HOLDER,) * 4 + (P1, P2, P3, O1))
picks = st.integers(0, 50)


class InsuranceMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ledger: Ledger = rules_ledger()
        roles = {I1: "insurer", I2: "insurer", O1: "car_owner", O2: "car_owner"}
        roles |= {p: "provider" for p in PROVIDERS}
        self._setup(
            [
                (ADMIN, RegisterParticipant(participant=w.public_key, name=w.name, role=r))
                for w, r in roles.items()
            ],
            [
                (ADMIN, IssueTokens(token="EUR", to=w.public_key, amount=a))
                for w, a in FUNDS.items()
            ],
            [(p, RegisterProvider(services=s, regions=r)) for p, (s, r) in OFFERS.items()],
            [(i, ContractProvider(provider=p.public_key)) for i, p in CONTRACTS],
        )
        offers = {
            p.public_key: {(s, r) for s in services for r in regions}
            for p, (services, regions) in OFFERS.items()
        }
        self.model = InsuranceModel(
            {w.public_key: r for w, r in roles.items()},
            offers,
            {w.public_key: FUNDS.get(w, 0) for w in (I1, I2, *PROVIDERS)},
        )
        for i, p in CONTRACTS:
            self.model.contract(i.public_key, p.public_key)
        self.policies = [self._issue(*policy) for policy in POLICIES]
        self.time = 2_000
        self.block = Block()
        self.orders: list[bytes] = []

    def _setup(self, *blocks: list[tuple[Identity, EventBody]]) -> None:
        for events in blocks:
            results = self.ledger.run(*[self.ledger.sign(w, body) for w, body in events])
            assert all(r.accepted for r in results), results

    def _issue(
        self,
        insurer: Identity,
        owner: Identity,
        cover: tuple[Coverage, ...],
        until: int,
        within: int,
    ) -> bytes:
        body = IssuePolicy(
            owner=owner.public_key,
            token="EUR",
            coverage=cover,
            valid_from_ms=0,
            valid_until_ms=until,
            accept_within_ms=within,
        )
        envelope = self.ledger.sign(insurer, body)
        assert self.ledger.run(envelope)[0].accepted
        policy = ModelPolicy(
            insurer.public_key,
            owner.public_key,
            {c.service: (c.max_count, c.max_amount) for c in cover},
            until,
            within,
        )
        self.model.issue(event_id(envelope), policy)
        return event_id(envelope)

    def _queue(self, author: Identity, body: EventBody, step: ModelStep) -> bytes:
        envelope = self.ledger.sign(author, body)
        self.block.add(envelope, step)
        return event_id(envelope)

    def _order(self, pick: int) -> bytes | None:
        """Mostly one of the latest orders the model knows, else any, now and then any request
        sent (refused ones too)."""
        known = list(self.model.orders)
        if known and pick < 30:
            return known[-1 - pick % min(3, len(known))]  # one of the latest three
        if known and pick < 45:
            return known[pick % len(known)]
        return self.orders[pick % len(self.orders)] if self.orders else None

    def _owner(self, policy: bytes, who: Identity | None) -> Identity:
        """``who``, or the policy's own car owner when None."""
        if who is not None:
            return who
        return O1 if self.model.policies[policy].owner == O1.public_key else O2

    def _author(self, order: bytes, who: Identity | str) -> Identity:
        if isinstance(who, Identity):
            return who
        held = self.model.orders.get(order)
        return next((p for p in PROVIDERS if held and p.public_key == held.provider), P1)

    @rule(
        cancel=st.sampled_from((False, False, False, True)),
        who=maybe_owner,
        pick=picks,
        service=st.sampled_from(("towing",) * 4 + ("fuel", "repair")),
        region=st.sampled_from(("north", "north", "south")),
    )
    def owner_acts(
        self, cancel: bool, who: Identity | None, pick: int, service: str, region: str
    ) -> None:
        """A car owner (most often the policy's own) asks for a service or cancels an order."""
        if cancel:
            if (order := self._order(pick)) is not None:
                held = self.model.orders.get(order)
                owner = self._owner(held.policy, who) if held else who or O1
                key = owner.public_key
                self._queue(
                    owner, CancelOrder(order=order), lambda t: self.model.cancel(order, key, t)
                )
            return
        policy = self.policies[pick % 2]
        owner = self._owner(policy, who)
        body = RequestService(policy=policy, service=service, region=region)
        envelope = self.ledger.sign(owner, body)
        order = event_id(envelope)
        self.orders.append(order)
        self.block.add(
            envelope,
            lambda t: self.model.request(order, owner.public_key, policy, service, region, t),
        )

    @rule(
        action=st.sampled_from(("advance",) * 4 + ("accept", "decline", "complete")),
        pick=picks,
        who=acting,
        cost=st.integers(1, 700),
    )
    def provider_acts(self, action: str, pick: int, who: Identity | str, cost: int) -> None:
        """A provider (usually the one holding the order) accepts, declines or completes; to
        advance is to do whichever of accept and complete the order's state calls for."""
        if (order := self._order(pick)) is None:
            return
        author = self._author(order, who)
        key = author.public_key
        if action == "advance":
            held = self.model.orders.get(order)
            action = "complete" if held and held.status == "accepted" else "accept"
        if action == "accept":
            self._queue(
                author, AcceptOrder(order=order), lambda t: self.model.accept(order, key, t)
            )
        elif action == "decline":
            self._queue(
                author, DeclineOrder(order=order), lambda t: self.model.decline(order, key, t)
            )
        else:
            self._queue(
                author,
                CompleteOrder(order=order, cost=cost, record="done"),
                lambda t: self.model.complete(order, key, cost, t),
            )

    @rule(
        action=st.sampled_from(("settle",) * 4 + ("contract",) * 2 + ("end",) * 2 + ("cancel",)),
        insurer=insurers,
        provider=providers,
        pick=picks,
    )
    def insurer_acts(self, action: str, insurer: Identity, provider: Identity, pick: int) -> None:
        """An insurer settles an order (most often its own), contracts a provider, ends a
        contract, or cancels a policy."""
        i, p, policy = insurer.public_key, provider.public_key, self.policies[pick % 2]
        done = [oid for oid, o in self.model.orders.items() if o.status == "completed"]
        if action == "settle" and done and pick % 3:
            order: bytes | None = done[pick % len(done)]
        else:
            order = self._order(pick)
        if action == "settle" and order is not None:
            held = self.model.orders.get(order)
            if held and pick % 3:
                insurer = I1 if self.model.policies[held.policy].insurer == I1.public_key else I2
            payer = insurer.public_key
            self._queue(
                insurer, SettleOrder(order=order), lambda t: self.model.settle(order, payer, t)
            )
        elif action == "contract":
            self._queue(insurer, ContractProvider(provider=p), lambda t: self.model.contract(i, p))
        elif action == "end":
            self._queue(
                insurer, EndContract(provider=p), lambda t: self.model.end_contract(i, p, t)
            )
        elif action == "cancel":
            self._queue(
                insurer, CancelPolicy(policy=policy), lambda t: self.model.cancel_policy(policy, i)
            )

    @rule(jump=st.sampled_from([1, 1, 50, 100, 300, 1_000, 5_000]))
    def close_block(self, jump: int) -> None:
        self.time += jump
        self.block.run(self.ledger, self.time, self.model.start_block)
        self.projections_agree()  # the state moves only here

    def teardown(self) -> None:
        """What is still queued runs too, so a run's last events are judged as well; replaying
        every block from the genesis gives the same projections."""
        self.close_block(1)
        assert same_projections(self.ledger.replayed(), self.ledger.state)

    def projections_agree(self) -> None:
        state, model = self.ledger.state, self.model
        assert len(list(state.rows("insurance_orders"))) == len(model.orders)
        for oid, expected in model.orders.items():
            row = state.get("insurance_orders", oid)
            assert (row.provider, row.status, row.reserved, row.accept_by_ms, row.covered) == (
                expected.provider,
                expected.status,
                expected.reserved,
                expected.accept_by_ms,
                expected.covered,
            )
            assert row.declined == tuple(sorted(expected.declined))
            assert row.timed_out == tuple(sorted(expected.timed_out))
            shared = state.get("orders", oid)
            assert [(c.status, c.time_ms) for c in shared.history] == expected.history
            assert shared.parties[1] == expected.provider
        for p in PROVIDERS:
            row = state.get("insurance_providers", p.public_key)
            held = sorted(
                oid
                for oid, o in model.orders.items()
                if o.provider == p.public_key and o.status in OPEN
            )
            assert list(row.open_orders) == held
            assert set(row.insurers) == model.contracts.get(p.public_key, set())
        for owner in (O1, O2):
            account = state.get("accounts", account_key(owner.public_key, "EUR"))
            got = [msgspec.structs.astuple(e) for e in account.entitlements]
            want = sorted(
                (pid, *row)
                for pid, policy in model.policies.items()
                if policy.owner == owner.public_key
                for row in model.entitlements(pid)
            )
            assert got == want
        for key, amount in model.balances.items():
            assert balance(self.ledger, key) == amount
        assert value_added_spending(state) == model.spending()


InsuranceMachine.TestCase.settings = settings(SETTINGS, stateful_step_count=40)
test_insurance_against_the_model = InsuranceMachine.TestCase
