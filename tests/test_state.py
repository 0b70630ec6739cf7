"""State tables: order-independent digests, overlays, snapshots."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rules.lthash import LtHash
from rules.rulebook import RULESET
from rules.state import Overlay, State
from rules.tables import Participant

SCHEMA = RULESET.schema

rows = st.lists(st.tuples(st.binary(min_size=1, max_size=8), st.integers(0, 10**9)), max_size=30)


@given(rows, st.randoms())
def test_digest_depends_on_content_not_on_write_order(items: list, rnd) -> None:
    final = dict(items)
    a = State({"nonces": int})
    for key, value in items:
        a.put_initial("nonces", key, value)
    shuffled = list(final.items())
    rnd.shuffle(shuffled)
    b = State({"nonces": int})
    for key, value in shuffled:
        b.put_initial("nonces", key, value)
    assert a.table_digests() == b.table_digests()


def test_lthash_remove_undoes_add_and_differs_from_empty() -> None:
    h = LtHash()
    empty = h.digest()
    h.add(b"row")
    assert h.digest() != empty
    h.remove(b"row")
    assert h.digest() == empty


def test_overlay_is_invisible_until_adopted_and_digest_matches_recompute() -> None:
    state = State(SCHEMA)
    state.put_initial("nonces", b"a", 1)
    overlay = Overlay(state)
    overlay.put("nonces", b"a", 2)
    overlay.put("nonces", b"b", 7)
    overlay.delete("nonces", b"a")
    assert state.get("nonces", b"a") == 1 and overlay.get("nonces", b"a") is None
    hashes = state.hashes_after(overlay)
    state.adopt(overlay, hashes)
    fresh = State(SCHEMA)
    fresh.put_initial("nonces", b"b", 7)
    assert state.table_digests() == fresh.table_digests()


def test_child_overlay_merges_into_parent_only_when_asked() -> None:
    state = State(SCHEMA)
    block = Overlay(state)
    event = Overlay(block)
    event.put("nonces", b"x", 1)
    assert block.get("nonces", b"x") is None
    event.merge_into_parent()
    assert block.get("nonces", b"x") == 1


def test_snapshot_round_trip_keeps_rows_and_digests() -> None:
    state = State(SCHEMA)
    state.put_initial("participants", b"k" * 32, Participant("n", "org", "user"))
    state.put_initial("nonces", b"k" * 32, 3)
    copy = State(SCHEMA)
    copy.load_snapshot(state.snapshot_bytes())
    assert copy.table_digests() == state.table_digests()
    assert copy.get("participants", b"k" * 32) == Participant("n", "org", "user")
