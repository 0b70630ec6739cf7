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
    """An insurer (author) covers a car owner. ``accept_within_ms`` is the ledger time each
    assigned provider has to accept an order before it passes to the next provider."""

    owner: bytes
    token: str
    coverage: tuple[Coverage, ...]
    valid_from_ms: int
    valid_until_ms: int
    accept_within_ms: int = 600_000


class CancelPolicy(EventBody, frozen=True, tag="insurance.cancel_policy"):
    policy: bytes


class RegisterProvider(EventBody, frozen=True, tag="insurance.register_provider"):
    """A provider (author) states the services it offers and the regions it serves."""

    services: tuple[str, ...]
    regions: tuple[str, ...]


class ContractProvider(EventBody, frozen=True, tag="insurance.contract_provider"):
    """An insurer (author) contracts a provider."""

    provider: bytes


class EndContract(EventBody, frozen=True, tag="insurance.end_contract"):
    """An insurer (author) ends its contract with a provider: its orders under the insurer's
    policies that are not yet accepted pass to other providers; accepted ones may complete."""

    provider: bytes


class RequestService(EventBody, frozen=True, tag="insurance.request_service"):
    """A car owner asks for a service under a policy; the ledger assigns the provider."""

    policy: bytes
    service: str
    region: str


class AcceptOrder(EventBody, frozen=True, tag="insurance.accept_order"):
    order: bytes


class DeclineOrder(EventBody, frozen=True, tag="insurance.decline_order"):
    """The assigned provider refuses an order it has not accepted; it passes to the next one."""

    order: bytes


class CancelOrder(EventBody, frozen=True, tag="insurance.cancel_order"):
    """The car owner withdraws an order before it is completed; its reservation is released."""

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
    EndContract,
    RequestService,
    AcceptOrder,
    DeclineOrder,
    CancelOrder,
    CompleteOrder,
    SettleOrder,
)
