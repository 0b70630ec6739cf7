"""Table hashes summed by a child process: the same lanes as summing them here, on every path,
and a child that fails, lies or hangs only costs speed."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from consortium.bench.compare import _payment_blocks
from consortium.bench.workload import bench_genesis
from consortium.events.block import Block, TableDigest
from consortium.events.log_tree import LogTree
from consortium.ledger.node_state import rebuild_state
from consortium.rules import lane_worker, replay as replay_module
from consortium.rules.engine import genesis_state
from consortium.rules.lane_worker import LaneWorker, lane_worker_for
from consortium.rules.lthash import LtHash
from consortium.rules.replay import SETTLE_ROWS, replay_blocks
from consortium.rules.rulebook import RULESET
from consortium.rules.state import Overlay, State
from consortium.storage.log import EventLog

GENESIS, _ = bench_genesis(4)
BLOCKS = [append[0].block for append in _payment_blocks(GENESIS, 300, 7)]


@pytest.fixture(scope="module")
def worker() -> Iterator[LaneWorker]:
    with lane_worker_for(None) as lanes:
        assert lanes is not None
        yield lanes


def _replayed(blocks: list[Block], lanes: LaneWorker | None) -> tuple[State, object]:
    state = genesis_state(GENESIS, RULESET)
    result = replay_blocks(state, RULESET, LogTree(), blocks, SETTLE_ROWS, lanes)
    return state, result.divergence


def test_lanes_add_as_the_multisets_of_rows_do() -> None:
    both, first, second = LtHash(), LtHash(), LtHash()
    both.update([b"a", b"b", b"c"], [b"z"])
    first.update([b"a", b"b"], [])
    second.update([b"c"], [b"z"])
    first.add_hash(second)
    assert first.to_bytes() == both.to_bytes()
    assert first.digest() == both.digest()


@pytest.mark.parametrize("hand_off_rows", [1, 5, 64])
def test_a_replay_with_the_child_gives_the_same_state_as_without(
    worker: LaneWorker, hand_off_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small hand-offs send the same balances over again and again, each leaving with the value
    it was last handed over with."""
    monkeypatch.setattr(replay_module, "HAND_OFF_ROWS", hand_off_rows)
    alone, divergence = _replayed(BLOCKS, None)
    assert divergence is None
    helped, divergence = _replayed(BLOCKS, worker)
    assert divergence is None
    assert worker.in_use
    assert helped.table_lanes() == alone.table_lanes()
    assert helped.table_digests() == BLOCKS[-1].header.table_digests


def test_a_replay_with_the_child_still_finds_a_block_whose_digests_differ(
    worker: LaneWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay_module, "HAND_OFF_ROWS", 5)
    last = BLOCKS[-1]
    forged = tuple(
        TableDigest(d.name, bytes(32)) if d.name == "orders" else d
        for d in last.header.table_digests
    )
    blocks = [
        *BLOCKS[:-1],
        Block(msgspec.structs.replace(last.header, table_digests=forged), last.events),
    ]
    _, alone = _replayed(blocks, None)
    _, helped = _replayed(blocks, worker)
    assert helped == alone
    assert helped is not None and "orders" in helped.what  # type: ignore[attr-defined]


ops = st.lists(
    st.lists(
        st.tuples(
            st.sampled_from(["orders", "accounts"]),
            st.binary(min_size=1, max_size=2),
            st.one_of(st.none(), st.integers(0, 2**64 - 1)),
        ),
        max_size=8,
    ),
    max_size=12,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops)
def test_rows_written_and_deleted_across_hand_offs_hash_as_if_hashed_here(
    worker: LaneWorker, blocks: list[list[tuple[str, bytes, int | None]]]
) -> None:
    schema = {"orders": int, "accounts": int}
    here, there = State(schema), State(schema)
    for writes in blocks:
        for state in (here, there):
            overlay = Overlay(state)
            for table, key, value in writes:
                if value is None:
                    overlay.delete(table, key)
                else:
                    overlay.put(table, key, value)
            state.adopt_unhashed(overlay)
        there.hand_off_unhashed(worker, at_least=1)
    assert there.table_lanes() == here.table_lanes()
    assert there.unhashed_rows == 0


@pytest.mark.parametrize(
    "command",
    [
        pytest.param([sys.executable, "-c", "import sys; sys.exit(3)"], id="exits"),
        pytest.param(["/nonexistent/python"], id="cannot-start"),
        pytest.param(
            [
                sys.executable,
                "-c",
                "import sys; sys.stdin.buffer.read(4); sys.stdout.buffer.write(b'\\0\\0\\0\\3abc');"
                " sys.stdout.flush(); sys.stdin.buffer.read()",
            ],
            id="answers-garbage",
        ),
        pytest.param(
            [
                sys.executable,
                "-c",
                "import sys, msgspec; sys.stdin.buffer.read(4);"
                " p = msgspec.msgpack.encode([[['orders', bytes(2048)]]]);"
                " sys.stdout.buffer.write(len(p).to_bytes(4, 'big') + p); sys.stdout.flush();"
                " sys.stdin.buffer.read()",
            ],
            id="answers-for-other-tables",
        ),
    ],
)
def test_a_child_that_fails_or_lies_costs_only_speed(
    command: list[str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(replay_module, "HAND_OFF_ROWS", 5)
    alone, _ = _replayed(BLOCKS, None)
    lanes = LaneWorker(command)
    try:
        helped, divergence = _replayed(BLOCKS, lanes)
    finally:
        lanes.close()
    assert divergence is None
    assert helped.table_lanes() == alone.table_lanes()
    assert not lanes.in_use
    assert "lane worker failed" in caplog.text


def test_a_child_that_hangs_is_given_up_after_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(replay_module, "HAND_OFF_ROWS", 5)
    alone, _ = _replayed(BLOCKS, None)
    lanes = LaneWorker([sys.executable, "-c", "import time; time.sleep(60)"], reply_timeout_s=0.5)
    started = time.monotonic()
    try:
        helped, _ = _replayed(BLOCKS, lanes)
    finally:
        lanes.close()
    assert time.monotonic() - started < 30
    assert helped.table_lanes() == alone.table_lanes()
    assert not lanes.in_use


def test_only_logs_big_enough_to_repay_the_start_up_get_a_child() -> None:
    with lane_worker_for(5) as small:
        assert small is None
    with lane_worker_for(10**6) as big:
        assert big is not None and big.in_use


def test_a_validator_rebuilding_a_big_log_hands_its_rows_to_a_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lane_worker, "LANE_WORKER_MIN_EVENTS", 100)
    monkeypatch.setattr(replay_module, "HAND_OFF_ROWS", 16)
    answered: list[int] = []
    original = LaneWorker.sums

    def counted(self: LaneWorker) -> dict[str, LtHash]:
        sums = original(self)
        answered.append(len(sums) if self.in_use else -1)
        return sums

    monkeypatch.setattr(LaneWorker, "sums", counted)
    with EventLog(tmp_path / "log", GENESIS, durable=False) as log:
        for append in _payment_blocks(GENESIS, 300, 7):
            log.append(*append)
        state, tree = rebuild_state(GENESIS, RULESET, log)
    assert answered and all(tables > 0 for tables in answered)  # the child answered every time
    assert state.table_digests() == BLOCKS[-1].header.table_digests
    assert tree.root() == BLOCKS[-1].header.log_root
