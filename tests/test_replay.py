"""Replaying blocks against their headers: every block's digests, or digests held now and then."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings, strategies as st

from consortium.events.block import Block, BlockHeader, TableDigest
from consortium.events.log_tree import LogTree
from consortium.events.payments import IssueTokens, Transfer
from consortium.rules.engine import genesis_state
from consortium.rules.replay import replay_blocks, run_block
from consortium.rules.rulebook import RULESET
from consortium.rules.state import Overlay, State
from consortium.storage.log import ZERO_HASH
from tests.ledger_fixtures import ADMIN, ALICE, BOB, CHAIN, GENESIS, Ledger


def _chain(blocks_of_payments: list[int]) -> list[Block]:
    """Blocks with true headers: an issue, then ``n`` transfers in each later block, back and
    forth, so the same balances and nonces change block after block."""
    ledger = Ledger()
    batches = [[ledger.sign(ADMIN, IssueTokens(token="EUR", to=ALICE.public_key, amount=10**6))]]
    for n in blocks_of_payments:
        batches.append(
            [
                ledger.sign(
                    ALICE if i % 2 == 0 else BOB,
                    Transfer(
                        token="EUR", to=(BOB if i % 2 == 0 else ALICE).public_key, amount=i + 1
                    ),
                )
                for i in range(n)
            ]
        )
    state, tree, prev, blocks = genesis_state(GENESIS, RULESET), LogTree(), ZERO_HASH, []
    for height, batch in enumerate(batches, start=1):
        time_ms = 2_000 + height
        run = run_block(state, RULESET, tree, height, time_ms, tuple(batch))
        header = BlockHeader(
            CHAIN,
            height,
            0,
            prev,
            0,
            time_ms,
            len(batch),
            run.events_root,
            run.results_root,
            run.log_tree.size,
            run.log_tree.root(),
            run.execution.table_digests,
        )
        blocks.append(Block(header, tuple(batch)))
        state.adopt(run.execution.overlay, run.execution.hashes)
        tree, prev = run.log_tree, blocks[-1].hash
    return blocks


BLOCKS = _chain([3, 0, 5, 1, 4, 2, 6])


def _with_digest(block: Block, table: str) -> Block:
    """``block`` with one table digest that no execution gives."""
    digests = tuple(
        TableDigest(d.name, bytes(32)) if d.name == table else d for d in block.header.table_digests
    )
    return Block(msgspec.structs.replace(block.header, table_digests=digests), block.events)


@pytest.mark.parametrize("unhashed_rows", [1, 4, 10**6])
def test_settling_replay_reaches_the_state_and_log_tree_of_the_exact_one(
    unhashed_rows: int,
) -> None:
    exact, settling = genesis_state(GENESIS, RULESET), genesis_state(GENESIS, RULESET)
    a = replay_blocks(exact, RULESET, LogTree(), BLOCKS)
    b = replay_blocks(settling, RULESET, LogTree(), BLOCKS, unhashed_rows)
    assert a.divergence is None and b.divergence is None
    assert settling.table_digests() == exact.table_digests() == BLOCKS[-1].header.table_digests
    assert settling.table_lanes() == exact.table_lanes()
    assert (b.log_tree.size, b.log_tree.root()) == (a.log_tree.size, a.log_tree.root())
    assert list(settling.rows("accounts")) == list(exact.rows("accounts"))


def test_a_wrong_digest_at_the_head_is_found_however_rarely_digests_are_held() -> None:
    blocks = [*BLOCKS[:-1], _with_digest(BLOCKS[-1], "accounts")]
    replay = replay_blocks(genesis_state(GENESIS, RULESET), RULESET, LogTree(), blocks, 10**6)
    assert replay.divergence is not None
    assert replay.divergence.height == len(BLOCKS)
    assert "'accounts' digest differs" in replay.divergence.what
    assert "since height 1" in replay.divergence.what  # and says which blocks went unchecked


def test_a_wrong_digest_mid_chain_is_named_exactly_when_every_block_is_held() -> None:
    blocks = list(BLOCKS)
    blocks[3] = _with_digest(blocks[3], "nonces")
    exact = replay_blocks(genesis_state(GENESIS, RULESET), RULESET, LogTree(), blocks)
    assert exact.divergence is not None and exact.divergence.height == 4
    # Held only at the head, the digests there are right: the state is the one the head commits
    # to, and a wrong digest on the way is the audit's to find.
    settling = replay_blocks(genesis_state(GENESIS, RULESET), RULESET, LogTree(), blocks, 10**6)
    assert settling.divergence is None


def test_other_header_fields_are_still_held_against_every_block() -> None:
    blocks = list(BLOCKS)
    header = msgspec.structs.replace(blocks[2].header, results_root=bytes(32))
    blocks[2] = Block(header, blocks[2].events)
    replay = replay_blocks(genesis_state(GENESIS, RULESET), RULESET, LogTree(), blocks, 10**6)
    assert replay.divergence is not None
    assert (replay.divergence.height, replay.divergence.what) == (3, "results root differs")


writes = st.lists(
    st.tuples(
        st.sampled_from(["nonces", "tokens"]),
        st.binary(min_size=1, max_size=2),
        st.one_of(st.none(), st.integers(0, 3)),
    ),
    max_size=12,
)


@settings(max_examples=60)
@given(st.lists(writes, min_size=1, max_size=6))
def test_unhashed_adoption_gives_the_digests_of_hashing_each_overlay(
    overlays: list[list[tuple[str, bytes, int | None]]],
) -> None:
    """Rows created, rewritten with the same value, deleted and recreated across overlays."""
    hashed, unhashed = State({"nonces": int, "tokens": int}), State({"nonces": int, "tokens": int})
    for writes_of_one in overlays:
        a, b = Overlay(hashed), Overlay(unhashed)
        for table, key, value in writes_of_one:
            for overlay in (a, b):
                if value is None:
                    overlay.delete(table, key)
                else:
                    overlay.put(table, key, value)
        hashes, _ = hashed.hashes_after(a)
        hashed.adopt(a, hashes)
        unhashed.adopt_unhashed(b)
    assert unhashed.table_digests() == hashed.table_digests()
    assert unhashed.unhashed_rows == 0


def test_hashes_computed_before_an_unhashed_adoption_are_refused() -> None:
    state = State({"nonces": int})
    stale = Overlay(state)
    stale.put("nonces", b"a", 1)
    hashes, _ = state.hashes_after(stale)
    unhashed = Overlay(state)
    unhashed.put("nonces", b"b", 2)
    state.adopt_unhashed(unhashed)
    with pytest.raises(RuntimeError, match="stale"):
        state.adopt(stale, hashes)
