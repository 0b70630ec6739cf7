"""Random interleavings of payments events, several per block, with clock jumps (one past the
settlement limit), certificates issued and revoked, payments on credit, settlements started,
confirmed, cancelled and lapsing (a confirmation and a cancellation of one settlement in one
block among them), against the rules core and the reference model; after every block the
accounts, orders and settlements projections (statuses and histories), the holds, bills, credit
used and certificates must agree, and every status must be the last entry of its history."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from consortium.events.credit import (
    CancelSettlement,
    ConfirmSettlement,
    GrantCredit,
    IssueCertificate,
    Leg,
    LinkedTransfers,
    Pay,
    PendingTransfer,
    PostTransfer,
    RevokeCertificate,
    StartSettlement,
    VoidTransfer,
)
from consortium.events.envelope import add_signatures, event_id
from consortium.events.identity import Identity
from consortium.events.payments import IssueTokens, RegisterParticipant, Transfer
from consortium.events.results import Code
from consortium.rules.credit import SETTLEMENT_CONFIRM_WITHIN_MS, hold_account, line_key
from tests.ledger_fixtures import ADMIN, BOB, CHAIN, Ledger, ident, rules_ledger, same_projections
from tests.models.payments import Bill, PaymentsModel
from tests.stateful import SETTINGS, Block
from tests.test_rules_payments import balance

ENT, MER = ident("enterprise"), ident("merchant")
USERS = (ENT, MER, BOB)
FUNDS = {ENT: 20, MER: 100, BOB: 100}
"""The enterprise starts short, so most of its payments raise bills."""
LIMIT = 1_000
CERTIFIED_UNTIL = 10**12
NO_BILL = Bill(b"", b"", 0, "no bill")
who = st.sampled_from(USERS)
amounts = st.integers(1, 60)
picks = st.integers(0, 50)
Step = Callable[[bytes, int], bool | Code]
"""The model's version of one event: given its id and the block time."""


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
                self.ledger.sign(ADMIN, IssueTokens(token="EUR", to=u.public_key, amount=FUNDS[u]))
                for u in USERS
            ],
            time_ms=1_500,
        )
        grant = self.ledger.sign(
            MER, GrantCredit(enterprise=ENT.public_key, token="EUR", limit=LIMIT)
        )
        # The enterprise starts certified for longer than any run, so it pays until revoked.
        certify = IssueCertificate(subject=ENT.public_key, valid_until_ms=CERTIFIED_UNTIL)
        results = self.ledger.run(
            add_signatures(grant, CHAIN, [ENT]), self.ledger.sign(ADMIN, certify), time_ms=1_800
        )
        assert all(r.accepted for r in results)
        keys = frozenset(u.public_key for u in USERS)
        self.model = PaymentsModel(
            keys, {u.public_key: FUNDS[u] for u in USERS}, SETTLEMENT_CONFIRM_WITHIN_MS
        )
        self.model.grant(MER.public_key, ENT.public_key, LIMIT)
        self.model.certify(ENT.public_key, CERTIFIED_UNTIL, 1_800)
        self.time = 2_000
        self.block = Block()
        self.holds: list[bytes] = []
        self.pays: list[bytes] = []
        self.settlements: list[bytes] = []
        self.block_size = 8

    @initialize(size=st.integers(2, 8))
    def choose_block_size(self, size: int) -> None:
        """A full block (``size`` events) closes 1 ms later, besides the clock jumps,
        so a run has several blocks and a settlement can start, then end, blocks apart."""
        self.block_size = size

    def _queue(self, author: Identity, body: object, step: Step) -> bytes:
        """Queue ``body`` signed by ``author`` for the next block (closing a full one first);
        its event id."""
        if len(self.block.envelopes) >= self.block_size:
            self.close_block(1)
        envelope = self.ledger.sign(author, body)  # type: ignore[arg-type]
        eid = event_id(envelope)
        self.block.add(envelope, lambda t: step(eid, t))
        return eid

    def _pick(self, ids: list[bytes], pick: int) -> bytes:
        """One of ``ids``, counting back from the newest (small picks are the likeliest)."""
        return ids[-1 - pick % len(ids)]

    @rule(subject=who, validity=st.integers(1, 5_000) | st.just(CERTIFIED_UNTIL))
    def certify(self, subject: Identity, validity: int) -> None:
        until = self.time + validity
        body = IssueCertificate(subject=subject.public_key, valid_until_ms=until)
        self._queue(ADMIN, body, lambda e, t: self.model.certify(subject.public_key, until, t))

    @rule(subject=who)
    def revoke(self, subject: Identity) -> None:
        body = RevokeCertificate(subject=subject.public_key)
        self._queue(ADMIN, body, lambda e, t: self.model.revoke(subject.public_key))

    @rule(amount=st.integers(1, 200))
    def fund(self, amount: int) -> None:
        """The issuer gives the enterprise tokens, so it can pay what it settles."""
        body = IssueTokens(token="EUR", to=ENT.public_key, amount=amount)
        self._queue(ADMIN, body, lambda e, t: self.model.issue(ENT.public_key, amount))

    @rule(payer=who, payee=who, amount=amounts)
    def transfer(self, payer: Identity, payee: Identity, amount: int) -> None:
        body = Transfer(token="EUR", to=payee.public_key, amount=amount)
        self._queue(
            payer,
            body,
            lambda e, t: self.model.transfer(e, payer.public_key, payee.public_key, amount, t),
        )

    @rule(payer=st.sampled_from((ENT, ENT, ENT, BOB)), amount=amounts)
    def pay(self, payer: Identity, amount: int) -> None:
        """Mostly the enterprise, which has a credit line: past its balance, a bill."""
        body = Pay(merchant=MER.public_key, token="EUR", amount=amount)
        self.pays.append(
            self._queue(
                payer,
                body,
                lambda e, t: self.model.pay(e, payer.public_key, MER.public_key, amount, t),
            )
        )

    @rule(payer=who, legs=st.lists(st.tuples(who, amounts), min_size=1, max_size=3))
    def linked(self, payer: Identity, legs: list[tuple[Identity, int]]) -> None:
        body = LinkedTransfers(
            legs=tuple(Leg(to=p.public_key, token="EUR", amount=a) for p, a in legs)
        )
        plain = [(p.public_key, a) for p, a in legs]
        self._queue(payer, body, lambda e, t: self.model.linked(e, payer.public_key, plain, t))

    @rule(payer=who, payee=who, amount=amounts, timeout=st.integers(-500, 4_000))
    def hold(self, payer: Identity, payee: Identity, amount: int, timeout: int) -> None:
        until = max(0, self.time + timeout)
        body = PendingTransfer(token="EUR", to=payee.public_key, amount=amount, timeout_ms=until)
        self.holds.append(
            self._queue(
                payer,
                body,
                lambda e, t: self.model.hold(
                    e, payer.public_key, payee.public_key, amount, until, t
                ),
            )
        )

    @precondition(lambda self: self.holds)
    @rule(author=who, pick=picks, post=st.booleans())
    def finish(self, author: Identity, pick: int, post: bool) -> None:
        hold_id = self._pick(self.holds, pick)
        body = PostTransfer(pending=hold_id) if post else VoidTransfer(pending=hold_id)
        self._queue(
            author, body, lambda e, t: self.model.finish(hold_id, author.public_key, post, t)
        )

    @precondition(lambda self: self.pays)
    @rule(
        author=st.sampled_from((ENT, ENT, ENT, MER, BOB)),
        pick=picks,
        count=st.integers(1, 3),
        twice=st.sampled_from((False, False, False, True)),
        any_pay=st.sampled_from((False, False, True)),
    )
    def start(self, author: Identity, pick: int, count: int, twice: bool, any_pay: bool) -> None:
        """Settle ``count`` bills open after the last block, or (``any_pay``) any payments'
        bills; refused if one is named twice, is no bill, or is already settling or settled."""
        pool = [p for p in self.pays if self.model.bills.get(p, NO_BILL).status == "open"]
        pool = self.pays if any_pay or not pool else pool
        bills = tuple(self._pick(pool, pick + i) for i in range(min(count, len(pool))))
        bills += bills[:1] if twice else ()
        body = StartSettlement(merchant=MER.public_key, bills=bills)
        self.settlements.append(
            self._queue(
                author,
                body,
                lambda e, t: self.model.start(e, author.public_key, MER.public_key, bills, t),
            )
        )

    def _confirm(self, author: Identity, settlement: bytes) -> None:
        body = ConfirmSettlement(settlement=settlement)
        self._queue(author, body, lambda e, t: self.model.confirm(settlement, author.public_key, t))

    def _cancel(self, author: Identity, settlement: bytes) -> None:
        body = CancelSettlement(settlement=settlement)
        self._queue(author, body, lambda e, t: self.model.cancel(settlement, author.public_key, t))

    @precondition(lambda self: self.settlements)
    @rule(author=st.sampled_from((MER, MER, ENT, BOB)), pick=picks)
    def confirm(self, author: Identity, pick: int) -> None:
        self._confirm(author, self._pick(self.settlements, pick))

    @precondition(lambda self: self.settlements)
    @rule(author=who, pick=picks)
    def cancel(self, author: Identity, pick: int) -> None:
        self._cancel(author, self._pick(self.settlements, pick))

    @precondition(lambda self: self.settlements)
    @rule(canceller=st.sampled_from((ENT, MER)), pick=picks, confirm_first=st.booleans())
    def confirm_and_cancel(self, canceller: Identity, pick: int, confirm_first: bool) -> None:
        """Both ends of one settlement in one block: the first in block order wins."""
        settlement = self._pick(self.settlements, pick)
        if len(self.block.envelopes) + 2 > self.block_size:
            self.close_block(1)  # room for both
        if confirm_first:
            self._confirm(MER, settlement)
        self._cancel(canceller, settlement)
        if not confirm_first:
            self._confirm(MER, settlement)

    @rule(jump=st.sampled_from([1, 10, 500, 2_000, 6_000, SETTLEMENT_CONFIRM_WITHIN_MS]))
    def close_block(self, jump: int) -> None:
        self.time += jump
        self.block.run(self.ledger, self.time, self.model.start_block)
        self.projections_agree()  # the state moves only here
        self.statuses_and_histories_agree()
        # Later picks come from what exists, besides what the next block queues.
        self.pays = [p for p in self.pays if p in self.model.bills]
        self.settlements = [s for s in self.settlements if s in self.model.settlements]

    def teardown(self) -> None:
        """What is still queued runs too, so a run's last events are judged as well; replaying
        every block from the genesis gives the same projections."""
        self.close_block(1)
        assert same_projections(self.ledger.replayed(), self.ledger.state)

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
        assert total == state.get("tokens", b"EUR").supply  # conserved
        line = state.get("credit_lines", line_key(MER.public_key, ENT.public_key, "EUR"))
        assert line.used == self.model.used[(MER.public_key, ENT.public_key)]
        bills = {k: b.status for k, b in state.rows("credit_bills")}
        assert bills == {k: b.status for k, b in self.model.bills.items()}

    def statuses_and_histories_agree(self) -> None:
        for table, expected in (
            ("orders", self.model.orders),
            ("settlements", {k: s.history for k, s in self.model.settlements.items()}),
        ):
            rows = dict(self.ledger.state.rows(table))
            assert all(row.status == row.history[-1].status for row in rows.values()), table
            got = {k: [(c.status, c.time_ms) for c in row.history] for k, row in rows.items()}
            assert got == expected, table
        for key, s in self.model.settlements.items():
            row = self.ledger.state.get("settlements", key)
            assert (row.debtor, row.amount, row.orders) == (s.debtor, s.amount, s.bills)


PaymentsMachine.TestCase.settings = SETTINGS
test_payments_against_the_model = PaymentsMachine.TestCase
