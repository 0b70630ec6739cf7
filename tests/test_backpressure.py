"""Overload: a full mempool answers ``overloaded`` at once instead of queueing without bound."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from consortium.events.payments import Transfer
from consortium.events.results import Code
from tests.consortium_fixtures import FAST, funded_users, start


def test_full_mempool_refuses_with_overloaded_and_the_rest_commits(tmp_path: Path) -> None:
    c = start(tmp_path, dataclasses.replace(FAST, mempool_capacity=50, max_block_events=20))
    try:
        alice, bob = funded_users(c, 2)
        futures = [
            alice.submit(Transfer(token="NORTH", to=bob.public_key, amount=1)) for _ in range(1500)
        ]
        codes = [f.result(60).result.code for f in futures]
        assert Code.OVERLOADED in codes
        assert set(codes) <= {Code.OK, Code.OVERLOADED}
        accepted = codes.count(Code.OK)
        assert accepted > 0
        assert c.balance(bob.public_key, "NORTH") == 1_000_000 + accepted
        assert all(len(c.inspect(lambda n: n.mempool, v)) <= 50 for v in range(4))
    finally:
        c.stop()
