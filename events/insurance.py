"""Event bodies of insurance value-added services (CN111242782A)."""

from __future__ import annotations

import msgspec

from consortium.events.body import EventBody


class Coverage(msgspec.Struct, frozen=True, gc=False, array_like=True, forbid_unknown_fields=True):
    """One covered service: how many times and up to what total amount (minor units)."""

    service: str
    max_count: int
    max_amount: int


class IssuePolicy(EventBody, frozen=True, tag="insurance.issue_policy"):
    owner: bytes
    token: str
    coverage: tuple[Coverage, ...]
    valid_from_ms: int
    valid_until_ms: int


class CancelPolicy(EventBody, frozen=True, tag="insurance.cancel_policy"):
    policy: bytes


class RegisterProvider(EventBody, frozen=True, tag="insurance.register_provider"):
    """A provider (author) states the services it offers and the regions it serves."""

    services: tuple[str, ...]
    regions: tuple[str, ...]


class ContractProvider(EventBody, frozen=True, tag="insurance.contract_provider"):
    """An insurer (author) contracts a provider."""

    provider: bytes


class RequestService(EventBody, frozen=True, tag="insurance.request_service"):
    """A car owner asks for a service under a policy; the ledger assigns the provider."""

    policy: bytes
    service: str
    region: str


class AcceptOrder(EventBody, frozen=True, tag="insurance.accept_order"):
    order: bytes


class CompleteOrder(EventBody, frozen=True, tag="insurance.complete_order"):
    """The assigned provider uploads the order record: cost and attachments by content hash."""

    order: bytes
    cost: int
    record: str
    attachments: tuple[bytes, ...] = ()


class SettleOrder(EventBody, frozen=True, tag="insurance.settle_order"):
    """The insurer pays the provider the covered cost of a completed order, once."""

    order: bytes


BODIES = (
    IssuePolicy,
    CancelPolicy,
    RegisterProvider,
    ContractProvider,
    RequestService,
    AcceptOrder,
    CompleteOrder,
    SettleOrder,
)
