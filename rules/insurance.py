"""Rules of insurance value-added services (CN111242782A).

Provider selection (deterministic): among the providers registered for the requested service in
the requested region and contracted with the policy's insurer, the one with the fewest open
orders; ties go to the smallest public key. Providers that declined the order or let it time out
are never picked for it again. An index table keyed by (service, region) keeps the candidates
sorted, so selection never scans unrelated rows.

Reservations: assigning a request reserves one use of the service and an amount, an equal share
of the policy's unreserved amount over its unreserved count, rounded up (so it is positive and
never more than what is free). The reservation stays with the order while it passes from
provider to provider; a cancelled or unassigned order releases it. Completion consumes it: the
covered cost is the cost capped at the reservation plus what the policy still has unreserved,
so it never eats into the reservations of other open orders nor exceeds what the policy covers.
Whatever the reservation did not use goes back to the policy; the cost above the covered part is
the owner's to pay the provider, outside the ledger (the order records both ``cost`` and
``covered``). Settlement pays the covered part, once.

Acceptance deadline: each assignment gives the provider the policy's ``accept_within_ms`` of
ledger time; at the first block at or after that time, an order still not accepted passes to the
next eligible provider with a fresh window, or, if none is left, ends ``unassigned`` and releases
its reservation. Late orders are taken in (deadline, order id) order from the ``insurance_due``
schedule, before the block's events, so a late ``AcceptOrder`` is refused with ``deadline``.

Ending a contract: the provider's orders under the insurer's policies that are not yet accepted
pass on at once, in order-id order, as on a decline (the provider is no longer a candidate of
that insurer, so it is not marked as having declined); accepted orders stay with it, may still
complete, and the insurer settles them.

Every policy's remaining and reserved entitlements are mirrored into the ``accounts`` projection,
on the car owner's account in the policy's token (``Account.entitlements``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

import msgspec

from consortium.events.insurance import (
    AcceptOrder,
    CancelOrder,
    CancelPolicy,
    CompleteOrder,
    ContractProvider,
    Coverage,
    DeclineOrder,
    EndContract,
    IssuePolicy,
    RegisterProvider,
    RequestService,
    SettleOrder,
)
from consortium.events.results import Code
from consortium.rules import bounds
from consortium.rules.certificates import require_debit_allowed
from consortium.rules.context import EventContext
from consortium.rules.engine import BlockContext, BlockHook, FunctionRule
from consortium.rules.payments import balance_of, credit
from consortium.rules.schedule import ScheduleRow, file_due, take_due
from consortium.rules.state import Overlay, StateView
from consortium.rules.tables import (
    Account,
    Entitlement,
    Order,
    Settlement,
    StatusChange,
    account_key,
    token_key,
)

INSURER, OWNER, PROVIDER, REGULATOR = "insurer", "car_owner", "provider", "regulator"
OPEN = frozenset({"assigned", "accepted"})
"""Statuses of an order that holds a reservation and counts as a provider's open order."""


class Usage(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """What a service's cover is spent on: completed orders and their covered amount (used),
    and the count and amounts open orders hold (reserved)."""

    service: str
    used_count: int = 0
    used_amount: int = 0
    reserved_count: int = 0
    reserved_amount: int = 0


class Policy(msgspec.Struct, frozen=True, gc=False, array_like=True):
    insurer: bytes
    owner: bytes
    token: str
    coverage: tuple[Coverage, ...]
    valid_from_ms: int
    valid_until_ms: int
    accept_within_ms: int
    status: str = "active"
    usage: tuple[Usage, ...] = ()


class Provider(msgspec.Struct, frozen=True, gc=False, array_like=True):
    services: tuple[str, ...]
    regions: tuple[str, ...]
    insurers: tuple[bytes, ...] = ()
    open_orders: tuple[bytes, ...] = ()
    """Ids of the orders it holds (assigned or accepted), sorted: its load, and what ending a
    contract must revisit."""


class ServiceOrder(msgspec.Struct, frozen=True, gc=False, array_like=True):
    policy: bytes
    service: str
    region: str
    provider: bytes  # the current one, or the last one once the order is unassigned
    status: str  # assigned -> accepted -> completed -> paid; or cancelled, unassigned
    reserved: int
    accept_by_ms: int
    declined: tuple[bytes, ...] = ()
    timed_out: tuple[bytes, ...] = ()
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
    "insurance_due": ScheduleRow,
}

Clock = EventContext | BlockContext
"""Where an order moves: an event's or a block hook's state, height and ledger time."""


def _index_key(service: str, region: str) -> bytes:
    return service.encode() + b"\x00" + region.encode()


def _change(clock: Clock, status: str) -> StatusChange:
    return StatusChange(status, clock.height, clock.time_ms)


# ------------------------------------------------------------- entitlements


def _cover(policy: Policy, service: str) -> Coverage | None:
    return next((c for c in policy.coverage if c.service == service), None)


def _usage(policy: Policy, service: str) -> Usage:
    return next((u for u in policy.usage if u.service == service), Usage(service))


def free_entitlement(policy: Policy, service: str) -> tuple[int, int]:
    """(count, amount) of ``service`` neither used nor reserved; (0, 0) if it is not covered."""
    cover = _cover(policy, service)
    if cover is None:
        return 0, 0
    u = _usage(policy, service)
    return (
        cover.max_count - u.used_count - u.reserved_count,
        cover.max_amount - u.used_amount - u.reserved_amount,
    )


def _spend(
    policy: Policy, service: str, used: tuple[int, int], reserved: tuple[int, int]
) -> Policy:
    """``policy`` with (count, amount) ``used`` and ``reserved`` added to ``service``'s usage."""
    usage = {u.service: u for u in policy.usage}
    u = usage.get(service, Usage(service))
    usage[service] = Usage(
        service,
        u.used_count + used[0],
        u.used_amount + used[1],
        u.reserved_count + reserved[0],
        u.reserved_amount + reserved[1],
    )
    return msgspec.structs.replace(policy, usage=tuple(usage[s] for s in sorted(usage)))


def _entitlements(policy_id: bytes, policy: Policy) -> list[Entitlement]:
    rows = []
    for cover in policy.coverage:
        count, amount = free_entitlement(policy, cover.service)
        u = _usage(policy, cover.service)
        rows.append(
            Entitlement(
                policy_id, cover.service, count, amount, u.reserved_count, u.reserved_amount
            )
        )
    return rows


def _save_policy(state: Overlay, policy_id: bytes, policy: Policy) -> None:
    """Store ``policy`` and mirror its entitlements on the owner's account in its token."""
    state.put("insurance_policies", policy_id, policy)
    key = account_key(policy.owner, policy.token)
    account = state.get("accounts", key) or Account(policy.owner, policy.token)
    others = [e for e in account.entitlements if e.policy != policy_id]
    rows = sorted([*others, *_entitlements(policy_id, policy)], key=lambda e: (e.policy, e.service))
    state.put("accounts", key, msgspec.structs.replace(account, entitlements=tuple(rows)))


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
    bounds.amount(body.accept_within_ms, "IssuePolicy.accept_within_ms")
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
    policy = Policy(
        body.author,
        body.owner,
        body.token,
        body.coverage,
        body.valid_from_ms,
        body.valid_until_ms,
        body.accept_within_ms,
    )
    _save_policy(ctx.state, ctx.event_id, policy)


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


def _provider(ctx: EventContext, key: bytes) -> Provider:
    provider: Provider = ctx.existing("insurance_providers", key, "no such provider")
    return provider


def _check_contract(ctx: EventContext, body: ContractProvider) -> None:
    ctx.require_role(INSURER)
    provider = _provider(ctx, body.provider)
    ctx.require(body.author not in provider.insurers, Code.ALREADY_EXISTS, "already contracted")


def _apply_contract(ctx: EventContext, body: ContractProvider) -> None:
    provider = ctx.state.get("insurance_providers", body.provider)
    insurers = tuple(sorted((*provider.insurers, body.author)))
    ctx.state.put(
        "insurance_providers", body.provider, msgspec.structs.replace(provider, insurers=insurers)
    )


def _check_end_contract(ctx: EventContext, body: EndContract) -> None:
    ctx.require_role(INSURER)
    provider = _provider(ctx, body.provider)
    ctx.require(body.author in provider.insurers, Code.NOT_FOUND, "no contract with this provider")


def _apply_end_contract(ctx: EventContext, body: EndContract) -> None:
    provider = ctx.state.get("insurance_providers", body.provider)
    insurers = tuple(i for i in provider.insurers if i != body.author)
    ctx.state.put(
        "insurance_providers", body.provider, msgspec.structs.replace(provider, insurers=insurers)
    )
    for order_id in provider.open_orders:
        order = ctx.state.get("insurance_orders", order_id)
        policy = ctx.state.get("insurance_policies", order.policy)
        if order.status == "assigned" and policy.insurer == body.author:
            _pass_on(ctx, order_id, order)


# ------------------------------------------------------------------ requests


def select_provider(
    state: StateView,
    insurer: bytes,
    service: str,
    region: str,
    excluded: Collection[bytes] = (),
) -> bytes | None:
    """Fewest open orders among contracted candidates not ``excluded``; ties to the smallest
    key."""
    candidates: Iterable[bytes] = state.get("insurance_index", _index_key(service, region)) or ()
    best: tuple[int, bytes] | None = None
    for key in candidates:
        if key in excluded:
            continue
        provider: Provider = state.get("insurance_providers", key)
        load = (len(provider.open_orders), key)
        if insurer in provider.insurers and (best is None or load < best):
            best = load
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
    ctx.require(
        _cover(policy, body.service) is not None,
        Code.INVALID,
        f"service {body.service!r} is not covered by the policy",
    )
    count, amount = free_entitlement(policy, body.service)
    ctx.require(
        count > 0 and amount > 0,
        Code.EXHAUSTED,
        f"the entitlement for {body.service!r} is used up or reserved by open orders",
    )
    ctx.require(
        select_provider(ctx.state, policy.insurer, body.service, body.region) is not None,
        Code.NOT_FOUND,
        f"no provider contracted with the insurer offers {body.service!r} in {body.region!r}",
    )


def _apply_request(ctx: EventContext, body: RequestService) -> None:
    policy = ctx.state.get("insurance_policies", body.policy)
    count, amount = free_entitlement(policy, body.service)
    share = -(-amount // count)  # rounded up: positive, and at most ``amount``
    _save_policy(ctx.state, body.policy, _spend(policy, body.service, (0, 0), (1, share)))
    provider_key = select_provider(ctx.state, policy.insurer, body.service, body.region)
    assert provider_key is not None
    order = ServiceOrder(body.policy, body.service, body.region, provider_key, "assigned", share, 0)
    _assign(ctx, ctx.event_id, order, provider_key)


# ------------------------------------------------------- moving an open order


def _write_order(clock: Clock, order_id: bytes, order: ServiceOrder) -> None:
    """Store ``order`` and its ``orders`` projection row, one status change more."""
    policy: Policy = clock.state.get("insurance_policies", order.policy)
    shared: Order | None = clock.state.get("orders", order_id)
    history = () if shared is None else shared.history
    clock.state.put("insurance_orders", order_id, order)
    clock.state.put(
        "orders",
        order_id,
        Order(
            f"insurance.{order.service}",
            (policy.owner, order.provider, policy.insurer),
            policy.token,
            order.covered,
            order.status,
            (*history, _change(clock, order.status)),
        ),
    )


def _set_open(state: Overlay, provider_key: bytes, order_id: bytes, is_open: bool) -> None:
    provider: Provider = state.get("insurance_providers", provider_key)
    others = [o for o in provider.open_orders if o != order_id]
    orders = tuple(sorted([*others, order_id])) if is_open else tuple(others)
    state.put(
        "insurance_providers", provider_key, msgspec.structs.replace(provider, open_orders=orders)
    )


def _assign(clock: Clock, order_id: bytes, order: ServiceOrder, provider_key: bytes) -> None:
    """Give ``order`` to ``provider_key`` with a fresh acceptance window."""
    policy: Policy = clock.state.get("insurance_policies", order.policy)
    accept_by = min(clock.time_ms + policy.accept_within_ms, bounds.MAX_VALUE)
    _set_open(clock.state, provider_key, order_id, True)
    file_due(clock.state, "insurance_due", accept_by, order_id)
    assigned = msgspec.structs.replace(
        order, provider=provider_key, status="assigned", accept_by_ms=accept_by
    )
    _write_order(clock, order_id, assigned)


def _close(clock: Clock, order_id: bytes, order: ServiceOrder, status: str) -> None:
    """End ``order`` as ``status`` (cancelled, unassigned): the provider is freed and the
    reservation goes back to the policy."""
    _set_open(clock.state, order.provider, order_id, False)
    policy: Policy = clock.state.get("insurance_policies", order.policy)
    released = _spend(policy, order.service, (0, 0), (-1, -order.reserved))
    _save_policy(clock.state, order.policy, released)
    _write_order(clock, order_id, msgspec.structs.replace(order, status=status))


def _pass_on(clock: Clock, order_id: bytes, order: ServiceOrder) -> None:
    """Reassign ``order`` away from its provider to the next eligible one, or end it
    unassigned when no provider is left."""
    policy: Policy = clock.state.get("insurance_policies", order.policy)
    excluded = (*order.declined, *order.timed_out)
    nxt = select_provider(clock.state, policy.insurer, order.service, order.region, excluded)
    if nxt is None:
        _close(clock, order_id, order, "unassigned")
        return
    _set_open(clock.state, order.provider, order_id, False)
    _assign(clock, order_id, order, nxt)


def _marked(keys: tuple[bytes, ...], key: bytes) -> tuple[bytes, ...]:
    return tuple(sorted({*keys, key}))


def pass_on_late_orders(ctx: BlockContext) -> None:
    """Orders not accepted by their deadline pass to the next provider, latest-due last.

    The schedule may hold stale entries (an order accepted, or reassigned with a later deadline,
    since it was filed): only orders still assigned and due now are moved, in (deadline, id)
    order, so the outcome does not depend on which of an order's entries came out first."""
    taken = take_due(ctx.state, "insurance_due", ctx.time_ms)
    late = []
    for order_id in dict.fromkeys(taken):
        order: ServiceOrder = ctx.state.get("insurance_orders", order_id)
        if order.status == "assigned" and order.accept_by_ms <= ctx.time_ms:
            late.append((order.accept_by_ms, order_id))
    for _, order_id in sorted(late):
        order = ctx.state.get("insurance_orders", order_id)
        lapsed = _marked(order.timed_out, order.provider)
        _pass_on(ctx, order_id, msgspec.structs.replace(order, timed_out=lapsed))


BLOCK_HOOKS: tuple[BlockHook, ...] = (pass_on_late_orders,)


# -------------------------------------------------------------------- orders


def _order(ctx: EventContext, order_id: bytes) -> ServiceOrder:
    order: ServiceOrder = ctx.existing("insurance_orders", order_id, "no such service order")
    return order


def _require_holder(ctx: EventContext, order: ServiceOrder, doing: str) -> None:
    """The author must be the provider holding ``order``; one whose acceptance window lapsed
    on it is told ``deadline``."""
    ctx.require(
        ctx.author_key not in order.timed_out,
        Code.DEADLINE,
        "the order was not accepted in time and passed to another provider",
    )
    ctx.require(
        order.status != "unassigned" and ctx.author_key == order.provider,
        Code.WRONG_ROLE,
        f"only the assigned provider may {doing}",
    )


def _check_accept(ctx: EventContext, body: AcceptOrder) -> None:
    order = _order(ctx, body.order)
    _require_holder(ctx, order, "accept the order")
    ctx.require(order.status == "assigned", Code.WRONG_STATE, f"the order is {order.status}")


def _apply_accept(ctx: EventContext, body: AcceptOrder) -> None:
    order = ctx.state.get("insurance_orders", body.order)
    _write_order(ctx, body.order, msgspec.structs.replace(order, status="accepted"))


def _check_decline(ctx: EventContext, body: DeclineOrder) -> None:
    order = _order(ctx, body.order)
    _require_holder(ctx, order, "decline the order")
    ctx.require(
        order.status == "assigned",
        Code.WRONG_STATE,
        f"the order is {order.status}: only an order not yet accepted can be declined",
    )


def _apply_decline(ctx: EventContext, body: DeclineOrder) -> None:
    order = ctx.state.get("insurance_orders", body.order)
    declined = msgspec.structs.replace(order, declined=_marked(order.declined, body.author))
    _pass_on(ctx, body.order, declined)


def _check_cancel_order(ctx: EventContext, body: CancelOrder) -> None:
    order = _order(ctx, body.order)
    policy = ctx.state.get("insurance_policies", order.policy)
    ctx.require(body.author == policy.owner, Code.WRONG_ROLE, "only the car owner cancels")
    ctx.require(
        order.status in OPEN,
        Code.WRONG_STATE,
        f"the order is {order.status}: only an open order can be cancelled",
    )


def _apply_cancel_order(ctx: EventContext, body: CancelOrder) -> None:
    _close(ctx, body.order, ctx.state.get("insurance_orders", body.order), "cancelled")


def _check_complete(ctx: EventContext, body: CompleteOrder) -> None:
    order = _order(ctx, body.order)
    _require_holder(ctx, order, "upload the order record")
    ctx.require(order.status == "accepted", Code.WRONG_STATE, f"the order is {order.status}")
    bounds.amount(body.cost, "CompleteOrder.cost")
    ctx.require(
        all(len(a) == 32 for a in body.attachments),
        Code.INVALID,
        "attachments are SHA-256 content hashes",
    )


def _apply_complete(ctx: EventContext, body: CompleteOrder) -> None:
    """The reservation becomes the covered cost: at most the reservation plus what the policy
    has unreserved; the rest of the reservation is released, the cost above it is the owner's."""
    order = ctx.state.get("insurance_orders", body.order)
    policy = ctx.state.get("insurance_policies", order.policy)
    _, free = free_entitlement(policy, order.service)
    covered = min(body.cost, order.reserved + free)
    spent = _spend(policy, order.service, (1, covered), (-1, -order.reserved))
    _save_policy(ctx.state, order.policy, spent)
    _set_open(ctx.state, order.provider, body.order, False)
    completed = msgspec.structs.replace(
        order,
        status="completed",
        cost=body.cost,
        covered=covered,
        record=body.record,
        attachments=body.attachments,
    )
    _write_order(ctx, body.order, completed)
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
    # Settling debits the insurer: the one guard every debit a key authors goes through.
    require_debit_allowed(ctx, body.author, needs_certificate=False)
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
    _write_order(ctx, body.order, msgspec.structs.replace(order, status="paid"))
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
    EndContract: FunctionRule(_check_end_contract, _apply_end_contract),
    RequestService: FunctionRule(_check_request, _apply_request),
    AcceptOrder: FunctionRule(_check_accept, _apply_accept),
    DeclineOrder: FunctionRule(_check_decline, _apply_decline),
    CancelOrder: FunctionRule(_check_cancel_order, _apply_cancel_order),
    CompleteOrder: FunctionRule(_check_complete, _apply_complete),
    SettleOrder: FunctionRule(_check_settle, _apply_settle),
}
