"""Event bodies of court-ordered restitution (CN112100635A)."""

from __future__ import annotations

import msgspec

from consortium.events.body import EventBody


class Entitlement(
    msgspec.Struct, frozen=True, gc=False, array_like=True, forbid_unknown_fields=True
):
    victim: bytes
    amount: int


class RegisterCase(EventBody, frozen=True, tag="restitution.register_case"):
    """The court registers a case: recovered funds held at a bank, victims' entitlements."""

    case: str
    bank: bytes
    token: str
    custody_amount: int
    entitlements: tuple[Entitlement, ...]
    documents: tuple[bytes, ...] = ()  # SHA-256 of supporting documents


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
    """The court formally writes off what a victim will not receive."""

    case: str
    victim: bytes


class CloseCase(EventBody, frozen=True, tag="restitution.close_case"):
    case: str


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
)
