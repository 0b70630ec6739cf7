"""A host's view: only names exported by ``consortium`` are used here, blocking and async."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import consortium
from consortium import (
    Code,
    Consortium,
    ConsortiumConfig,
    Genesis,
    GenesisParticipant,
    GenesisValidator,
    Identity,
    IssueTokens,
    RegisterParticipant,
    RejectedByRule,
    TokenDefinition,
    Transfer,
)

FAST = ConsortiumConfig(durable=False, timeout_propose_ms=300, timeout_vote_ms=150)


def _setup(path: Path) -> tuple[Consortium, Identity, Identity, Identity]:
    validators = [Identity.generate(f"v{i}") for i in range(4)]
    admin, alice, bob = (Identity.generate(n) for n in ("admin", "alice", "bob"))
    genesis = Genesis(
        chain_id="public-api",
        genesis_time_ms=1_767_225_600_000,
        validators=tuple(
            GenesisValidator(v.name, f"org{i}", v.public_key) for i, v in enumerate(validators)
        ),
        participants=(GenesisParticipant("admin", "org0", "org_admin", admin.public_key),),
        tokens=(TokenDefinition("EUR", "org0"),),
    )
    return Consortium(genesis, path, validators, FAST), admin, alice, bob


def test_public_surface_is_explicit() -> None:
    assert set(consortium.__all__) <= set(dir(consortium))
    assert not any(name.startswith("_") for name in consortium.__all__)


def test_blocking_style(tmp_path: Path) -> None:
    c, admin, alice, bob = _setup(tmp_path)
    with c:
        issuer = c.participant(admin)
        for who in (alice, bob):
            issuer.submit(
                RegisterParticipant(participant=who.public_key, name=who.name, role="user")
            ).result(10).raise_if_rejected()
        issuer.submit(IssueTokens(token="EUR", to=alice.public_key, amount=100)).result(10)
        payer = c.participant(alice)
        receipt = payer.submit(Transfer(token="EUR", to=bob.public_key, amount=40)).result(10)
        assert receipt.accepted and receipt.height is not None
        assert c.balance(bob.public_key, "EUR") == 40
        refused = payer.submit(Transfer(token="EUR", to=bob.public_key, amount=1000)).result(10)
        assert refused.result.code is Code.INSUFFICIENT_FUNDS
        with pytest.raises(RejectedByRule):
            refused.raise_if_rejected()


@pytest.mark.asyncio
async def test_async_style_with_subscription(tmp_path: Path) -> None:
    c, admin, _, bob = _setup(tmp_path)
    with c:
        sub = c.subscribe_async()
        issuer = c.participant(admin)
        await issuer.submit(
            RegisterParticipant(participant=bob.public_key, name="bob", role="user")
        )
        receipt = await issuer.submit(IssueTokens(token="EUR", to=bob.public_key, amount=5))
        assert receipt.accepted

        async def until_height(height: int) -> consortium.BlockNotice:
            async for notice in sub:
                if notice.height >= height:
                    return notice
            raise AssertionError("subscription ended early")

        notice = await asyncio.wait_for(until_height(receipt.height or 0), 10)
        assert receipt.event_id in {e.event_id for e in notice.events}
