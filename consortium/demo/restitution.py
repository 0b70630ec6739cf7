"""Demo section: court-ordered restitution — a court, a bank and several victims."""

from __future__ import annotations

from consortium.actors.receipts import ReceiptFuture
from consortium.api import Consortium
from consortium.demo.common import WAIT_S, Say, admin, identity
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
    VerifyClaim,
    WriteOff,
)
from consortium.rules.restitution import RESTITUTION_WORKFLOWS, custody_account

TITLE = "Court-ordered restitution (declarative workflow in the genesis)"
ORGANISATIONS = ("district-court",)
TOKENS: tuple[tuple[str, str], ...] = ()
WORKFLOWS = RESTITUTION_WORKFLOWS
TOKEN = "NORTH"


def _code(future: ReceiptFuture) -> str:
    return str(future.result(WAIT_S).result.code)


def run(consortium: Consortium, say: Say, events: int) -> None:
    run_id = consortium.height()
    case = f"case-{run_id}"
    court_key, bank_key = identity(f"court-{run_id}"), identity(f"custody-bank-{run_id}")
    victims = [identity(f"victim-{i}-{run_id}") for i in range(3)]
    court_admin = consortium.participant(admin("district-court"))
    bank_admin = consortium.participant(admin("north-bank"))
    _code(
        court_admin.submit(
            RegisterParticipant(participant=court_key.public_key, name="court", role="court")
        )
    )
    _code(
        bank_admin.submit(
            RegisterParticipant(participant=bank_key.public_key, name="custody bank", role="bank")
        )
    )
    for v in victims:
        _code(
            court_admin.submit(
                RegisterParticipant(participant=v.public_key, name=v.name, role="victim")
            )
        )
    _code(bank_admin.submit(IssueTokens(token=TOKEN, to=bank_key.public_key, amount=50_000)))
    court, bank = consortium.participant(court_key), consortium.participant(bank_key)
    entitled = (20_000, 15_000, 10_000)
    register = court.submit(
        RegisterCase(
            case=case,
            bank=bank.public_key,
            token=TOKEN,
            custody_amount=30_000,
            entitlements=tuple(
                Entitlement(v.public_key, a) for v, a in zip(victims, entitled, strict=True)
            ),
            documents=(bytes.fromhex("aa" * 32),),
        )
    )
    say(f"  court registers {case}: 30000 recovered, entitlements {entitled}: {_code(register)}")
    say(f"  bank confirms custody: {_code(bank.submit(ConfirmCustody(case=case)))}")
    handles = [consortium.participant(v) for v in victims]
    for h in handles[:2]:
        _code(h.submit(RegisterClaim(case=case, receiving_account=h.public_key)))
        _code(court.submit(VerifyClaim(case=case, victim=h.public_key)))
    say("  two victims claim; the court verifies both; the third never claims")
    over = court.submit(
        IssueOrder(case=case, payments=(Entitlement(victims[0].public_key, 25_000),))
    )
    say(f"  an order beyond an entitlement: {_code(over)}")
    order = court.submit(
        IssueOrder(
            case=case,
            payments=(
                Entitlement(victims[0].public_key, 18_000),
                Entitlement(victims[1].public_key, 10_000),
            ),
        )
    )
    say(f"  restitution order 18000 + 10000: {_code(order)}")
    say(
        f"  a victim trying to disburse: "
        f"{_code(handles[0].submit(Disburse(case=case, victim=victims[0].public_key)))}"
    )
    for h in handles[:2]:
        _code(bank.submit(Disburse(case=case, victim=h.public_key)))
    say(f"  closing before every claim is settled: {_code(court.submit(CloseCase(case=case)))}")
    for h in handles[:2]:
        _code(h.submit(ConfirmReceipt(case=case)))
    for v, a in zip(victims, (2_000, 5_000, 10_000), strict=True):
        _code(court.submit(WriteOff(case=case, victim=v.public_key, amount=a)))
    say(
        f"  receipts confirmed, the unpaid 2000, 5000 and 10000 written off; case closed: "
        f"{_code(court.submit(CloseCase(case=case)))}"
    )
    for v, a in zip(victims, entitled, strict=True):
        say(
            f"  {v.name.split('-' + str(run_id))[0]} sees "
            f"{consortium.balance(v.public_key, TOKEN)} of {a} {TOKEN}"
        )
    left = consortium.balance(custody_account(case), TOKEN)
    returned = _code(court.submit(ReturnCustody(case=case, amount=left)))
    say(
        f"  the court returns the {left} {TOKEN} left in custody to the bank: {returned}; "
        f"custody holds {consortium.balance(custody_account(case), TOKEN)}, "
        f"the bank {consortium.balance(bank.public_key, TOKEN)}"
    )
