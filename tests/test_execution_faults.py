"""An exception a rule does not raise on purpose is no verdict: it stops the execution.

Before, any exception from a rule became an ``invalid`` result; a ``RecursionError`` or a
``MemoryError`` on one validator and not another would then have split them. Now the engine
raises ``ExecutionFault``; a validator refuses to vote for a proposal it cannot execute, drops
the event from the blocks it builds, and raises the fault when a block it cannot execute
comes back certified.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from consortium.demo.common import identity as demo_identity
from consortium.events.envelope import event_id
from consortium.events.errors import ReceiptTimeout
from consortium.events.payments import IssueTokens, Transfer
from consortium.events.results import Code, Rejected
from consortium.ledger.node import LedgerNode, NodeSettings
from consortium.rules.engine import BlockContext, FunctionRule, Ruleset
from consortium.rules.faults import ExecutionFault
from consortium.rules.rulebook import RULESET
from consortium.storage.log import EventLog
from tests.consortium_fixtures import funded_users, start
from tests.ledger_fixtures import ADMIN, ALICE, BOB, GENESIS, Ledger
from tests.test_rules_payments import balance

FAULTS = [RuntimeError("bug"), RecursionError("deep"), MemoryError(), OverflowError("big")]


def _with_transfer_apply(apply: object) -> Ruleset:
    rules = dict(RULESET.rules)
    rules[Transfer] = FunctionRule(rules[Transfer].check, apply)  # type: ignore[arg-type]
    return dataclasses.replace(RULESET, rules=rules)


def _raising(exc: BaseException) -> Ruleset:
    def broken_apply(ctx: object, body: object) -> None:
        ctx.state.put("nonces", b"x" * 32, 99)  # type: ignore[attr-defined]
        raise exc

    return _with_transfer_apply(broken_apply)


@pytest.mark.parametrize("exc", FAULTS, ids=lambda e: type(e).__name__)
def test_a_rule_that_raises_is_an_execution_fault_not_a_verdict(exc: BaseException) -> None:
    ledger = Ledger(ruleset=_raising(exc))
    ledger.run(ledger.sign(ADMIN, IssueTokens(token="EUR", to=ALICE.public_key, amount=5)))
    envelope = ledger.sign(ALICE, Transfer(token="EUR", to=BOB.public_key, amount=1))
    with pytest.raises(ExecutionFault) as raised:
        ledger.run(envelope)
    assert raised.value.event_id == event_id(envelope)
    assert raised.value.__cause__ is exc
    assert ledger.state.get("nonces", b"x" * 32) is None  # nothing of the block was adopted
    assert balance(ledger, ALICE.public_key) == 5


def test_a_rejection_raised_while_applying_is_still_a_verdict_and_undone() -> None:
    def refusing_apply(ctx: object, body: object) -> None:
        ctx.state.put("nonces", b"x" * 32, 99)  # type: ignore[attr-defined]
        raise Rejected(Code.INVALID, "refused late")

    ledger = Ledger(ruleset=_with_transfer_apply(refusing_apply))
    ledger.run(ledger.sign(ADMIN, IssueTokens(token="EUR", to=ALICE.public_key, amount=5)))
    [result] = ledger.run(ledger.sign(ALICE, Transfer(token="EUR", to=BOB.public_key, amount=1)))
    assert (result.code, result.detail) == (Code.INVALID, "refused late")
    assert ledger.state.get("nonces", b"x" * 32) is None
    assert balance(ledger, ALICE.public_key) == 5


def test_a_block_hook_that_raises_is_a_fault_of_no_event() -> None:
    def broken_hook(ctx: BlockContext) -> None:
        raise RuntimeError("hook bug")

    ruleset = dataclasses.replace(RULESET, block_hooks=(*RULESET.block_hooks, broken_hook))
    with pytest.raises(ExecutionFault) as raised:
        Ledger(ruleset=ruleset).run()
    assert raised.value.event_id is None and "broken_hook" in str(raised.value)


@pytest.fixture
def node_pair(tmp_path: Path) -> Iterator[tuple[LedgerNode, LedgerNode, list[bytes]]]:
    """A validator with the real rules and one whose Transfer rule raises, both holding an
    issue, a transfer and a second issue."""
    signer = Ledger()
    envelopes = [
        signer.sign(ADMIN, IssueTokens(token="EUR", to=ALICE.public_key, amount=5)),
        signer.sign(ALICE, Transfer(token="EUR", to=BOB.public_key, amount=1)),
        signer.sign(ADMIN, IssueTokens(token="EUR", to=BOB.public_key, amount=7)),
    ]
    with (
        EventLog(tmp_path / "good", GENESIS, durable=False) as good_log,
        EventLog(tmp_path / "bad", GENESIS, durable=False) as bad_log,
    ):
        good = LedgerNode(0, GENESIS, RULESET, good_log, NodeSettings())
        bad = LedgerNode(1, GENESIS, _raising(RuntimeError("bug")), bad_log, NodeSettings())
        for node in (good, bad):
            for envelope in envelopes:
                assert node.admit(envelope, event_id(envelope)) is None
        yield good, bad, envelopes


def test_a_proposer_sets_aside_the_event_that_faults_and_proposes_the_rest(
    node_pair: tuple[LedgerNode, LedgerNode, list[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    _, bad, envelopes = node_pair
    block = bad.build_block(1, 0, 1, GENESIS.genesis_time_ms + 1, False)
    assert block is not None
    assert block.events == (envelopes[0], envelopes[2])
    assert event_id(envelopes[1]) not in bad.mempool
    assert event_id(envelopes[1]).hex() in caplog.text
    assert any(r.levelname == "CRITICAL" for r in caplog.records)


def test_a_proposal_that_faults_gets_no_vote_and_a_certified_one_stops_the_validator(
    node_pair: tuple[LedgerNode, LedgerNode, list[bytes]],
) -> None:
    good, bad, envelopes = node_pair
    block = good.build_block(1, 0, 0, GENESIS.genesis_time_ms + 1, False)
    assert block is not None and len(block.events) == 3
    problem = bad.check_block(block)
    assert problem is not None and problem.startswith("execution fault")
    assert event_id(envelopes[1]) not in bad.mempool
    # The core checks a proposal once per height; a second check at the height is the block
    # coming back with its quorum certificate: the others executed it, this one cannot.
    with pytest.raises(ExecutionFault):
        bad.check_block(block)


def test_a_consortium_whose_rule_faults_leaves_the_event_out_and_stays_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = start(tmp_path)
    try:
        [alice, bob] = funded_users(c, 2)
        broken = _raising(RuntimeError("bug")).rules[Transfer]
        monkeypatch.setitem(RULESET.rules, Transfer, broken)  # type: ignore[index]
        nonce = c.nonce(alice.public_key)
        stuck = alice.submit(Transfer(token="NORTH", to=bob.public_key, amount=1))
        admin = c.participant(demo_identity("admin@north-bank"))
        later = admin.submit(IssueTokens(token="NORTH", to=bob.public_key, amount=1))
        assert later.result(30).accepted
        with pytest.raises(ReceiptTimeout):
            stuck.result(1)
        assert c.nonce(alice.public_key) == nonce  # never executed as a verdict
        assert c.running_validators() == [0, 1, 2, 3]
    finally:
        c.stop()


def test_a_proposer_whose_block_hook_faults_proposes_nothing(tmp_path: Path) -> None:
    def broken_hook(ctx: BlockContext) -> None:
        raise RuntimeError("hook bug")

    ruleset = dataclasses.replace(RULESET, block_hooks=(*RULESET.block_hooks, broken_hook))
    envelope = Ledger().sign(ADMIN, IssueTokens(token="EUR", to=ALICE.public_key, amount=5))
    with EventLog(tmp_path, GENESIS, durable=False) as log:
        node = LedgerNode(0, GENESIS, ruleset, log, NodeSettings())
        assert node.admit(envelope, event_id(envelope)) is None
        assert node.build_block(1, 0, 0, GENESIS.genesis_time_ms + 1, True) is None
        assert event_id(envelope) in node.mempool  # no event caused it: none is dropped


def test_a_validator_shell_stops_on_an_execution_fault(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the node raises for a certified block it cannot execute stops the actor, as a
    storage failure does; the other three go on."""
    from consortium.actors.transport import PeerDelivery
    from consortium.ledger.validator_loop import ValidatorLoop

    honest_on_peer = ValidatorLoop.on_peer

    def on_peer(loop: ValidatorLoop, sender: int, payload: bytes) -> None:
        if payload == b"a certified block this validator cannot execute":
            raise ExecutionFault(7, None, "a certified block", RuntimeError("a bug"))
        honest_on_peer(loop, sender, payload)

    monkeypatch.setattr(ValidatorLoop, "on_peer", on_peer)
    c = start(tmp_path)
    try:
        alice, bob = funded_users(c, 2)
        ref = c._validators[0]
        ref.tell(PeerDelivery(1, b"a certified block this validator cannot execute"))
        ref.actor_stopped.wait(10)
        assert not ref.is_alive()
        other = c.participant(alice.identity, validator=1)
        assert other.submit(Transfer(token="NORTH", to=bob.public_key, amount=1)).result(30)
    finally:
        c.stop()
