"""Validators of one process expand each table row once between them (``SharedExpansions``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

import consortium.rules.lthash as lthash
from consortium.events.block import CommittedBlock, QuorumCertificate
from consortium.events.envelope import event_id
from consortium.events.payments import IssueTokens, Transfer
from consortium.ledger.node import LedgerNode, NodeSettings
from consortium.ledger.process_shares import (
    NOTHING_SHARED,
    ProcessShares,
    process_shares,
)
from consortium.rules.lthash import BUSY_ARRAY_MIN_ROWS, LtHash, SharedExpansions
from consortium.rules.rulebook import RULESET
from consortium.storage.log import EventLog
from tests.consortium_fixtures import FAST, funded_users, start, wait_until
from tests.ledger_fixtures import ADMIN, ALICE, BOB, GENESIS, Ledger


class CountedExpansions:
    """Counts the SHAKE-128 expansions computed while installed as ``lthash._expand``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = lthash._expand

        def counted(element: bytes) -> bytes:
            self.calls += 1
            return real(element)

        monkeypatch.setattr(lthash, "_expand", counted)


def test_a_row_is_expanded_once_and_stays_when_it_leaves(monkeypatch: pytest.MonkeyPatch) -> None:
    counted = CountedExpansions(monkeypatch)
    shared = SharedExpansions(3)
    first = shared.entering(b"row-1")
    assert shared.entering(b"row-1") == first and counted.calls == 1
    assert shared.leaving(b"row-1") == first  # another validator removes it too
    assert shared.leaving(b"row-1") == first and counted.calls == 1
    assert shared.leaving(b"row-0") == lthash._expand(b"row-0") and counted.calls == 3
    assert shared.hits == 3
    for n in (2, 3, 4):  # the oldest written leaves first
        shared.entering(b"row-%d" % n)
    calls = counted.calls
    shared.entering(b"row-1")
    assert counted.calls == calls + 1  # evicted: computed again, the same lanes
    assert shared.entering(b"row-1") == first


rows = st.sets(st.binary(min_size=1, max_size=40), max_size=12)


@given(rows, rows, rows)
def test_hashes_are_the_same_with_shared_expansions(
    first: set[bytes], second: set[bytes], third: set[bytes]
) -> None:
    """Tables moving through the same rows, one hash using a shared memo, one its own."""
    shared = SharedExpansions(4)  # small, so that some rows are evicted on the way
    own, by_shared = LtHash(), LtHash()
    before: set[bytes] = set()
    for after in (first, second, third, set()):
        added, removed = sorted(after - before), sorted(before - after)
        own.update(added, removed)
        by_shared.update(added, removed, shared)
        before = after
        assert by_shared.digest() == own.digest()
    assert by_shared.digest() == LtHash().digest()


def _commit_block(node: LedgerNode, height: int, events: list[bytes]) -> CommittedBlock:
    assert node.admit_many(events, [event_id(e) for e in events]) == [None] * len(events)
    block = node.build_block(height, 0, 0, GENESIS.genesis_time_ms + height, allow_empty=False)
    assert block is not None
    committed = CommittedBlock(block, QuorumCertificate(height, 0, block.hash, ()))
    node.commit(committed)
    return committed


@pytest.mark.parametrize("sharing", [True, False])
def test_a_block_checked_by_a_second_validator_expands_nothing_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sharing: bool
) -> None:
    """Also after the second validator's state is opened again, as the scrubber's repair does."""
    signer = Ledger()
    counted = CountedExpansions(monkeypatch)
    shares = ProcessShares(expansions=SharedExpansions(1024)) if sharing else NOTHING_SHARED
    logs = [EventLog(tmp_path / str(i), GENESIS, durable=False) for i in range(2)]
    try:
        proposer, checker = (
            LedgerNode(i, GENESIS, RULESET, log, NodeSettings(), shared=shares)
            for i, log in enumerate(logs)
        )
        blocks = [
            [
                signer.sign(ADMIN, IssueTokens(token="EUR", to=w.public_key, amount=50))
                for w in (ALICE, BOB)
            ],
            [
                signer.sign(ALICE, Transfer(token="EUR", to=BOB.public_key, amount=n))
                for n in (1, 2)
            ],
            [
                signer.sign(BOB, Transfer(token="EUR", to=ALICE.public_key, amount=n))
                for n in (3, 4)
            ],
        ]
        for height, events in enumerate(blocks, start=1):
            if height == 3:
                checker.open_state()
            committed = _commit_block(proposer, height, events)
            calls = counted.calls
            assert checker.check_block(committed.block) is None
            checker.commit(committed)
            if sharing:
                assert counted.calls == calls  # every row's lanes came from the proposer's work
            else:
                assert counted.calls > calls
        assert checker.state.table_digests() == proposer.state.table_digests()
    finally:
        for log in logs:
            log.close()


def test_only_several_validators_of_one_process_share_anything() -> None:
    shares = process_shares(True, True, 4)
    assert None not in (shares.verifications, shares.intake, shares.expansions, shares.executions)
    alone = process_shares(False, True, 4)
    assert alone.executions is not None
    assert (alone.verifications, alone.intake, alone.expansions) == (None, None, None)
    assert process_shares(True, True, 1) == NOTHING_SHARED  # a node process: nobody to share with


def test_small_table_updates_avoid_numpy_only_with_several_validators_in_the_process(
    tmp_path: Path,
) -> None:
    """Several validators of one process contend for the GIL, which numpy's sums let go of, so
    their small table updates are summed as integers, shared memos or not; a validator alone in
    its process (a node process) keeps the arrays, which cost it less CPU."""
    for shares, wanted in (
        (process_shares(True, False, 4), BUSY_ARRAY_MIN_ROWS),
        (process_shares(False, False, 4), BUSY_ARRAY_MIN_ROWS),
        (process_shares(True, True, 1), 0),
    ):
        assert shares.array_min_rows == wanted
        if shares.expansions is not None:
            assert shares.expansions.array_min_rows == wanted
        with EventLog(tmp_path / str(wanted) / str(shares.expansions is None), GENESIS) as log:
            node = LedgerNode(0, GENESIS, RULESET, log, NodeSettings(), shared=shares)
            assert node.state.expansions.array_min_rows == wanted
            node.open_state()  # the repair's path
            assert node.state.expansions.array_min_rows == wanted


def test_validators_sharing_expansions_agree(tmp_path: Path) -> None:
    for shared in (True, False):
        c = start(tmp_path / str(shared), dataclasses.replace(FAST, share_verifications=shared))
        try:
            alice, bob = funded_users(c, 2)
            futures = [
                alice.submit(Transfer(token="NORTH", to=bob.public_key, amount=n + 1))
                for n in range(20)
            ]
            assert all(f.result(20).accepted for f in futures)
            expansions = c._shared.expansions
            if shared:
                assert expansions is not None and expansions.hits > 0
            else:
                assert expansions is None
            assert wait_until(lambda c=c: len({c.height(i) for i in range(4)}) == 1)
            assert len({c.state_digest(i) for i in range(4)}) == 1
        finally:
            c.stop()
