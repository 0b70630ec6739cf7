"""Random interleavings of rebate events, several per block and often in conflict (two
promotions of one purchase, a merchant draining its account while its rebate is held, a claim
racing the rebate time, signer sets one short or one too many), with clock jumps across rebate
times and certificates revoked, against the rules core and the reference model; every event's
code must agree, and after every block the balances (holds included), the orders, the rebate
settlements and the promotions must equal the model's, every status agreeing with the last
entry of its own history."""

from __future__ import annotations

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from consortium.events.body import EventBody
from consortium.events.credit import IssueCertificate, RevokeCertificate
from consortium.events.envelope import add_signatures, event_id
from consortium.events.identity import Identity
from consortium.events.payments import IssueTokens, RegisterParticipant, Transfer
from consortium.events.rebate import NewPurchase, Promotion, Purchase, RebateClaim
from consortium.rules.credit import hold_account
from tests.ledger_fixtures import ADMIN, CHAIN, Ledger, ident, rules_ledger, same_projections
from tests.models.rebate import ModelPromotion, RebateModel
from tests.stateful import SETTINGS, Block
from tests.test_rules_payments import balance

M1, M2 = ident("merchant-1"), ident("merchant-2")
C1, C2 = ident("customer-1"), ident("customer-2")
T1, T2 = ident("third-1"), ident("third-2")
PARTIES = (M1, M2, C1, C2, T1, T2)
ROLES = {M1: "merchant", M2: "merchant", C1: "customer", C2: "customer", T1: "user", T2: "user"}
FUNDS = {M2: 40, C1: 5_000, C2: 600, T1: 3_000, T2: 200}

SIGNERS = ("exact",) * 12 + ("short", "extra", "merchant")
"""How an artefact is signed: as the rules want, one signer short, one stranger more, or
(for a claim) with the merchant's signature the claim must not carry."""
merchants = st.sampled_from((M1, M1, M2))
customers = st.sampled_from((C1, C1, C2))
signing = st.sampled_from(SIGNERS)
picks = st.integers(0, 40)


class RebateMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ledger: Ledger = rules_ledger()
        self._setup(
            [
                (ADMIN, RegisterParticipant(participant=w.public_key, name=w.name, role=r))
                for w, r in ROLES.items()
            ],
            [(ADMIN, IssueTokens(token="EUR", to=w.public_key, amount=a)) for w, a in FUNDS.items()]
            + [
                (ADMIN, IssueCertificate(subject=w.public_key, valid_until_ms=10**12))
                for w in PARTIES
            ],
        )
        self.model = RebateModel({w.public_key: FUNDS.get(w, 0) for w in PARTIES})
        self.time = 2_000
        self.block = Block()
        self.purchases: list[bytes] = []
        self.promotions: list[bytes] = []

    def _setup(self, *blocks: list[tuple[Identity, EventBody]]) -> None:
        for events in blocks:
            results = self.ledger.run(*[self.ledger.sign(w, body) for w, body in events])
            assert all(r.accepted for r in results), results

    def _signed(
        self,
        author: Identity,
        body: EventBody,
        others: list[Identity],
        how: str,
        merchant: Identity | None = None,
    ) -> tuple[bytes, tuple[bytes, ...]]:
        """The envelope signed by ``author`` and ``others`` as ``how`` says, and its signers;
        ``merchant`` is the signature a claim must not carry."""
        if how == "short" and others:
            others = others[:-1]
        elif how == "merchant" and merchant is not None:
            others = [*others, merchant]
        elif how in ("extra", "merchant") and (extra := _stranger(author, others)):
            others = [*others, extra]
        envelope = add_signatures(self.ledger.sign(author, body), CHAIN, others)
        return envelope, (author.public_key, *(o.public_key for o in others))

    @staticmethod
    def _pick(accepted: list[bytes], queued: list[bytes], pick: int) -> bytes | None:
        """Mostly one of the latest accepted, now and then any queued (refused ones too)."""
        if accepted and pick < 34:
            return accepted[-1 - pick % min(3, len(accepted))]
        return queued[pick % len(queued)] if queued else None

    def _who(self, key: bytes) -> Identity:
        return next(p for p in PARTIES if p.public_key == key)

    @rule(customer=customers, merchant=merchants, amount=st.integers(1, 250), how=signing)
    def purchase(self, customer: Identity, merchant: Identity, amount: int, how: str) -> None:
        body = Purchase(merchant=merchant.public_key, token="EUR", amount=amount)
        envelope, signers = self._signed(customer, body, [merchant], how)
        order, m = event_id(envelope), merchant.public_key
        self.purchases.append(order)
        self.block.add(envelope, lambda t: self.model.purchase(order, signers, m, amount, t))

    @rule(
        pick=picks,
        third=st.sampled_from((T1, T1, T2, T2, C2)),
        percent=st.sampled_from((1, 30, 50, 80, 99) * 2 + (100, 120)),
        delay=st.sampled_from((1, 300, 2_000, 2_000, 10_000, 10_000)),
        rebate=st.integers(1, 60),
        how=signing,
        stranger=st.sampled_from((None,) * 10 + (M1, C2)),
    )
    def promote(
        self,
        pick: int,
        third: Identity,
        percent: int,
        delay: int,
        rebate: int,
        how: str,
        stranger: Identity | None,
    ) -> None:
        """The merchant of a purchase (or now and then someone else) promotes it, at a new
        price of ``percent`` of the purchase's (100 and more are refused)."""
        promoted = {p.purchase for p in self.model.promotions.values()}
        accepted = [
            o
            for o, row in self.model.orders.items()
            if row.kind == "rebate.purchase" and (o not in promoted or pick % 5 == 0)
        ]
        if (purchase := self._pick(accepted, self.purchases, pick)) is None:
            return
        known = self.model.orders.get(purchase)
        customer, merchant = (
            (self._who(known.parties[0]), self._who(known.parties[1])) if known else (C1, M1)
        )
        author = stranger or merchant
        price = max(1, (known.amount if known else 100) * percent // 100)
        body = Promotion(
            purchase=purchase,
            customer=customer.public_key,
            third_party=third.public_key,
            new_price=price,
            rebate_time_ms=self.time + delay,
            rebate_amount=rebate,
        )
        envelope, signers = self._signed(author, body, [customer, third], how)
        promotion = event_id(envelope)
        fields = ModelPromotion(
            author.public_key,
            customer.public_key,
            third.public_key,
            purchase,
            price,
            self.time + delay,
            rebate,
            hold_account(promotion),
        )
        self.promotions.append(promotion)
        self.block.add(envelope, lambda t: self.model.promote(promotion, signers, fields, t))

    @rule(
        pick=picks, claim=st.booleans(), how=signing, wrong=st.sampled_from((False,) * 6 + (True,))
    )
    def follow_up(self, pick: int, claim: bool, how: str, wrong: bool) -> None:
        """The new purchase (by the merchant, signed by all three) or the claim (by the
        customer, signed by it and the third party); now and then by the wrong party."""
        accepted = [
            pid for pid, p in self.model.promotions.items() if p.status == "open" or pick % 5 == 0
        ]
        if (promotion := self._pick(accepted, self.promotions, pick)) is None:
            return
        p = self.model.promotions.get(promotion)
        merchant, customer, third = (
            (self._who(p.merchant), self._who(p.customer), self._who(p.third_party))
            if p
            else (M1, C1, T1)
        )
        if claim:
            author, others = (third, [customer]) if wrong else (customer, [third])
            body: EventBody = RebateClaim(promotion=promotion)
            envelope, signers = self._signed(author, body, others, how, merchant)
            event = event_id(envelope)
            self.block.add(envelope, lambda t: self.model.claim(event, promotion, signers, t))
            return
        author, others = (customer, [third, merchant]) if wrong else (merchant, [third, customer])
        envelope, signers = self._signed(author, NewPurchase(promotion=promotion), others, how)
        event = event_id(envelope)
        self.block.add(envelope, lambda t: self.model.new_purchase(event, promotion, signers, t))

    @rule(merchant=merchants, to=customers, all_of_it=st.booleans(), amount=st.integers(1, 300))
    def merchant_spends(
        self, merchant: Identity, to: Identity, all_of_it: bool, amount: int
    ) -> None:
        """A merchant tries to drain its account (held rebates included) or spends some."""
        payer, payee = merchant.public_key, to.public_key
        if all_of_it:
            held = sum(
                p.rebate_amount
                for p in self.model.promotions.values()
                if p.merchant == payer and p.status == "open"
            )
            amount = max(1, self.model.balances.get(payer, 0) + held)
        body = Transfer(token="EUR", to=payee, amount=amount)
        envelope = self.ledger.sign(merchant, body)
        order = event_id(envelope)
        self.block.add(envelope, lambda t: self.model.transfer(order, payer, payee, amount, t))

    @rule(who=st.sampled_from((None,) * 30 + PARTIES))
    def revoke(self, who: Identity | None) -> None:
        """Now and then (None: not this time) an organisation revokes a party's certificate."""
        if who is None:
            return
        key = who.public_key
        self.block.add(
            self.ledger.sign(ADMIN, RevokeCertificate(subject=key)),
            lambda t: self.model.revoke(key),
        )

    @rule(jump=st.sampled_from([1, 1, 30, 200, 1_000, 5_000]))
    def close_block(self, jump: int) -> None:
        self.time += jump
        self.block.run(self.ledger, self.time, self.model.start_block)
        self.projections_agree()

    def teardown(self) -> None:
        """What is still queued runs, then a block past every rebate time; replaying every
        block gives the same projections."""
        self.close_block(1)
        self.close_block(10_000)
        assert same_projections(self.ledger.replayed(), self.ledger.state)

    def projections_agree(self) -> None:
        state, model = self.ledger.state, self.model
        for key, amount in model.balances.items():
            assert balance(self.ledger, key) == amount, key.hex()[:16]
        for _, account in state.rows("accounts"):  # no account the model does not know
            assert account.balance == model.balances.get(account.owner, 0)
        assert {k for k, _ in state.rows("settlements")} == set(model.promotions)
        assert {k for k, _ in state.rows("rebate_promotions")} == set(model.promotions)
        for pid, p in model.promotions.items():
            assert balance(self.ledger, p.hold) == (p.rebate_amount if p.status == "open" else 0)
            row = state.get("rebate_promotions", pid)
            assert (row.status, row.new_purchase, row.claim) == (p.status, p.new_purchase, p.claim)
            assert state.get("rebate_by_purchase", p.purchase) == pid
            settlement = state.get("settlements", pid)
            assert (settlement.debtor, settlement.creditor, settlement.amount) == (
                p.merchant,
                p.customer,
                p.rebate_amount,
            )
            assert [(c.status, c.time_ms) for c in settlement.history] == p.settlement
        assert {k for k, _ in state.rows("orders")} == set(model.orders)
        for oid, expected in model.orders.items():
            order = state.get("orders", oid)
            assert (order.kind, order.parties, order.amount) == (
                expected.kind,
                expected.parties,
                expected.amount,
            )
            assert [(c.status, c.time_ms) for c in order.history] == expected.history
        for table in ("orders", "settlements"):
            for _, row in state.rows(table):
                assert row.status == row.history[-1].status


def _stranger(author: Identity, others: list[Identity]) -> Identity | None:
    """A party the artefact does not name: a merchant for a claim, else someone unrelated."""
    named = {author.public_key, *(o.public_key for o in others)}
    return next((p for p in PARTIES if p.public_key not in named), None)


RebateMachine.TestCase.settings = settings(SETTINGS, stateful_step_count=50)
test_rebate_against_the_model = RebateMachine.TestCase
