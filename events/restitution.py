"""Event bodies of court-ordered restitution (CN112100635A)."""

from __future__ import annotations

import msgspec

from consortium.events.body import EventBody


class Entitlement(
    msgspec.Struct, frozen=True, gc=False, array_like=True, forbid_unknown_fields=True
):
    victim: bytes
    amount: int


class Share(msgspec.Struct, frozen=True, gc=False, array_like=True, forbid_unknown_fields=True):
    """An entitlement given as a share of the recovered sum, in basis points (1/10,000)."""

    victim: bytes
    basis_points: int


class RegisterCase(EventBody, frozen=True, tag="restitution.register_case"):
    """The court registers a case: recovered funds held at a bank, victims' entitlements.

    ``entitlements`` are fixed amounts; ``shares`` divide what the fixed amounts leave of the
    recovered sum (``custody_amount``), each rounded down, the rounding remainder going to the
    largest share when the shares add up to the whole (10,000 basis points)."""

    case: str
    bank: bytes
    token: str
    custody_amount: int
    entitlements: tuple[Entitlement, ...]
    documents: tuple[bytes, ...] = ()  # SHA-256 of supporting documents
    shares: tuple[Share, ...] = ()


class ConfirmCustody(EventBody, frozen=True, tag="restitution.confirm_custody"):
    """The bank moves the recovered amount into the case's custody account."""

    case: str


class RegisterClaim(EventBody, frozen=True, tag="restitution.register_claim"):
    """A victim (author) claims, naming the account that receives the money."""

    case: str
    receiving_account: bytes


class VerifyClaim(EventBody, frozen=True, tag="restitution.verify_claim"):
    case: str
    victim: bytes


class IssueOrder(EventBody, frozen=True, tag="restitution.issue_order"):
    """The court orders per-victim payments from custody."""

    case: str
    payments: tuple[Entitlement, ...]


class Disburse(EventBody, frozen=True, tag="restitution.disburse"):
    """The bank pays one victim what the order says."""

    case: str
    victim: bytes


class ConfirmReceipt(EventBody, frozen=True, tag="restitution.confirm_receipt"):
    """The victim (author) confirms receipt."""

    case: str


class WriteOff(EventBody, frozen=True, tag="restitution.write_off"):
    """The court formally writes off what a victim will not receive: ``amount`` states it, and
    must be exactly the victim's unpaid remainder (an order not yet disbursed is cancelled)."""

    case: str
    victim: bytes
    amount: int


class CloseCase(EventBody, frozen=True, tag="restitution.close_case"):
    case: str


class ReturnCustody(EventBody, frozen=True, tag="restitution.return_custody"):
    """After closing, the court sends what is left in custody (``amount``, all of it) back to
    the bank that put it there; once."""

    case: str
    amount: int


BODIES = (
    RegisterCase,
    ConfirmCustody,
    RegisterClaim,
    VerifyClaim,
    IssueOrder,
    Disburse,
    ConfirmReceipt,
    WriteOff,
    CloseCase,
    ReturnCustody,
)
