"""S1 certificates of distributed token payments (CN112418867A) and the one guard on debits.

A certificate is what lets a key spend: once an organisation has certified a key, every debit
that key authors (a transfer, a hold, posting a hold, linked transfers, a payment, starting a
settlement) needs that certificate unrevoked and unexpired at the block's time. Keys that were
never certified (organisation admins and issuers distributing tokens, insurers, courts) keep
moving their own funds without one, except for ``Pay``, which always needs one (S4 checks the
payer's identity). Revoking or letting the certificate lapse therefore stops the key on every
path at once, not only on the path that happened to check it (issue 23).
"""

from __future__ import annotations

import msgspec

from consortium.events.results import Code
from consortium.rules.context import EventContext


class Certificate(msgspec.Struct, frozen=True, gc=False, array_like=True):
    issuer: bytes
    organisation: str
    valid_until_ms: int
    revoked: bool = False


def require_debit_allowed(ctx: EventContext, key: bytes, *, needs_certificate: bool) -> None:
    """Refuse a debit authored by ``key`` whose certificate is revoked or expired at block time.

    ``needs_certificate``: the operation is refused for a key that holds no certificate at all
    (``Pay``); otherwise an uncertified key may debit its own funds."""
    cert: Certificate | None = ctx.state.get("credit_certificates", key)
    if cert is None:
        ctx.require(not needs_certificate, Code.WRONG_ROLE, "the payer holds no certificate")
        return
    ctx.require(not cert.revoked, Code.WRONG_ROLE, "the payer's certificate is revoked")
    ctx.require(
        ctx.time_ms < cert.valid_until_ms,
        Code.DEADLINE,
        "the payer's certificate has expired (ledger time)",
    )
