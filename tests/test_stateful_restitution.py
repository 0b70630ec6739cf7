"""Random interleavings of restitution events, several per block and often in conflict (two
orders against one custody, a write-off racing a disbursement, a close racing a write-off),
with clock jumps, against the rules core and the reference model; every event's code must
agree, and after every block the balances, the case orders, the settlements, the workflow
instances and the restitution tables must equal the model's, every status agreeing with the
last entry of its own history."""

from __future__ import annotations

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from consortium.events.body import EventBody
from consortium.events.identity import Identity
from consortium.events.payments import IssueTokens, RegisterParticipant
from consortium.events.restitution import (
    CloseCase,
    ConfirmCustody,
    ConfirmReceipt,
    Disburse,
    Entitlement,
    IssueOrder,
    RegisterCase,
    RegisterClaim,
    ReturnCustody,
    Share,
    VerifyClaim,
    WriteOff,
)
from consortium.rules.restitution import CASE, CLAIM, case_id, custody_account
from consortium.rules.tables import StatusChange, WorkflowInstance
from consortium.rules.workflow_engine import instance_key
from tests.ledger_fixtures import ADMIN, Ledger, ident, rules_ledger, same_projections
from tests.models.restitution import ModelCase, ModelClaim, RestitutionModel, Status
from tests.stateful import SETTINGS, Block, ModelStep
from tests.test_restitution import WITH_WORKFLOWS
from tests.test_rules_payments import balance

C1, C2 = ident("court-1"), ident("court-2")
B1, B2 = ident("bank-1"), ident("bank-2")
V1, V2, V3 = ident("victim-1"), ident("victim-2"), ident("victim-3")
VICTIMS = (V1, V2, V3)
ROLES = {C1: "court", C2: "court", B1: "bank", B2: "bank"} | {v: "victim" for v in VICTIMS}
FUNDS = {B1: 5_000, B2: 700}
CASES = ("A", "B")

SPLITS = (  # shares that make the whole, so the rounding remainder goes to the largest
    ((), ((V1, 3_333), (V2, 6_667))),
    ((), ((V1, 5_000), (V2, 2_500), (V3, 2_500))),
    (((V1, 100),), ((V2, 3_334), (V3, 6_666))),
)
entry = st.tuples(st.sampled_from(VICTIMS), st.booleans(), st.integers(1, 700))
entitlements = st.one_of(
    st.sampled_from(SPLITS),
    st.lists(entry, min_size=1, max_size=3).map(
        lambda es: (
            tuple((v, n) for v, share, n in es if not share),
            tuple((v, n * 9) for v, share, n in es if share),
        )
    ),
)
courts = st.sampled_from((None,) * 10 + (C2, B1))
"""None stands for the case's own court."""
banks = st.sampled_from((None,) * 10 + (B2, C1))
percents = st.sampled_from((25, 50, 100, 100, 100, 101))
victims = st.sampled_from(VICTIMS)
names = st.sampled_from(("A", "A", "A", "B"))
off_by = st.sampled_from((0, 0, 0, 1, -1))


class RestitutionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ledger: Ledger = rules_ledger(WITH_WORKFLOWS)
        self._setup(
            [
                (ADMIN, RegisterParticipant(participant=w.public_key, name=w.name, role=r))
                for w, r in ROLES.items()
            ],
            [
                (ADMIN, IssueTokens(token="EUR", to=w.public_key, amount=a))
                for w, a in FUNDS.items()
            ],
        )
        balances = {w.public_key: FUNDS.get(w, 0) for w in ROLES}
        self.model = RestitutionModel({w.public_key: r for w, r in ROLES.items()}, balances)
        self.time = 2_000
        self.block = Block()

    def _setup(self, *blocks: list[tuple[Identity, EventBody]]) -> None:
        for events in blocks:
            results = self.ledger.run(*[self.ledger.sign(w, body) for w, body in events])
            assert all(r.accepted for r in results), results

    def _queue(self, author: Identity, body: EventBody, step: ModelStep) -> None:
        self.block.add(self.ledger.sign(author, body), step)

    def _court(self, name: str, who: Identity | None) -> Identity:
        if who is not None:
            return who
        case = self.model.cases.get(name)
        return C2 if case and case.court == C2.public_key else C1

    def _bank(self, name: str, who: Identity | None) -> Identity:
        if who is not None:
            return who
        case = self.model.cases.get(name)
        return B2 if case and case.bank == B2.public_key else B1

    def _victim(
        self, name: str, drawn: Identity, states: tuple[str, ...], due: bool = False
    ) -> Identity:
        """Mostly a victim whose claim in the case is in one of ``states`` (the one the event
        moves on; with ``due``, one with an order not yet disbursed), else the one drawn."""
        ready = [
            v
            for v in VICTIMS
            if self.model.claim_state(name, v.public_key) in states
            and (not due or self._due(name, v) > 0)
        ]
        listed = self.model.cases.get(name)
        if not ready and listed and states == ("",):
            ready = [v for v in VICTIMS if v.public_key in listed.entitled]
        if not ready or drawn is V3:  # V3: one draw in three goes as drawn
            return drawn
        return ready[VICTIMS.index(drawn) % len(ready)]

    def _due(self, name: str, victim: Identity) -> int:
        claim = self.model.claims.get((name, victim.public_key), ModelClaim())
        return claim.ordered - claim.paid

    def _unordered(self, name: str, victim: Identity) -> int:
        case = self.model.cases.get(name)
        claim = self.model.claims.get((name, victim.public_key), ModelClaim())
        return (case.entitled.get(victim.public_key, 100) if case else 100) - claim.ordered

    def _remainder(self, name: str, victim: Identity) -> int:
        case = self.model.cases.get(name)
        claim = self.model.claims.get((name, victim.public_key), ModelClaim())
        return (case.entitled.get(victim.public_key, 1) if case else 1) - claim.paid

    @initialize(custody=st.sampled_from((600, 1_000, 1_001)), given=entitlements)
    def open_case(
        self,
        custody: int,
        given: tuple[tuple[tuple[Identity, int], ...], tuple[tuple[Identity, int], ...]],
    ) -> None:
        """Case A registered, in custody, every listed victim's claim made and verified, so
        most runs spend their steps on orders, disbursements, write-offs and closing."""
        self.register("A", C1, B1, custody, given)
        self.close_block(1)
        self.confirm_custody("A", None)
        self.close_block(1)
        listed = self.model.cases["A"].entitled if "A" in self.model.cases else {}
        for v in VICTIMS:
            if v.public_key in listed:
                self.victim_acts("A", v, confirm=False)
        self.close_block(1)
        for v in VICTIMS:
            if v.public_key in listed:
                self.verify("A", v, None)
        self.close_block(1)

    @rule(
        name=names,
        court=st.sampled_from((C1, C1, C2, B1)),
        bank=st.sampled_from((B1, B1, B2)),
        custody=st.sampled_from((300, 600, 1_000, 1_001)),
        given=entitlements,
        now=st.sampled_from((True, False, False, False)),
    )
    def register_case(
        self,
        name: str,
        court: Identity,
        bank: Identity,
        custody: int,
        given: tuple[tuple[tuple[Identity, int], ...], tuple[tuple[Identity, int], ...]],
        now: bool,
    ) -> None:
        """Now and then (a new case, or one that conflicts with a registered one)."""
        if now:
            self.register(name, court, bank, custody, given)

    def register(
        self,
        name: str,
        court: Identity,
        bank: Identity,
        custody: int,
        given: tuple[tuple[tuple[Identity, int], ...], tuple[tuple[Identity, int], ...]],
    ) -> None:
        fixed = [(v.public_key, a) for v, a in given[0]]
        shares = [(v.public_key, p) for v, p in given[1]]
        body = RegisterCase(
            case=name,
            bank=bank.public_key,
            token="EUR",
            custody_amount=custody,
            entitlements=tuple(Entitlement(v, a) for v, a in fixed),
            shares=tuple(Share(v, p) for v, p in shares),
        )
        key, account = court.public_key, custody_account(name)
        self._queue(
            court,
            body,
            lambda t: self.model.register(
                key, name, bank.public_key, account, custody, fixed, shares, t
            ),
        )

    @rule(name=names, who=banks)
    def confirm_custody(self, name: str, who: Identity | None) -> None:
        bank = self._bank(name, who)
        key = bank.public_key
        self._queue(
            bank, ConfirmCustody(case=name), lambda t: self.model.confirm_custody(key, name, t)
        )

    @rule(name=names, victim=victims, confirm=st.booleans())
    def victim_acts(self, name: str, victim: Identity, confirm: bool) -> None:
        """A victim claims, or confirms a receipt."""
        victim = self._victim(name, victim, ("paid",) if confirm else ("",))
        key = victim.public_key
        if confirm:
            self._queue(
                victim, ConfirmReceipt(case=name), lambda t: self.model.confirm(key, name, t)
            )
        else:
            body = RegisterClaim(case=name, receiving_account=key)
            self._queue(victim, body, lambda t: self.model.register_claim(key, name, t))

    @rule(name=names, victim=victims, who=courts)
    def verify(self, name: str, victim: Identity, who: Identity | None) -> None:
        victim = self._victim(name, victim, ("claimed",))
        court, v = self._court(name, who), victim.public_key
        key = court.public_key
        body = VerifyClaim(case=name, victim=v)
        self._queue(court, body, lambda t: self.model.verify(key, name, v, t))

    @rule(
        name=names,
        payments=st.lists(st.tuples(victims, percents), min_size=1, max_size=2),
        who=courts,
    )
    def order(self, name: str, payments: list[tuple[Identity, int]], who: Identity | None) -> None:
        """Payments of ``percent`` of what each victim's entitlement has not had ordered yet
        (over 100 is refused)."""
        chosen = [(self._victim(name, v, ("verified", "confirmed")), p) for v, p in payments]
        payments = [(v, max(1, self._unordered(name, v) * p // 100)) for v, p in chosen]
        court = self._court(name, who)
        key = court.public_key
        paid = [(v.public_key, a) for v, a in payments]
        body = IssueOrder(case=name, payments=tuple(Entitlement(v, a) for v, a in paid))
        self._queue(court, body, lambda t: self.model.issue_order(key, name, paid, t))

    @rule(name=names, victim=victims, who=banks)
    def disburse(self, name: str, victim: Identity, who: Identity | None) -> None:
        victim = self._victim(name, victim, ("verified", "confirmed"), due=True)
        bank, v = self._bank(name, who), victim.public_key
        key = bank.public_key
        body = Disburse(case=name, victim=v)
        self._queue(bank, body, lambda t: self.model.disburse(key, name, v, t))

    @rule(name=names, victim=victims, who=courts, off=off_by)
    def write_off(self, name: str, victim: Identity, who: Identity | None, off: int) -> None:
        """Most often the remainder the model sees now; another event in the block may change
        it before this one runs."""
        victim = self._victim(name, victim, ("", "claimed", "verified", "confirmed"))
        court, v = self._court(name, who), victim.public_key
        key, amount = court.public_key, max(1, self._remainder(name, victim) + off)
        body = WriteOff(case=name, victim=v, amount=amount)
        self._queue(court, body, lambda t: self.model.write_off(key, name, v, amount, t))

    @rule(name=names, who=courts, give_back=st.booleans(), off=off_by)
    def court_ends(self, name: str, who: Identity | None, give_back: bool, off: int) -> None:
        """The court closes the case, or returns what custody holds."""
        court = self._court(name, who)
        key = court.public_key
        if not give_back:
            self._queue(court, CloseCase(case=name), lambda t: self.model.close(key, name, t))
            return
        amount = max(1, self.model.balances.get(custody_account(name), 0) + off)
        body = ReturnCustody(case=name, amount=amount)
        self._queue(court, body, lambda t: self.model.return_custody(key, name, amount, t))

    @rule(jump=st.sampled_from([1, 1, 50, 1_000, 60_000]))
    def close_block(self, jump: int) -> None:
        self.time += jump
        self.block.run(self.ledger, self.time, self.model.start_block)
        self.projections_agree()

    def teardown(self) -> None:
        """What is still queued runs too; replaying every block gives the same projections."""
        self.close_block(1)
        assert same_projections(self.ledger.replayed(WITH_WORKFLOWS), self.ledger.state)

    def projections_agree(self) -> None:
        state, model = self.ledger.state, self.model
        for key, amount in model.balances.items():
            assert balance(self.ledger, key) == amount
        for _, account in state.rows("accounts"):  # no account the model does not know
            assert account.balance == model.balances.get(account.owner, 0)
        assert {k for k, _ in state.rows("orders")} == {case_id(n) for n in model.cases}
        settled = {case_id(n) + v for (n, v), c in model.claims.items() if c.settlement}
        assert {k for k, _ in state.rows("settlements")} == settled
        instances = {k: r for k, r in state.rows("workflow_instances")}
        assert len(instances) == len(model.cases) + len(model.claims)
        for name, case in model.cases.items():
            self._case_agrees(name, case, instances)
        for (name, victim), claim in model.claims.items():
            self._claim_agrees(name, victim, claim, instances)
        for table, field in (
            ("orders", "status"),
            ("settlements", "status"),
            ("workflow_instances", "state"),
        ):
            for _, row in state.rows(table):
                assert getattr(row, field) == row.history[-1].status

    def _case_agrees(
        self, name: str, case: ModelCase, instances: dict[bytes, WorkflowInstance]
    ) -> None:
        state = self.ledger.state
        row = state.get("restitution_cases", case_id(name))
        assert {e.victim: e.amount for e in row.entitlements} == case.entitled
        order = state.get("orders", case_id(name))
        assert (order.amount, order.status) == (sum(case.entitled.values()), case.status.state)
        assert _history(order.history) == case.status.history
        instance = instances[instance_key(CASE, case_id(name))]
        assert _same(instance, case.status)

    def _claim_agrees(
        self, name: str, victim: bytes, claim: ModelClaim, instances: dict[bytes, WorkflowInstance]
    ) -> None:
        state = self.ledger.state
        key = case_id(name) + victim
        row = state.get("restitution_claims", key)
        assert (row.receiving_account, row.ordered, row.paid, row.written_off) == (
            claim.account,
            claim.ordered,
            claim.paid,
            claim.written_off,
        )
        assert _same(instances[instance_key(CLAIM, key)], claim.status)
        settlement = state.get("settlements", key)
        if claim.settlement is None:
            assert settlement is None
            return
        amount, status = claim.settlement
        assert (settlement.amount, settlement.status) == (amount, status.state)
        assert _history(settlement.history) == status.history


def _history(history: tuple[StatusChange, ...]) -> list[tuple[str, int]]:
    return [(c.status, c.time_ms) for c in history]


def _same(instance: WorkflowInstance, status: Status) -> bool:
    return instance.state == status.state and _history(instance.history) == status.history


RestitutionMachine.TestCase.settings = settings(SETTINGS, stateful_step_count=50)
test_restitution_against_the_model = RestitutionMachine.TestCase
