"""Start an embedded consortium on the demo genesis, with short timeouts for fault tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from consortium.api import Consortium, ParticipantHandle
from consortium.config import ConsortiumConfig
from consortium.demo import demo_genesis
from consortium.demo.common import identity
from consortium.events.payments import IssueTokens, RegisterParticipant

FAST = ConsortiumConfig(
    durable=False, timeout_propose_ms=300, timeout_vote_ms=150, timeout_delta_ms=100
)


def start(path: Path, config: ConsortiumConfig = FAST) -> Consortium:
    genesis, validators = demo_genesis()
    return Consortium(genesis, path, validators, config)


@pytest.fixture
def consortium(tmp_path: Path) -> Iterator[Consortium]:
    c = start(tmp_path)
    yield c
    c.stop()


def funded_users(c: Consortium, n: int, amount: int = 1_000_000) -> list[ParticipantHandle]:
    """``n`` users enrolled by the north-bank admin, each holding ``amount`` NORTH."""
    admin = c.participant(identity("admin@north-bank"))
    users = [identity(f"test-user-{i}") for i in range(n)]
    for u in users:
        assert (
            admin.submit(RegisterParticipant(participant=u.public_key, name=u.name, role="user"))
            .result(10)
            .accepted
        )
    receipts = [
        admin.submit(IssueTokens(token="NORTH", to=u.public_key, amount=amount)) for u in users
    ]
    assert all(r.result(10).accepted for r in receipts)
    return [c.participant(u) for u in users]


def wait_until(condition: Callable[[], bool], timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def block_hashes(c: Consortium, validator: int) -> list[bytes]:
    return c.inspect(
        lambda node: [s.committed.block.hash for s in node.log.stored_blocks()], validator
    )
