"""Rules of token payments, executed directly: no actors, no storage."""

from __future__ import annotations

from consortium.events.payments import IssueTokens, RegisterParticipant, Transfer
from consortium.events.results import Code
from consortium.rules.tables import account_key
from tests.ledger_fixtures import ADMIN, ALICE, BOB, Ledger, ident


def balance(ledger: Ledger, who: bytes, token: str = "EUR") -> int:
    account = ledger.state.get("accounts", account_key(who, token))
    return 0 if account is None else account.balance


def test_issue_and_transfer_move_balances_and_record_an_order() -> None:
    ledger = Ledger()
    [issued] = ledger.run(
        ledger.sign(ADMIN, IssueTokens(token="EUR", to=ALICE.public_key, amount=100))
    )
    assert issued.accepted
    [paid] = ledger.run(ledger.sign(ALICE, Transfer(token="EUR", to=BOB.public_key, amount=30)))
    assert paid.accepted
    assert (balance(ledger, ALICE.public_key), balance(ledger, BOB.public_key)) == (70, 30)
    orders = list(ledger.state.rows("orders"))
    assert len(orders) == 1 and orders[0][1].status == "completed"
    assert ledger.state.get("tokens", b"EUR").supply == 100


def test_overdraft_is_rejected_and_changes_nothing() -> None:
    ledger = Ledger()
    before = ledger.state.table_digests()
    [result] = ledger.run(ledger.sign(ALICE, Transfer(token="EUR", to=BOB.public_key, amount=1)))
    assert result.code is Code.INSUFFICIENT_FUNDS
    after = dict((d.name, d.digest) for d in ledger.state.table_digests())
    assert dict((d.name, d.digest) for d in before)["accounts"] == after["accounts"]


def test_unknown_author_is_rejected() -> None:
    ledger = Ledger()
    stranger = ident("stranger")
    [result] = ledger.run(ledger.sign(stranger, Transfer(token="EUR", to=BOB.public_key, amount=1)))
    assert result.code is Code.UNKNOWN_AUTHOR


def test_wrong_role_cannot_register_or_issue() -> None:
    ledger = Ledger()
    results = ledger.run(
        ledger.sign(ALICE, RegisterParticipant(participant=bytes(32), name="x", role="user")),
        ledger.sign(BOB, IssueTokens(token="EUR", to=BOB.public_key, amount=5)),
    )
    assert [r.code for r in results] == [Code.WRONG_ROLE, Code.WRONG_ROLE]


def test_replayed_sequence_number_is_rejected_even_after_a_rejection() -> None:
    ledger = Ledger()
    overdraft = ledger.sign(ALICE, Transfer(token="EUR", to=BOB.public_key, amount=50), seq=1)
    assert ledger.run(overdraft)[0].code is Code.INSUFFICIENT_FUNDS
    ledger.run(ledger.sign(ADMIN, IssueTokens(token="EUR", to=ALICE.public_key, amount=100)))
    # Now the captured event would pass the balance check: its spent sequence number stops it.
    assert ledger.run(overdraft)[0].code is Code.REPLAY
    again = ledger.sign(ALICE, Transfer(token="EUR", to=BOB.public_key, amount=5), seq=1)
    assert ledger.run(again)[0].code is Code.REPLAY


def test_registration_enrols_under_the_admins_organisation() -> None:
    ledger = Ledger()
    carol = ident("carol")
    [result] = ledger.run(
        ledger.sign(
            ADMIN, RegisterParticipant(participant=carol.public_key, name="carol", role="merchant")
        )
    )
    assert result.accepted
    assert ledger.state.get("participants", carol.public_key).organisation == "org"
    [again] = ledger.run(
        ledger.sign(
            ADMIN, RegisterParticipant(participant=carol.public_key, name="carol", role="merchant")
        )
    )
    assert again.code is Code.ALREADY_EXISTS


def test_same_events_give_same_digests_on_two_ledgers() -> None:
    a, b = Ledger(), Ledger()
    for ledger in (a, b):
        ledger.run(ledger.sign(ADMIN, IssueTokens(token="EUR", to=ALICE.public_key, amount=9)))
        ledger.run(ledger.sign(ALICE, Transfer(token="EUR", to=BOB.public_key, amount=4)))
    assert a.state.table_digests() == b.state.table_digests()


def test_rejected_event_in_a_block_does_not_undo_the_accepted_ones() -> None:
    ledger = Ledger()
    results = ledger.run(
        ledger.sign(ADMIN, IssueTokens(token="EUR", to=ALICE.public_key, amount=10)),
        ledger.sign(ALICE, Transfer(token="EUR", to=BOB.public_key, amount=11)),
        ledger.sign(ALICE, Transfer(token="EUR", to=BOB.public_key, amount=10)),
    )
    assert [r.code for r in results] == [Code.OK, Code.INSUFFICIENT_FUNDS, Code.OK]
    assert balance(ledger, BOB.public_key) == 10
