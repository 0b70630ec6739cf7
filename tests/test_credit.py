"""Token payments beyond transfers: certificates, credit lines, bills, settlement, two-phase and
linked transfers — and conservation of every token."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings, strategies as st

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
from consortium.events.genesis import GenesisParticipant
from consortium.events.identity import Identity
from consortium.events.payments import IssueTokens, RegisterParticipant, RotateKey, Transfer
from consortium.events.results import Code
from consortium.rules.credit import SETTLEMENT_CONFIRM_WITHIN_MS, hold_account
from consortium.rules.engine import genesis_state
from consortium.rules.rulebook import RULESET
from tests.ledger_fixtures import (
    ADMIN,
    BOB,
    CHAIN,
    GENESIS,
    Ledger,
    LedgerFactory,
    LedgerLike,
    ident,
    rules_ledger,
    same_projections,
)
from tests.test_rebate import CUSTOMER, MERCHANT, _promotion, _setup as rebate_setup
from tests.test_rules_payments import balance

ENT, MER = ident("enterprise"), ident("merchant")


def _setup(funds: int = 100, make: LedgerFactory = rules_ledger) -> LedgerLike:
    ledger = make()
    ledger.run(
        *[
            ledger.sign(ADMIN, RegisterParticipant(participant=w.public_key, name=w.name, role=r))
            for w, r in ((ENT, "enterprise"), (MER, "merchant"))
        ],
        time_ms=1_000,
    )
    ledger.run(
        ledger.sign(ADMIN, IssueTokens(token="EUR", to=ENT.public_key, amount=funds)),
        ledger.sign(ADMIN, IssueCertificate(subject=ENT.public_key, valid_until_ms=1_000_000)),
        time_ms=2_000,
    )
    return ledger


def _grant(ledger: Ledger, limit: int, cosigned: bool = True) -> Code:
    envelope = ledger.sign(MER, GrantCredit(enterprise=ENT.public_key, token="EUR", limit=limit))
    if cosigned:
        envelope = add_signatures(envelope, CHAIN, [ENT])
    return ledger.run(envelope, time_ms=3_000)[0].code


def _pay(ledger: Ledger, amount: int, time_ms: int = 4_000) -> tuple[bytes, Code]:
    envelope = ledger.sign(ENT, Pay(merchant=MER.public_key, token="EUR", amount=amount))
    return event_id(envelope), ledger.run(envelope, time_ms=time_ms)[0].code


def test_credit_bills_and_settlement_happy_path_and_limits(make_ledger: LedgerFactory) -> None:
    ledger = _setup(make=make_ledger)
    assert _grant(ledger, 200, cosigned=False) is Code.MISSING_SIGNATURE
    assert _grant(ledger, 200) is Code.OK
    first, code = _pay(ledger, 150)  # 100 cash + 50 on credit
    assert code is Code.OK and balance(ledger, MER.public_key) == 100
    assert ledger.state.get("credit_bills", first).amount == 50
    assert _pay(ledger, 151)[1] is Code.INSUFFICIENT_FUNDS  # 0 balance + 150 credit left
    second, code = _pay(ledger, 150)
    assert code is Code.OK
    start = ledger.sign(ENT, StartSettlement(merchant=MER.public_key, bills=(first, second)))
    assert ledger.run(start, time_ms=5_000)[0].accepted
    twice = ledger.sign(ENT, StartSettlement(merchant=MER.public_key, bills=(first,)))
    assert ledger.run(twice, time_ms=5_000)[0].code is Code.ALREADY_EXISTS
    confirm = ConfirmSettlement(settlement=event_id(start))
    assert (
        ledger.run(ledger.sign(MER, confirm), time_ms=6_000)[0].code is Code.INSUFFICIENT_FUNDS
    )  # the enterprise has nothing yet
    ledger.run(
        ledger.sign(ADMIN, IssueTokens(token="EUR", to=ENT.public_key, amount=500)), time_ms=6_500
    )
    assert ledger.run(ledger.sign(MER, confirm), time_ms=7_000)[0].accepted
    assert balance(ledger, MER.public_key) == 300 and balance(ledger, ENT.public_key) == 300
    assert ledger.state.get("settlements", event_id(start)).status == "settled"
    assert ledger.run(ledger.sign(MER, confirm), time_ms=8_000)[0].code is Code.WRONG_STATE


def test_payments_need_a_certificate_valid_at_ledger_time(make_ledger: LedgerFactory) -> None:
    ledger = _setup(make=make_ledger)
    assert _pay(ledger, 10, time_ms=1_000_001)[1] is Code.DEADLINE  # expired
    ledger.run(ledger.sign(ADMIN, RevokeCertificate(subject=ENT.public_key)), time_ms=1_000_002)
    assert _pay(ledger, 10, time_ms=1_000_003)[1] is Code.WRONG_ROLE
    bob_pays = ledger.sign(BOB, Pay(merchant=MER.public_key, token="EUR", amount=1))
    assert ledger.run(bob_pays, time_ms=1_000_004)[0].code is Code.WRONG_ROLE  # no certificate


def test_two_phase_post_void_and_automatic_void_at_the_timeout(make_ledger: LedgerFactory) -> None:
    ledger = _setup(make=make_ledger)

    def pending(amount: int, timeout: int, at: int) -> bytes:
        envelope = ledger.sign(
            ENT, PendingTransfer(to=MER.public_key, token="EUR", amount=amount, timeout_ms=timeout)
        )
        assert ledger.run(envelope, time_ms=at)[0].accepted
        return event_id(envelope)

    posted = pending(30, 10_000, 3_000)
    assert balance(ledger, hold_account(posted)) == 30 and balance(ledger, ENT.public_key) == 70
    assert (
        ledger.run(ledger.sign(MER, PostTransfer(pending=posted)), time_ms=3_500)[0].code
        is Code.WRONG_ROLE
    )
    assert ledger.run(ledger.sign(ENT, PostTransfer(pending=posted)), time_ms=4_000)[0].accepted
    voided = pending(20, 10_000, 4_500)
    assert ledger.run(ledger.sign(ENT, VoidTransfer(pending=voided)), time_ms=5_000)[0].accepted
    expiring = pending(25, 9_000, 5_500)
    assert balance(ledger, ENT.public_key) == 45
    ledger.run(time_ms=9_000)  # the block at the timeout returns the funds
    assert balance(ledger, ENT.public_key) == 70 and balance(ledger, MER.public_key) == 30
    assert ledger.state.get("credit_pending", expiring).status == "expired"
    late = ledger.run(ledger.sign(ENT, PostTransfer(pending=expiring)), time_ms=9_500)[0]
    assert late.code is Code.ALREADY_EXISTS


def test_linked_transfers_are_all_or_nothing(make_ledger: LedgerFactory) -> None:
    ledger = _setup(make=make_ledger)
    too_much = LinkedTransfers(
        legs=(Leg(MER.public_key, "EUR", 60), Leg(BOB.public_key, "EUR", 50))
    )
    assert ledger.run(ledger.sign(ENT, too_much), time_ms=3_000)[0].code is Code.INSUFFICIENT_FUNDS
    assert balance(ledger, MER.public_key) == 0 and balance(ledger, ENT.public_key) == 100
    fits = LinkedTransfers(legs=(Leg(MER.public_key, "EUR", 60), Leg(BOB.public_key, "EUR", 40)))
    assert ledger.run(ledger.sign(ENT, fits), time_ms=3_000)[0].accepted
    assert (balance(ledger, MER.public_key), balance(ledger, BOB.public_key)) == (60, 40)


OPS = st.lists(
    st.tuples(
        st.sampled_from(["pay", "pending", "post", "void", "linked", "tick", "settle", "fund"]),
        st.integers(1, 120),
    ),
    max_size=20,
)


@settings(max_examples=40, deadline=None)
@given(OPS)
def test_property_tokens_conserved_and_credit_never_exceeded(ops) -> None:
    ledger = _setup()
    _grant(ledger, 80)
    pendings: list[bytes] = []
    issued = 100
    now = 4_000
    for op, amount in ops:
        now += 700
        if op == "pay":
            _pay(ledger, amount, now)
        elif op == "pending":
            envelope = ledger.sign(
                ENT,
                PendingTransfer(
                    to=MER.public_key, token="EUR", amount=amount, timeout_ms=now + 1_500
                ),
            )
            if ledger.run(envelope, time_ms=now)[0].accepted:
                pendings.append(event_id(envelope))
        elif op in ("post", "void") and pendings:
            body = (PostTransfer if op == "post" else VoidTransfer)(pending=pendings[-1])
            ledger.run(ledger.sign(ENT, body), time_ms=now)
        elif op == "linked":
            legs = (Leg(MER.public_key, "EUR", amount), Leg(BOB.public_key, "EUR", 1))
            ledger.run(ledger.sign(ENT, LinkedTransfers(legs=legs)), time_ms=now)
        elif op == "settle":
            # Every bill the enterprise holds, open or not: settling one twice must be refused.
            bills = tuple(k for k, _ in ledger.state.rows("credit_bills"))
            start = ledger.sign(ENT, StartSettlement(merchant=MER.public_key, bills=bills))
            if bills and ledger.run(start, time_ms=now)[0].accepted:
                confirm = ConfirmSettlement(settlement=event_id(start))
                ledger.run(ledger.sign(MER, confirm), time_ms=now)
        elif op == "fund":
            issued += amount
            issue = IssueTokens(token="EUR", to=ENT.public_key, amount=amount)
            ledger.run(ledger.sign(ADMIN, issue), time_ms=now)
        else:
            ledger.run(time_ms=now)
        accounts = [a for _, a in ledger.state.rows("accounts") if a.token == "EUR"]
        assert sum(a.balance for a in accounts) == issued  # every movement is double-entry
        assert all(a.balance >= 0 for a in accounts)
        for _, line in ledger.state.rows("credit_lines"):
            assert 0 <= line.used <= line.limit
        settled_bills = [
            bill
            for _, s in ledger.state.rows("settlements")
            if s.status == "settled"
            for bill in s.orders
        ]
        assert len(settled_bills) == len(set(settled_bills))  # no bill settled twice
        assert all(
            (b.status == "settled") == (k in settled_bills)
            for k, b in ledger.state.rows("credit_bills")
        )
    assert same_projections(ledger.replayed(), ledger.state)


def _rotate(ledger: Ledger, admin: Identity, old: Identity, new: Identity, *cosigners: Identity):
    envelope = ledger.sign(admin, RotateKey(old_key=old.public_key, new_key=new.public_key))
    if cosigners:
        envelope = add_signatures(envelope, CHAIN, list(cosigners))
    return ledger.run(envelope, time_ms=4_500)[0].code


def test_key_rotation_moves_the_user_and_retires_the_old_key(make_ledger: LedgerFactory) -> None:
    ledger = _setup(make=make_ledger)
    assert _grant(ledger, 200) is Code.OK
    bill, code = _pay(ledger, 150)  # 100 cash, a bill of 50 on credit
    assert code is Code.OK
    new = ident("enterprise-2026")
    assert _rotate(ledger, ADMIN, ENT, new) is Code.MISSING_SIGNATURE
    assert _rotate(ledger, ENT, ENT, new, new) is Code.WRONG_ROLE  # the user alone may not
    assert _rotate(ledger, ADMIN, ENT, MER, MER) is Code.ALREADY_EXISTS
    assert _rotate(ledger, ADMIN, ENT, new, new) is Code.OK

    old_pays = ledger.sign(ENT, Pay(merchant=MER.public_key, token="EUR", amount=1))
    assert ledger.run(old_pays, time_ms=5_000)[0].code is Code.UNKNOWN_AUTHOR
    assert ledger.state.get("credit_bills", bill).enterprise == new.public_key
    # The credit line and certificate followed the key: the new key pays on credit at once.
    assert ledger.run(
        ledger.sign(new, Pay(merchant=MER.public_key, token="EUR", amount=20)), time_ms=5_000
    )[0].accepted
    start = ledger.sign(new, StartSettlement(merchant=MER.public_key, bills=(bill,)))
    assert ledger.run(start, time_ms=5_500)[0].accepted
    accounts = [a for _, a in ledger.state.rows("accounts") if a.token == "EUR"]
    assert sum(a.balance for a in accounts) == 100


def test_an_admin_key_is_not_rotated_as_a_user(make_ledger: LedgerFactory) -> None:
    ledger = _setup(make=make_ledger)
    admin_2 = ident("admin-2")
    assert _rotate(ledger, ADMIN, ADMIN, admin_2, admin_2) is Code.WRONG_ROLE


def test_an_organisation_rotates_only_its_own_users() -> None:
    other_admin = ident("other-admin")
    genesis = msgspec.structs.replace(
        GENESIS,
        participants=(
            *GENESIS.participants,
            GenesisParticipant("other-admin", "other-org", "org_admin", other_admin.public_key),
        ),
    )
    ledger = Ledger(state=genesis_state(genesis, RULESET))
    enrol = RegisterParticipant(participant=ENT.public_key, name="ent", role="enterprise")
    assert ledger.run(ledger.sign(ADMIN, enrol))[0].accepted
    new = ident("enterprise-new")
    assert _rotate(ledger, other_admin, ENT, new, new) is Code.WRONG_ROLE
    assert _rotate(ledger, ADMIN, ENT, new, new) is Code.OK


def _debits_of(ledger: LedgerLike, held: bytes) -> dict[str, bytes]:
    """One envelope per kind of debit ENT can author, each small enough to be affordable."""
    return {
        "transfer": ledger.sign(ENT, Transfer(token="EUR", to=MER.public_key, amount=1)),
        "hold": ledger.sign(
            ENT, PendingTransfer(token="EUR", to=MER.public_key, amount=1, timeout_ms=10**9)
        ),
        "post": ledger.sign(ENT, PostTransfer(pending=held)),
        "linked": ledger.sign(
            ENT, LinkedTransfers(legs=(Leg(to=MER.public_key, token="EUR", amount=1),))
        ),
        "pay": ledger.sign(ENT, Pay(merchant=MER.public_key, token="EUR", amount=1)),
    }


def _hold(ledger: LedgerLike) -> bytes:
    hold = ledger.sign(
        ENT, PendingTransfer(token="EUR", to=MER.public_key, amount=1, timeout_ms=10**9)
    )
    assert ledger.run(hold, time_ms=3_000)[0].accepted
    return event_id(hold)


def test_a_revoked_certificate_stops_every_debit_its_key_authors() -> None:
    """Issue 23: after RevokeCertificate, Pay was refused but Transfer, PendingTransfer and
    LinkedTransfers (and posting a hold made before) still emptied the account."""
    ledger = _setup()
    held = _hold(ledger)
    ledger.run(ledger.sign(ADMIN, RevokeCertificate(subject=ENT.public_key)), time_ms=3_500)
    for kind, envelope in _debits_of(ledger, held).items():
        assert ledger.run(envelope, time_ms=4_000)[0].code is Code.WRONG_ROLE, kind
    assert balance(ledger, ENT.public_key) == 99  # only the hold left, made before revoking
    void = ledger.sign(ENT, VoidTransfer(pending=held))  # giving the hold back is no debit
    assert ledger.run(void, time_ms=4_000)[0].accepted


def test_an_expired_certificate_stops_every_debit_at_block_time() -> None:
    ledger = _setup()
    held = _hold(ledger)
    for kind, envelope in _debits_of(ledger, held).items():
        assert ledger.run(envelope, time_ms=1_000_000)[0].code is Code.DEADLINE, kind
    assert balance(ledger, ENT.public_key) == 99


def test_a_revoked_enterprise_cannot_start_a_settlement() -> None:
    ledger = _setup(funds=0)
    assert _grant(ledger, 100) is Code.OK
    bill, code = _pay(ledger, 10)
    assert code is Code.OK
    ledger.run(ledger.sign(ADMIN, RevokeCertificate(subject=ENT.public_key)), time_ms=4_500)
    start = ledger.sign(ENT, StartSettlement(merchant=MER.public_key, bills=(bill,)))
    assert ledger.run(start, time_ms=5_000)[0].code is Code.WRONG_ROLE


def test_keys_never_certified_still_move_their_own_funds_but_never_pay() -> None:
    """The admin issues and distributes without a certificate; Pay always needs one."""
    ledger = _setup()
    give = ledger.sign(ADMIN, IssueTokens(token="EUR", to=BOB.public_key, amount=5))
    assert ledger.run(give, time_ms=3_000)[0].accepted
    move = ledger.sign(BOB, Transfer(token="EUR", to=ENT.public_key, amount=2))
    assert ledger.run(move, time_ms=3_000)[0].accepted
    pay = ledger.sign(BOB, Pay(merchant=MER.public_key, token="EUR", amount=1))
    assert ledger.run(pay, time_ms=3_000)[0].code is Code.WRONG_ROLE


def _history(ledger: LedgerLike, table: str, key: bytes) -> list[str]:
    """The statuses a row went through, after checking its status is the last of them."""
    row = ledger.state.get(table, key)
    assert row.status == row.history[-1].status
    return [change.status for change in row.history]


def _billed(ledger: LedgerLike, *amounts: int) -> tuple[bytes, ...]:
    """Bills of ``amounts`` paid on credit by ENT (who has no balance) at MER."""
    assert _grant(ledger, sum(amounts)) is Code.OK
    bills = []
    for amount in amounts:
        bill, code = _pay(ledger, amount)
        assert code is Code.OK
        bills.append(bill)
    return tuple(bills)


def _start(ledger: LedgerLike, bills: tuple[bytes, ...], time_ms: int = 5_000) -> bytes:
    start = ledger.sign(ENT, StartSettlement(merchant=MER.public_key, bills=bills))
    assert ledger.run(start, time_ms=time_ms)[0].accepted
    return event_id(start)


def test_a_payments_order_moves_billed_settling_settled(make_ledger: LedgerFactory) -> None:
    """Issue 23: a payment on credit was recorded ``billed`` with the history ``[paid]``, and
    starting and confirming its settlement left its order untouched."""
    ledger = _setup(funds=30, make=make_ledger)
    assert _grant(ledger, 100) is Code.OK
    cash, _ = _pay(ledger, 20)
    bill, _ = _pay(ledger, 40)  # 10 from the balance, 30 on credit
    assert _history(ledger, "orders", cash) == ["paid"]
    assert _history(ledger, "orders", bill) == ["billed"]
    settlement = _start(ledger, (bill,))
    assert _history(ledger, "orders", bill) == ["billed", "settling"]
    ledger.run(
        ledger.sign(ADMIN, IssueTokens(token="EUR", to=ENT.public_key, amount=30)), time_ms=5_500
    )
    confirm = ledger.sign(MER, ConfirmSettlement(settlement=settlement))
    assert ledger.run(confirm, time_ms=6_000)[0].accepted
    assert _history(ledger, "orders", bill) == ["billed", "settling", "settled"]
    times = [c.time_ms for c in ledger.state.get("orders", bill).history]
    assert times == sorted(set(times))  # one step per block, in ledger time
    assert _history(ledger, "settlements", settlement) == ["started", "settled"]
    assert _history(ledger, "orders", cash) == ["paid"]


def test_the_enterprise_or_the_merchant_cancels_a_started_settlement(
    make_ledger: LedgerFactory,
) -> None:
    """Before confirmation either party may end a settlement; its bills are open again (their
    orders ``billed``), the credit used stays used, and a later settlement may take them."""
    ledger = _setup(funds=0, make=make_ledger)
    bills = _billed(ledger, 10, 15)
    for canceller in (ENT, MER):
        settlement = _start(ledger, bills)
        stranger = ledger.sign(BOB, CancelSettlement(settlement=settlement))
        assert ledger.run(stranger, time_ms=5_100)[0].code is Code.WRONG_ROLE
        cancel = ledger.sign(canceller, CancelSettlement(settlement=settlement))
        assert ledger.run(cancel, time_ms=5_200)[0].accepted
        assert _history(ledger, "settlements", settlement) == ["started", "cancelled"]
        assert all(ledger.state.get("credit_bills", b).status == "open" for b in bills)
        again = ledger.sign(canceller, CancelSettlement(settlement=settlement))
        assert ledger.run(again, time_ms=5_300)[0].code is Code.WRONG_STATE
        confirm = ledger.sign(MER, ConfirmSettlement(settlement=settlement))
        assert ledger.run(confirm, time_ms=5_300)[0].code is Code.WRONG_STATE
    assert _history(ledger, "orders", bills[0]) == ["billed", *["settling", "billed"] * 2]
    line = next(line for _, line in ledger.state.rows("credit_lines"))
    assert line.used == 25 and balance(ledger, ENT.public_key) == 0
    _start(ledger, bills, time_ms=6_000)
    assert _history(ledger, "orders", bills[1])[-1] == "settling"


def test_of_a_confirmation_and_a_cancellation_in_one_block_the_first_wins() -> None:
    for first in ("confirm", "cancel"):
        ledger = _setup(funds=0)
        [bill] = _billed(ledger, 10)
        ledger.run(
            ledger.sign(ADMIN, IssueTokens(token="EUR", to=ENT.public_key, amount=10)),
            time_ms=4_500,
        )
        settlement = _start(ledger, (bill,))
        events = {
            "confirm": ledger.sign(MER, ConfirmSettlement(settlement=settlement)),
            "cancel": ledger.sign(ENT, CancelSettlement(settlement=settlement)),
        }
        second = "cancel" if first == "confirm" else "confirm"
        results = ledger.run(events[first], events[second], time_ms=6_000)
        assert [r.code for r in results] == [Code.OK, Code.WRONG_STATE], first
        ended = "settled" if first == "confirm" else "cancelled"
        assert _history(ledger, "settlements", settlement) == ["started", ended]
        assert balance(ledger, MER.public_key) == (10 if first == "confirm" else 0)
        assert _history(ledger, "orders", bill)[-1] == (
            "settled" if ended == "settled" else "billed"
        )


def test_an_unconfirmed_settlement_lapses_at_the_ledger_time_limit(
    make_ledger: LedgerFactory,
) -> None:
    ledger = _setup(funds=0, make=make_ledger)
    [bill] = _billed(ledger, 10)
    settlement = _start(ledger, (bill,))
    due = 5_000 + SETTLEMENT_CONFIRM_WITHIN_MS
    ledger.run(time_ms=due - 1)
    assert _history(ledger, "settlements", settlement) == ["started"]
    ledger.run(
        ledger.sign(ADMIN, IssueTokens(token="EUR", to=ENT.public_key, amount=10)), time_ms=due - 1
    )
    late = ledger.sign(MER, ConfirmSettlement(settlement=settlement))
    # The block at the limit ends the settlement before its events: the confirmation is late.
    assert ledger.run(late, time_ms=due)[0].code is Code.WRONG_STATE
    assert _history(ledger, "settlements", settlement) == ["started", "lapsed"]
    assert ledger.state.get("settlements", settlement).history[-1].time_ms >= due
    assert _history(ledger, "orders", bill) == ["billed", "settling", "billed"]
    assert ledger.state.get("credit_bills", bill).status == "open"
    assert balance(ledger, ENT.public_key) == 10
    renew = IssueCertificate(subject=ENT.public_key, valid_until_ms=2 * due)
    assert ledger.run(ledger.sign(ADMIN, renew), time_ms=due + 1)[0].accepted
    _start(ledger, (bill,), time_ms=due + 1)  # the bill may be settled again


def test_a_settlement_of_another_workflow_is_neither_confirmed_nor_cancelled() -> None:
    """The ``settlements`` projection is shared: a rebate's held settlement names no bills, so
    ConfirmSettlement (on main: already_exists) and CancelSettlement are not_found and leave it
    as it was."""
    ledger, purchase = rebate_setup()
    promotion = _promotion(ledger, purchase)
    assert ledger.run(promotion, time_ms=3_000)[0].accepted
    held = event_id(promotion)
    before = ledger.state.get("settlements", held)
    results = ledger.run(
        ledger.sign(CUSTOMER, ConfirmSettlement(settlement=held)),
        ledger.sign(MERCHANT, CancelSettlement(settlement=held)),
        time_ms=3_500,
    )
    assert [r.code for r in results] == [Code.NOT_FOUND, Code.NOT_FOUND]
    assert ledger.state.get("settlements", held) == before
