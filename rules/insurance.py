"""Rules of insurance value-added services (CN111242782A).

Provider selection (deterministic): among the providers registered for the requested service in
the requested region and contracted with the policy's insurer, the one with the fewest open
orders; ties go to the smallest public key. An index table keyed by (service, region) keeps the
candidates sorted, so selection never scans unrelated rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from consortium.events.insurance import (
    AcceptOrder,
    CancelPolicy,
    CompleteOrder,
    ContractProvider,
    Coverage,
    IssuePolicy,
    RegisterProvider,
    RequestService,
    SettleOrder,
)
from consortium.events.results import Code
from consortium.rules import bounds
from consortium.rules.context import EventContext
from consortium.rules.engine import BlockHook, FunctionRule
from consortium.rules.payments import balance_of, credit
from consortium.rules.state import StateView
from consortium.rules.tables import Order, Settlement, StatusChange, token_key

INSURER, OWNER, PROVIDER, REGULATOR = "insurer", "car_owner", "provider", "regulator"


class Usage(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """Orders reserved against a service (counted when assigned) and the amount paid for them
    (known when the provider records the cost, capped there by what remains)."""

    service: str
    count: int
    amount: int


class Policy(msgspec.Struct, frozen=True, gc=False, array_like=True):
    insurer: bytes
    owner: bytes
    token: str
    coverage: tuple[Coverage, ...]
    valid_from_ms: int
    valid_until_ms: int
    status: str = "active"
    usage: tuple[Usage, ...] = ()


class Provider(msgspec.Struct, frozen=True, gc=False, array_like=True):
    services: tuple[str, ...]
    regions: tuple[str, ...]
    insurers: tuple[bytes, ...] = ()
    open_orders: int = 0


class ServiceOrder(msgspec.Struct, frozen=True, gc=False, array_like=True):
    policy: bytes
    service: str
    region: str
    provider: bytes
    status: str  # assigned -> accepted -> completed -> paid
    cost: int = 0
    covered: int = 0
    record: str = ""
    attachments: tuple[bytes, ...] = ()


ROLES = frozenset({INSURER, OWNER, PROVIDER, REGULATOR})
TABLES: dict[str, Any] = {
    "insurance_policies": Policy,
    "insurance_providers": Provider,
    "insurance_index": tuple[bytes, ...],
    "insurance_orders": ServiceOrder,
}
BLOCK_HOOKS: tuple[BlockHook, ...] = ()


def _index_key(service: str, region: str) -> bytes:
    return service.encode() + b"\x00" + region.encode()


def _change(ctx: EventContext, status: str) -> StatusChange:
    return StatusChange(status, ctx.height, ctx.time_ms)


def _set_order_status(ctx: EventContext, order_id: bytes, status: str, **fields: Any) -> None:
    order = ctx.state.get("insurance_orders", order_id)
    ctx.state.put(
        "insurance_orders", order_id, msgspec.structs.replace(order, status=status, **fields)
    )
    shared = ctx.state.get("orders", order_id)
    amount = fields.get("covered", shared.amount)
    ctx.state.put(
        "orders",
        order_id,
        msgspec.structs.replace(
            shared, status=status, amount=amount, history=(*shared.history, _change(ctx, status))
        ),
    )


# ------------------------------------------------------------------ policies


def _check_issue(ctx: EventContext, body: IssuePolicy) -> None:
    ctx.require_role(INSURER)
    owner = ctx.participant(body.owner, "car owner")
    ctx.require(owner.role == OWNER, Code.WRONG_ROLE, "a policy is issued to a car owner")
    ctx.require(
        ctx.state.get("tokens", token_key(body.token)) is not None,
        Code.NOT_FOUND,
        f"token {body.token!r} does not exist",
    )
    bounds.in_range(body.valid_from_ms, "IssuePolicy.valid_from_ms")
    bounds.in_range(body.valid_until_ms, "IssuePolicy.valid_until_ms")
    ctx.require(body.valid_from_ms < body.valid_until_ms, Code.INVALID, "empty validity period")
    services = [c.service for c in body.coverage]
    ctx.require(
        bool(services) and len(set(services)) == len(services),
        Code.INVALID,
        "coverage must list each service once",
    )
    for c in body.coverage:
        bounds.amount(c.max_count, f"IssuePolicy.coverage[{c.service!r}].max_count")
        bounds.amount(c.max_amount, f"IssuePolicy.coverage[{c.service!r}].max_amount")


def _apply_issue(ctx: EventContext, body: IssuePolicy) -> None:
    ctx.state.put(
        "insurance_policies",
        ctx.event_id,
        Policy(
            body.author,
            body.owner,
            body.token,
            body.coverage,
            body.valid_from_ms,
            body.valid_until_ms,
        ),
    )


def _policy(ctx: EventContext, policy_id: bytes) -> Policy:
    policy: Policy = ctx.existing("insurance_policies", policy_id, "no such policy")
    return policy


def _check_cancel(ctx: EventContext, body: CancelPolicy) -> None:
    policy = _policy(ctx, body.policy)
    ctx.require(
        body.author == policy.insurer, Code.WRONG_ROLE, "only the policy's insurer may cancel it"
    )
    ctx.require(policy.status == "active", Code.WRONG_STATE, f"the policy is {policy.status}")


def _apply_cancel(ctx: EventContext, body: CancelPolicy) -> None:
    policy = ctx.state.get("insurance_policies", body.policy)
    ctx.state.put(
        "insurance_policies", body.policy, msgspec.structs.replace(policy, status="cancelled")
    )


# ----------------------------------------------------------------- providers


def _check_register(ctx: EventContext, body: RegisterProvider) -> None:
    ctx.require_role(PROVIDER)
    ctx.require(
        bool(body.services) and bool(body.regions),
        Code.INVALID,
        "name at least one service and one region",
    )
    ctx.require(
        ctx.state.get("insurance_providers", body.author) is None,
        Code.ALREADY_EXISTS,
        "this provider is registered already",
    )


def _apply_register(ctx: EventContext, body: RegisterProvider) -> None:
    services, regions = tuple(sorted(set(body.services))), tuple(sorted(set(body.regions)))
    ctx.state.put("insurance_providers", body.author, Provider(services, regions))
    for service in services:
        for region in regions:
            key = _index_key(service, region)
            listed = ctx.state.get("insurance_index", key) or ()
            ctx.state.put("insurance_index", key, tuple(sorted((*listed, body.author))))


def _check_contract(ctx: EventContext, body: ContractProvider) -> None:
    ctx.require_role(INSURER)
    provider: Provider = ctx.existing("insurance_providers", body.provider, "no such provider")
    ctx.require(body.author not in provider.insurers, Code.ALREADY_EXISTS, "already contracted")


def _apply_contract(ctx: EventContext, body: ContractProvider) -> None:
    provider = ctx.state.get("insurance_providers", body.provider)
    ctx.state.put(
        "insurance_providers",
        body.provider,
        msgspec.structs.replace(
            provider, insurers=tuple(sorted((*provider.insurers, body.author)))
        ),
    )


# ------------------------------------------------------------------ requests


def _remaining(policy: Policy, service: str) -> tuple[int, int]:
    """(remaining count, remaining amount) for ``service``; (0, 0) if it is not covered."""
    cover = next((c for c in policy.coverage if c.service == service), None)
    if cover is None:
        return 0, 0
    used = next((u for u in policy.usage if u.service == service), Usage(service, 0, 0))
    return cover.max_count - used.count, cover.max_amount - used.amount


def _used(policy: Policy, service: str, count: int, amount: int) -> Policy:
    """``policy`` with ``count`` more orders and ``amount`` more paid against ``service``."""
    usage = {u.service: u for u in policy.usage}
    used = usage.get(service, Usage(service, 0, 0))
    usage[service] = Usage(service, used.count + count, used.amount + amount)
    return msgspec.structs.replace(policy, usage=tuple(usage[s] for s in sorted(usage)))


def select_provider(state: StateView, insurer: bytes, service: str, region: str) -> bytes | None:
    """Fewest open orders among contracted candidates; ties to the smallest key."""
    candidates: Iterable[bytes] = state.get("insurance_index", _index_key(service, region)) or ()
    best: tuple[int, bytes] | None = None
    for key in candidates:
        provider: Provider = state.get("insurance_providers", key)
        if insurer in provider.insurers and (best is None or (provider.open_orders, key) < best):
            best = (provider.open_orders, key)
    return None if best is None else best[1]


def _check_request(ctx: EventContext, body: RequestService) -> None:
    policy = _policy(ctx, body.policy)
    ctx.require(body.author == policy.owner, Code.WRONG_ROLE, "only the insured car owner asks")
    ctx.require(policy.status == "active", Code.WRONG_STATE, f"the policy is {policy.status}")
    ctx.require(
        policy.valid_from_ms <= ctx.time_ms < policy.valid_until_ms,
        Code.DEADLINE,
        "the policy is not valid at this ledger time (expired or not yet valid)",
    )
    count, amount = _remaining(policy, body.service)
    ctx.require(
        any(c.service == body.service for c in policy.coverage),
        Code.INVALID,
        f"service {body.service!r} is not covered by the policy",
    )
    ctx.require(
        count > 0 and amount > 0, Code.EXHAUSTED, f"the entitlement for {body.service!r} is used up"
    )
    ctx.require(
        select_provider(ctx.state, policy.insurer, body.service, body.region) is not None,
        Code.NOT_FOUND,
        f"no provider contracted with the insurer offers {body.service!r} in {body.region!r}",
    )


def _apply_request(ctx: EventContext, body: RequestService) -> None:
    policy = ctx.state.get("insurance_policies", body.policy)
    # The order's count is reserved now, so overlapping requests cannot outnumber the cover.
    ctx.state.put("insurance_policies", body.policy, _used(policy, body.service, 1, 0))
    provider_key = select_provider(ctx.state, policy.insurer, body.service, body.region)
    assert provider_key is not None
    provider = ctx.state.get("insurance_providers", provider_key)
    ctx.state.put(
        "insurance_providers",
        provider_key,
        msgspec.structs.replace(provider, open_orders=provider.open_orders + 1),
    )
    ctx.state.put(
        "insurance_orders",
        ctx.event_id,
        ServiceOrder(body.policy, body.service, body.region, provider_key, "assigned"),
    )
    ctx.state.put(
        "orders",
        ctx.event_id,
        Order(
            f"insurance.{body.service}",
            (policy.owner, provider_key, policy.insurer),
            policy.token,
            0,
            "assigned",
            (_change(ctx, "assigned"),),
        ),
    )


# -------------------------------------------------------------------- orders


def _order(ctx: EventContext, order_id: bytes) -> ServiceOrder:
    order: ServiceOrder = ctx.existing("insurance_orders", order_id, "no such service order")
    return order


def _check_accept(ctx: EventContext, body: AcceptOrder) -> None:
    order = _order(ctx, body.order)
    ctx.require(
        body.author == order.provider,
        Code.WRONG_ROLE,
        "only the assigned provider may accept the order",
    )
    ctx.require(order.status == "assigned", Code.WRONG_STATE, f"the order is {order.status}")


def _apply_accept(ctx: EventContext, body: AcceptOrder) -> None:
    _set_order_status(ctx, body.order, "accepted")


def _check_complete(ctx: EventContext, body: CompleteOrder) -> None:
    order = _order(ctx, body.order)
    ctx.require(
        body.author == order.provider,
        Code.WRONG_ROLE,
        "only the assigned provider may upload the order record",
    )
    ctx.require(order.status == "accepted", Code.WRONG_STATE, f"the order is {order.status}")
    bounds.amount(body.cost, "CompleteOrder.cost")
    ctx.require(
        all(len(a) == 32 for a in body.attachments),
        Code.INVALID,
        "attachments are SHA-256 content hashes",
    )


def _apply_complete(ctx: EventContext, body: CompleteOrder) -> None:
    order = ctx.state.get("insurance_orders", body.order)
    policy = ctx.state.get("insurance_policies", order.policy)
    _, remaining = _remaining(policy, order.service)
    covered = max(0, min(body.cost, remaining))
    ctx.state.put("insurance_policies", order.policy, _used(policy, order.service, 0, covered))
    provider = ctx.state.get("insurance_providers", order.provider)
    ctx.state.put(
        "insurance_providers",
        order.provider,
        msgspec.structs.replace(provider, open_orders=provider.open_orders - 1),
    )
    _set_order_status(
        ctx,
        body.order,
        "completed",
        cost=body.cost,
        covered=covered,
        record=body.record,
        attachments=body.attachments,
    )
    ctx.state.put(
        "settlements",
        body.order,
        Settlement(
            policy.insurer,
            order.provider,
            policy.token,
            covered,
            (body.order,),
            "open",
            (_change(ctx, "open"),),
        ),
    )


def _check_settle(ctx: EventContext, body: SettleOrder) -> None:
    order = _order(ctx, body.order)
    policy = ctx.state.get("insurance_policies", order.policy)
    ctx.require(body.author == policy.insurer, Code.WRONG_ROLE, "only the insurer pays")
    ctx.require(order.status != "paid", Code.ALREADY_EXISTS, "this order is paid already")
    ctx.require(order.status == "completed", Code.WRONG_STATE, f"the order is {order.status}")
    balance = balance_of(ctx.state, policy.insurer, policy.token)
    ctx.require(
        balance >= order.covered,
        Code.INSUFFICIENT_FUNDS,
        f"the insurer holds {balance} {policy.token}, owes {order.covered}",
    )


def _apply_settle(ctx: EventContext, body: SettleOrder) -> None:
    order = ctx.state.get("insurance_orders", body.order)
    policy = ctx.state.get("insurance_policies", order.policy)
    credit(ctx.state, policy.insurer, policy.token, -order.covered)
    credit(ctx.state, order.provider, policy.token, order.covered)
    _set_order_status(ctx, body.order, "paid")
    settlement = ctx.state.get("settlements", body.order)
    ctx.state.put(
        "settlements",
        body.order,
        msgspec.structs.replace(
            settlement, status="settled", history=(*settlement.history, _change(ctx, "settled"))
        ),
    )


def value_added_spending(state: Any) -> dict[bytes, int]:
    """What each insurer has paid providers, from the settlements projection alone."""
    totals: dict[bytes, int] = {}
    for order_id, settlement in state.rows("settlements"):
        order = state.get("orders", order_id)
        if (
            order is not None
            and order.kind.startswith("insurance.")
            and settlement.status == "settled"
        ):
            totals[settlement.debtor] = totals.get(settlement.debtor, 0) + settlement.amount
    return totals


RULES = {
    IssuePolicy: FunctionRule(_check_issue, _apply_issue),
    CancelPolicy: FunctionRule(_check_cancel, _apply_cancel),
    RegisterProvider: FunctionRule(_check_register, _apply_register),
    ContractProvider: FunctionRule(_check_contract, _apply_contract),
    RequestService: FunctionRule(_check_request, _apply_request),
    AcceptOrder: FunctionRule(_check_accept, _apply_accept),
    CompleteOrder: FunctionRule(_check_complete, _apply_complete),
    SettleOrder: FunctionRule(_check_settle, _apply_settle),
}
