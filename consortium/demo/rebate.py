"""Demo section: the merchant promotion rebate, signatures passed between the parties' actors.

Every multi-party artefact is signed first by its author's actor (which assigns the sequence
number), then by the other parties' actors, over the same bytes, and only then broadcast.
"""

from __future__ import annotations

import time

from consortium.actors.messages import Receipt
from consortium.actors.receipts import ReceiptFuture
from consortium.api import Consortium
from consortium.demo.common import WAIT_S, Say, admin, identity, ledger_time_ms
from consortium.events.payments import IssueTokens, RegisterParticipant, Transfer
from consortium.events.rebate import NewPurchase, Promotion, Purchase, RebateClaim
from consortium.events.workflow import WorkflowSpec

WORKFLOWS: tuple[WorkflowSpec, ...] = ()
TITLE = "Merchant promotion rebate (all-party signatures, deadline in ledger time)"
ORGANISATIONS = ("east-pay",)
TOKENS: tuple[tuple[str, str], ...] = ()
TOKEN = "EAST"
REBATE_DELAY_MS = 2_000


def run(consortium: Consortium, say: Say, events: int) -> None:
    issuer = consortium.participant(admin(ORGANISATIONS[0]))
    run_id = consortium.height()  # fresh parties on every run, so a resumed demo repeats cleanly
    parties = {r: identity(f"{r}@rebate-{run_id}") for r in ("merchant", "customer", "third")}
    for role, who in parties.items():
        kind = "merchant" if role == "merchant" else "customer"
        issuer.submit(RegisterParticipant(participant=who.public_key, name=who.name, role=kind))
    for role in ("customer", "third"):
        issuer.submit(IssueTokens(token=TOKEN, to=parties[role].public_key, amount=10_000))
    m, c, t = (consortium.participant(parties[r]) for r in ("merchant", "customer", "third"))

    purchase = _say(
        say,
        "purchase of 1000, signed by C and M",
        c.submit_signed(
            m.cosign(c.sign(Purchase(merchant=m.public_key, token=TOKEN, amount=1_000)))
        ),
    )
    rebate_time = ledger_time_ms(consortium) + REBATE_DELAY_MS
    promotion = _say(
        say,
        "promotion (new price 800, rebate 150), signed by M, C and T",
        m.submit_signed(
            t.cosign(
                c.cosign(
                    m.sign(
                        Promotion(
                            purchase=purchase.event_id,
                            customer=c.public_key,
                            third_party=t.public_key,
                            new_price=800,
                            rebate_time_ms=rebate_time,
                            rebate_amount=150,
                        )
                    )
                )
            )
        ),
    )
    pid = promotion.event_id
    _say(
        say,
        "new purchase by T at 800, signed by M, T and C",
        m.submit_signed(c.cosign(t.cosign(m.sign(NewPurchase(promotion=pid))))),
    )
    _say(
        say,
        "rebate claim, signed by C and T (M signed the rebate inside the promotion)",
        c.submit_signed(t.cosign(c.sign(RebateClaim(promotion=pid)))),
    )
    spendable = consortium.balance(m.public_key, TOKEN)
    _say(
        say,
        f"M tries to spend its {spendable} {TOKEN} and the 150 held for the rebate",
        m.submit(Transfer(to=c.public_key, token=TOKEN, amount=spendable + 150)),
    )
    _say(
        say,
        "a purchase the merchant did not sign",
        m.submit_signed(c.sign(Purchase(merchant=m.public_key, token=TOKEN, amount=5))),
    )
    while ledger_time_ms(consortium) < rebate_time:
        # Ledger time moves only with blocks: small purchases carry it past the rebate time.
        time.sleep(0.25)
        c.submit_signed(
            m.cosign(c.sign(Purchase(merchant=m.public_key, token=TOKEN, amount=1)))
        ).result(WAIT_S)
    _say(
        say,
        "a second claim after the rebate time",
        c.submit_signed(t.cosign(c.sign(RebateClaim(promotion=pid)))),
    )
    row = consortium.inspect(lambda node: node.state.get("rebate_promotions", pid))
    settlement = consortium.inspect(lambda node: node.state.get("settlements", pid))
    say(
        f"  at the rebate time the promotion is {row.status!r}; the rebate settlement "
        f"{settlement.status!r}: {settlement.amount} {TOKEN} from M to C"
    )
    for role, handle in (("merchant", m), ("customer", c), ("third party", t)):
        say(f"  {role:<12} sees {consortium.balance(handle.public_key, TOKEN):>6} {TOKEN}")


def _say(say: Say, what: str, future: ReceiptFuture) -> Receipt:
    receipt = future.result(WAIT_S)
    say(
        f"  {what}: {receipt.result.code}"
        + (f" (block {receipt.height})" if receipt.height else "")
    )
    return receipt
