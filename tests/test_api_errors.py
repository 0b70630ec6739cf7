"""The public API's typed errors: rejections, timeouts, a stopped consortium."""

from __future__ import annotations

from pathlib import Path

import pytest

from consortium import (
    ConsortiumStopped,
    ReceiptTimeout,
    RejectedAtIntake,
    RejectedByRule,
    Transfer,
)
from tests.consortium_fixtures import funded_users, start


def test_rejections_raise_typed_errors_that_say_what_to_do(tmp_path: Path) -> None:
    c = start(tmp_path)
    try:
        alice, bob = funded_users(c, 2)
        ok = alice.submit(Transfer(token="NORTH", to=bob.public_key, amount=1)).result(10)
        assert ok.raise_if_rejected() is ok
        overdraft = bob.submit(Transfer(token="NORTH", to=alice.public_key, amount=10**15))
        with pytest.raises(RejectedByRule, match="Fund the account") as by_rule:
            overdraft.result(10).raise_if_rejected()
        assert by_rule.value.code == "insufficient_funds"
        with pytest.raises(RejectedAtIntake, match="malformed"):
            alice.submit_signed(b"junk").result(10).raise_if_rejected()
    finally:
        c.stop()


def test_waiting_too_short_raises_receipt_timeout_which_is_a_timeout_error(
    tmp_path: Path,
) -> None:
    c = start(tmp_path)
    try:
        alice, bob = funded_users(c, 2)
        for v in (1, 2, 3):
            c.stop_validator(v)  # no quorum: nothing can commit
        handle = c.participant(alice.identity, validator=0)
        future = handle.submit(Transfer(token="NORTH", to=bob.public_key, amount=1))
        with pytest.raises(ReceiptTimeout, match="quorum"):
            future.result(0.3)
        with pytest.raises(TimeoutError):
            future.result(0.01)
    finally:
        c.stop()


def test_submitting_after_stop_fails_with_consortium_stopped(tmp_path: Path) -> None:
    c = start(tmp_path)
    alice, bob = funded_users(c, 2)
    c.stop()
    with pytest.raises(ConsortiumStopped):
        alice.submit(Transfer(token="NORTH", to=bob.public_key, amount=1)).result(5)
