"""Random interleavings of payments events, several per block, with clock jumps, certificates
issued and revoked, against the rules core and the reference model; after every block the
accounts projection, the holds and the certificates must agree."""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from consortium.events.credit import (
    IssueCertificate,
    Leg,
    LinkedTransfers,
    Pay,
    PendingTransfer,
    PostTransfer,
    RevokeCertificate,
    VoidTransfer,
)
from consortium.events.envelope import event_id
from consortium.events.identity import Identity
from consortium.events.payments import IssueTokens, RegisterParticipant, Transfer
from consortium.rules.credit import hold_account
from tests.ledger_fixtures import ADMIN, BOB, Ledger, ident, rules_ledger
from tests.models.payments import PaymentsModel
from tests.stateful import SETTINGS, Block
from tests.test_rules_payments import balance

ENT, MER = ident("enterprise"), ident("merchant")
USERS = (ENT, MER, BOB)
FUNDS = 100
who = st.sampled_from(USERS)
amounts = st.integers(1, 60)


class PaymentsMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ledger: Ledger = rules_ledger()
        roles = ((ENT, "enterprise"), (MER, "merchant"))
        self.ledger.run(
            *[
                self.ledger.sign(
                    ADMIN, RegisterParticipant(participant=w.public_key, name=w.name, role=r)
                )
                for w, r in roles
            ],
            time_ms=1_000,
        )
        self.ledger.run(
            *[
                self.ledger.sign(ADMIN, IssueTokens(token="EUR", to=u.public_key, amount=FUNDS))
                for u in USERS
            ],
            time_ms=1_500,
        )
        keys = frozenset(u.public_key for u in USERS)
        self.model = PaymentsModel(keys, {k: FUNDS for k in keys})
        self.time = 2_000
        self.block = Block()
        self.holds: list[bytes] = []

    def _queue(self, author: Identity, body: object, step) -> bytes:  # type: ignore[no-untyped-def]
        envelope = self.ledger.sign(author, body)  # type: ignore[arg-type]
        self.block.add(envelope, step)
        return envelope

    @rule(subject=who, validity=st.integers(1, 5_000))
    def certify(self, subject: Identity, validity: int) -> None:
        until = self.time + validity
        body = IssueCertificate(subject=subject.public_key, valid_until_ms=until)
        self._queue(ADMIN, body, lambda t: self.model.certify(subject.public_key, until, t))

    @rule(subject=who)
    def revoke(self, subject: Identity) -> None:
        body = RevokeCertificate(subject=subject.public_key)
        self._queue(ADMIN, body, lambda t: self.model.revoke(subject.public_key))

    @rule(payer=who, payee=who, amount=amounts)
    def transfer(self, payer: Identity, payee: Identity, amount: int) -> None:
        body = Transfer(token="EUR", to=payee.public_key, amount=amount)
        self._queue(
            payer,
            body,
            lambda t: self.model.transfer(payer.public_key, payee.public_key, amount, t),
        )

    @rule(payer=who, amount=amounts)
    def pay(self, payer: Identity, amount: int) -> None:
        body = Pay(merchant=MER.public_key, token="EUR", amount=amount)
        self._queue(
            payer, body, lambda t: self.model.pay(payer.public_key, MER.public_key, amount, t)
        )

    @rule(payer=who, legs=st.lists(st.tuples(who, amounts), min_size=1, max_size=3))
    def linked(self, payer: Identity, legs: list[tuple[Identity, int]]) -> None:
        body = LinkedTransfers(
            legs=tuple(Leg(to=p.public_key, token="EUR", amount=a) for p, a in legs)
        )
        plain = [(p.public_key, a) for p, a in legs]
        self._queue(payer, body, lambda t: self.model.linked(payer.public_key, plain, t))

    @rule(payer=who, payee=who, amount=amounts, timeout=st.integers(-500, 4_000))
    def hold(self, payer: Identity, payee: Identity, amount: int, timeout: int) -> None:
        until = max(0, self.time + timeout)
        body = PendingTransfer(token="EUR", to=payee.public_key, amount=amount, timeout_ms=until)
        envelope = self.ledger.sign(payer, body)
        hold_id = event_id(envelope)
        self.holds.append(hold_id)
        self.block.add(
            envelope,
            lambda t: self.model.hold(
                hold_id, payer.public_key, payee.public_key, amount, until, t
            ),
        )

    @rule(author=who, pick=st.integers(0, 50), post=st.booleans())
    def finish(self, author: Identity, pick: int, post: bool) -> None:
        if not self.holds:
            return
        hold_id = self.holds[pick % len(self.holds)]
        body = PostTransfer(pending=hold_id) if post else VoidTransfer(pending=hold_id)
        self._queue(author, body, lambda t: self.model.finish(hold_id, author.public_key, post, t))

    @rule(jump=st.sampled_from([1, 10, 500, 2_000, 6_000]))
    def close_block(self, jump: int) -> None:
        self.time += jump
        self.block.run(self.ledger, self.time, self.model.start_block)

    @invariant()
    def projections_agree(self) -> None:
        state = self.ledger.state
        for user in USERS:
            assert balance(self.ledger, user.public_key) == self.model.balances[user.public_key]
        held = sum(balance(self.ledger, hold_account(h)) for h in set(self.holds))
        assert held == self.model.held()
        for key, (until, revoked) in self.model.certificates.items():
            cert = state.get("credit_certificates", key)
            assert (cert.valid_until_ms, cert.revoked) == (until, revoked)
        total = sum(a.balance for _, a in state.rows("accounts") if a.token == "EUR")
        assert total == FUNDS * len(USERS)  # conserved


PaymentsMachine.TestCase.settings = SETTINGS
test_payments_against_the_model = PaymentsMachine.TestCase
