"""Shared executions: used only by a validator whose state matches, and never change results."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

from consortium.events.payments import Transfer
from consortium.ledger.execution_memo import ExecutionMemo
from tests.consortium_fixtures import FAST, funded_users, start, wait_until


def test_memo_is_keyed_by_block_and_pre_state() -> None:
    memo = ExecutionMemo(capacity=2)
    run = object()
    memo.put((b"block", b"state-a"), run)  # type: ignore[arg-type]
    assert memo.get((b"block", b"state-a")) is run
    assert memo.get((b"block", b"state-b")) is None
    memo.put((b"b2", b"s"), run)  # type: ignore[arg-type]
    memo.put((b"b3", b"s"), run)  # type: ignore[arg-type]
    assert memo.get((b"block", b"state-a")) is None  # evicted: capacity is bounded


def test_validators_agree_with_shared_and_with_independent_execution(tmp_path: Path) -> None:
    digests = []
    for shared in (False, True):
        config = dataclasses.replace(FAST, share_executions=shared)
        c = start(tmp_path / str(shared), config)
        try:
            users = funded_users(c, 4)
            rng = random.Random(5)
            futures = [
                users[a].submit(Transfer(token="NORTH", to=users[b].public_key, amount=3))
                for a, b in (rng.sample(range(4), 2) for _ in range(100))
            ]
            assert all(f.result(20).accepted for f in futures)
            assert wait_until(lambda c=c: len({c.height(i) for i in range(4)}) == 1)
            digests.append({c.state_digest(i) for i in range(4)})
            if shared:
                assert c._shared.executions is not None and c._shared.executions.hits > 0
        finally:
            c.stop()
    assert len(digests[0]) == 1 and len(digests[1]) == 1
