"""Backpressure reaches the embedded host: ``submit`` refuses (or waits) once its budget of
submissions without a receipt is used, so nothing between the host and a block grows without
bound. The budget is held without a quorum (two of four validators stopped): nothing commits,
so every admitted submission stays in flight."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

from consortium.admission import SubmissionBudget
from consortium.api import Consortium
from consortium.events.payments import Transfer
from consortium.events.results import Code
from tests.consortium_fixtures import FAST, funded_users, start

CAPACITY = 40


def _stalled(tmp_path: Path, wait_s: float = 0.0) -> tuple[Consortium, list, SubmissionBudget]:
    config = dataclasses.replace(FAST, max_pending_submissions=CAPACITY, submit_wait_s=wait_s)
    c = start(tmp_path, config)
    users = funded_users(c, 2)
    c.stop_validator(2)
    c.stop_validator(3)  # no quorum: what is admitted waits
    return c, users, c._budget


def test_a_full_budget_answers_overloaded_at_once_before_signing(tmp_path: Path) -> None:
    c, (alice, bob), budget = _stalled(tmp_path)
    try:
        pay = Transfer(token="NORTH", to=bob.public_key, amount=1)
        held = [alice.submit(pay) for _ in range(CAPACITY)]
        assert budget.in_flight == CAPACITY
        refused = [alice.submit(pay) for _ in range(10)]
        for future in refused:
            receipt = future.result(1)
            assert receipt.result.code is Code.OVERLOADED and receipt.height is None
            assert receipt.event_id == b""  # nothing was signed
        assert not any(f.done() for f in held)
        c.start_validator(2)  # a quorum again: the held ones commit and give their places back
        receipts = [f.result(30) for f in held]
        assert all(r.height is not None for r in receipts)  # every held one reached a block
        assert budget.in_flight == 0
        paid = sum(r.accepted for r in receipts)
        assert paid > 0 and c.balance(bob.public_key, "NORTH") == 1_000_000 + paid
        assert alice.submit(pay).result(30).accepted
    finally:
        c.stop()


def test_a_host_that_asks_to_wait_gets_in_when_room_appears(tmp_path: Path) -> None:
    c, (alice, bob), _ = _stalled(tmp_path, wait_s=30.0)
    try:
        pay = Transfer(token="NORTH", to=bob.public_key, amount=1)
        held = [alice.submit(pay) for _ in range(CAPACITY)]
        threading.Timer(0.5, c.start_validator, args=(2,)).start()
        late = alice.submit(pay)  # blocks until one of the held ones has its receipt
        assert late.result(30).accepted
        # Every held one reached a block. (One that a proposer met only after the later event
        # may be refused as a replay: an author's numbers must rise within the chain.)
        assert all(f.result(30).height is not None for f in held)
    finally:
        c.stop()


def test_a_flood_never_has_more_in_flight_than_the_budget(tmp_path: Path) -> None:
    config = dataclasses.replace(FAST, max_pending_submissions=CAPACITY)
    c = start(tmp_path, config)
    try:
        alice, bob = funded_users(c, 2)
        budget = c._budget
        peak = 0
        futures = []
        for _ in range(3_000):
            futures.append(alice.submit(Transfer(token="NORTH", to=bob.public_key, amount=1)))
            peak = max(peak, budget.in_flight)
        codes = [f.result(60).result.code for f in futures]
        assert peak <= CAPACITY
        assert set(codes) <= {Code.OK, Code.OVERLOADED} and Code.OVERLOADED in codes
        assert c.balance(bob.public_key, "NORTH") == 1_000_000 + codes.count(Code.OK)
    finally:
        c.stop()
