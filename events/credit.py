"""Event bodies of distributed token payments beyond plain transfers (CN112418867A): user
certificates, credit lines, payments on credit that raise bills, bill settlement, two-phase and
linked transfers."""

from __future__ import annotations

import msgspec

from consortium.events.body import EventBody


class IssueCertificate(EventBody, frozen=True, tag="payments.certificate"):
    """A business system (an organisation admin) certifies a user's key until a ledger time."""

    subject: bytes
    valid_until_ms: int


class RevokeCertificate(EventBody, frozen=True, tag="payments.revoke_certificate"):
    subject: bytes


class GrantCredit(EventBody, frozen=True, tag="payments.grant_credit"):
    """A merchant (author) approves an enterprise's application (its co-signature) for credit,
    or changes the limit of an existing line."""

    enterprise: bytes
    token: str
    limit: int


class RevokeCredit(EventBody, frozen=True, tag="payments.revoke_credit"):
    enterprise: bytes
    token: str


class Pay(EventBody, frozen=True, tag="payments.pay"):
    """An enterprise (author) pays a merchant: from its balance, the rest on the merchant's
    credit line, which raises a bill."""

    merchant: bytes
    token: str
    amount: int


class StartSettlement(EventBody, frozen=True, tag="payments.start_settlement"):
    """The enterprise (author) proposes to settle some of its open bills with one merchant; a
    settlement not confirmed within 7 days of ledger time lapses, its bills open again."""

    merchant: bytes
    bills: tuple[bytes, ...]


class ConfirmSettlement(EventBody, frozen=True, tag="payments.confirm_settlement"):
    """The merchant (author) confirms: the enterprise pays the bills' total, once."""

    settlement: bytes


class CancelSettlement(EventBody, frozen=True, tag="payments.cancel_settlement"):
    """Before confirmation, the enterprise that started a settlement withdraws it or its
    merchant declines it (author, either one): the bills are open again, to settle later."""

    settlement: bytes


class PendingTransfer(EventBody, frozen=True, tag="payments.pending"):
    """Phase one: ``amount`` is held from the author's balance until posted, voided, or
    automatically voided at ``timeout_ms`` (ledger time)."""

    to: bytes
    token: str
    amount: int
    timeout_ms: int


class PostTransfer(EventBody, frozen=True, tag="payments.post"):
    pending: bytes


class VoidTransfer(EventBody, frozen=True, tag="payments.void"):
    pending: bytes


class Leg(msgspec.Struct, frozen=True, gc=False, array_like=True, forbid_unknown_fields=True):
    to: bytes
    token: str
    amount: int


class LinkedTransfers(EventBody, frozen=True, tag="payments.linked"):
    """Several transfers from the author that commit all together or not at all."""

    legs: tuple[Leg, ...]


BODIES = (
    IssueCertificate,
    RevokeCertificate,
    GrantCredit,
    RevokeCredit,
    Pay,
    StartSettlement,
    ConfirmSettlement,
    CancelSettlement,
    PendingTransfer,
    PostTransfer,
    VoidTransfer,
    LinkedTransfers,
)
