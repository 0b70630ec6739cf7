"""Rows of the shared state and the keys they are stored under.

``accounts``, ``orders`` and ``settlements`` are the three read models every workflow feeds;
the other tables hold what the rules need to decide (who is who, which sequence numbers are used).
"""

from __future__ import annotations

import msgspec

from consortium.events.workflow import WorkflowSpec


class Participant(msgspec.Struct, frozen=True, gc=False, array_like=True):
    name: str
    organisation: str
    role: str
    active: bool = True


class Token(msgspec.Struct, frozen=True, gc=False, array_like=True):
    organisation: str
    supply: int = 0


class Entitlement(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """What one insurance policy still covers for one service: ``*_remaining`` is free for new
    requests, ``*_reserved`` is held by the policy's open orders (count and amount)."""

    policy: bytes
    service: str
    count_remaining: int
    amount_remaining: int
    count_reserved: int
    amount_reserved: int


class Account(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """Balance of one token held by one key, in minor units; a car owner's account in a
    policy's token also carries that owner's insurance entitlements (WORKFLOWS, insurance 4)."""

    owner: bytes
    token: str
    balance: int = 0
    entitlements: tuple[Entitlement, ...] = ()


class StatusChange(msgspec.Struct, frozen=True, gc=False, array_like=True):
    status: str
    height: int
    time_ms: int


class WorkflowInstance(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """Where one instance of a declarative workflow stands, and how it got there."""

    spec: str
    state: str
    history: tuple[StatusChange, ...]


class Order(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """A piece of work or a payment, with its status history."""

    kind: str
    parties: tuple[bytes, ...]
    token: str
    amount: int
    status: str
    history: tuple[StatusChange, ...]


class Settlement(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """Who owes whom, for which orders, and how far settlement has come."""

    debtor: bytes
    creditor: bytes
    token: str
    amount: int
    orders: tuple[bytes, ...]
    status: str
    history: tuple[StatusChange, ...]


CORE_TABLES: dict[str, type] = {
    "chain": str,  # b"id" -> the chain id, so rules can check signatures they carry
    "workflow_specs": WorkflowSpec,  # name -> the declarative definition from the genesis
    "workflow_instances": WorkflowInstance,
    "participants": Participant,
    "validators": bytes,  # b"<index>" -> the validator's public key, from the genesis
    "nonces": int,
    "tokens": Token,
    "accounts": Account,
    "orders": Order,
    "settlements": Settlement,
}

PROJECTIONS = ("accounts", "orders", "settlements")


def account_key(owner: bytes, token: str) -> bytes:
    return owner + token.encode()


def token_key(symbol: str) -> bytes:
    return symbol.encode()
