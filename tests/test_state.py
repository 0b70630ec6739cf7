"""State tables: order-independent digests, overlays, resumable table hashes."""

from __future__ import annotations

import hashlib
import itertools
import struct
from collections.abc import Iterator

import numpy
import pytest
from hypothesis import given, strategies as st

from consortium.rules import lthash
from consortium.rules.lthash import (
    BUSY_ARRAY_MIN_ROWS,
    ExpansionCache,
    Expansions,
    LtHash,
    SharedExpansions,
)
from consortium.rules.rulebook import RULESET
from consortium.rules.state import Overlay, State
from consortium.rules.tables import Participant

SCHEMA = RULESET.schema

rows = st.lists(st.tuples(st.binary(min_size=1, max_size=8), st.integers(0, 10**9)), max_size=30)


@pytest.fixture(params=["integers", "arrays"])
def lane_sums(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each LtHash test runs with the integer arithmetic and with numpy's arrays: both must give
    the same lanes. ``_ARRAY_BATCH`` follows ``_BATCH`` where a test sets it."""
    monkeypatch.setattr(lthash, "_numpy", None if request.param == "integers" else numpy)
    return str(request.param)


def _set_batch(monkeypatch: pytest.MonkeyPatch, batch: int) -> None:
    monkeypatch.setattr(lthash, "_BATCH", batch)
    monkeypatch.setattr(lthash, "_ARRAY_BATCH", batch)


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


def test_lthash_remove_undoes_add_and_differs_from_empty(lane_sums: str) -> None:
    h = LtHash()
    empty = h.digest()
    h.add(b"row")
    assert h.digest() != empty
    h.remove(b"row")
    assert h.digest() == empty


def test_lthash_digest_is_sha256_of_the_lanes_though_hashed_in_halves() -> None:
    """The digest is hashed in two updates to keep the GIL; it must stay SHA-256 of the lanes."""
    h = LtHash()
    h.update([b"a", b"b", b"c"], [])
    assert h.digest() == hashlib.sha256(h.to_bytes()).digest()


@pytest.mark.parametrize("batch", [3, 65535])
def test_lthash_batched_update_equals_one_call_per_element(
    batch: int, monkeypatch: pytest.MonkeyPatch, lane_sums: str
) -> None:
    """Folding carries every ``batch`` elements (3 forces many folds) loses no lane carry."""
    _set_batch(monkeypatch, batch)
    added = [b"row %d" % i for i in range(40)] + [b"row 7"]  # a repeated element counts twice
    removed = [b"row %d" % i for i in range(0, 40, 3)]
    one_by_one, batched = LtHash(), LtHash()
    for element in added:
        one_by_one.add(element)
    for element in removed:
        one_by_one.remove(element)
    batched.update(added, removed)
    assert batched.digest() == one_by_one.digest()
    batched.update([], [b"row 7"])
    one_by_one.remove(b"row 7")
    assert batched.digest() == one_by_one.digest()


def test_lthash_with_kept_expansions_equals_without_through_evictions(lane_sums: str) -> None:
    """Rows changing block after block, with a cache too small to keep them all: the kept
    expansions only save work, and a mutated hash never answers with its previous digest."""
    kept, plain = LtHash(), LtHash()
    expansions = Expansions(capacity=5)
    rows = {k: b"row %d v0" % k for k in range(8)}
    kept.update(rows.values(), [], expansions)
    plain.update(rows.values(), [])
    for version in range(1, 6):
        before = kept.digest()
        changed = [k for k in rows if (k + version) % 3 != 0]
        old = [rows[k] for k in changed]
        for k in changed:
            rows[k] = b"row %d v%d" % (k, version)
        kept.update([rows[k] for k in changed], old, expansions)
        plain.update([rows[k] for k in changed], old)
        assert kept.digest() == plain.digest() != before
    fresh = LtHash()
    fresh.update(rows.values(), [])
    assert kept.digest() == fresh.digest()


def test_lthash_expansion_is_shake128_of_the_domain_and_the_row(lane_sums: str) -> None:
    """Pins the definition every validator must share, independently of the module's code."""
    element = b"\x00\x00\x00\x03key" + bytes(range(200))
    lanes = hashlib.shake_128(b"consortium-lth\x00" + element).digest(2048)
    assert lthash._expand(element) == lanes
    # From the empty accumulator one row's digest is the SHA-256 of its lanes, little-endian.
    h = LtHash()
    h.add(element)
    assert h.digest() == hashlib.sha256(lanes).digest()
    assert hashlib.shake_128(element).digest(2048) != lanes  # the domain prefix is used


def _lanes(element: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{lthash.LANES}H", lthash._expand(element))


@pytest.mark.parametrize("batch", [2, 3, 65535])
def test_lthash_update_equals_lane_by_lane_arithmetic(
    batch: int, monkeypatch: pytest.MonkeyPatch, lane_sums: str
) -> None:
    """The SWAR update (odd lanes as a difference, removals biased, at most ``batch`` rows per
    pass) and the numpy one against plain lanes modulo 2^16, including lanes that go below
    zero."""
    _set_batch(monkeypatch, batch)
    start = [b"start %d" % i for i in range(5)]
    added = [b"row %d" % i for i in range(25)]
    removed = [*start[:3], b"row 4", b"never added"]
    expected = [0] * lthash.LANES
    for element, sign in [(e, 1) for e in start + added] + [(e, -1) for e in removed]:
        for i, lane in enumerate(_lanes(element)):
            expected[i] = (expected[i] + sign * lane) % 65536
    h = LtHash()
    h.update(start, [])
    h.update(added, removed)
    assert h.to_bytes() == struct.pack(f"<{lthash.LANES}H", *expected)


updates = st.lists(
    st.tuples(
        st.lists(st.binary(max_size=3), max_size=12), st.lists(st.binary(max_size=3), max_size=12)
    ),
    max_size=8,
)


@given(updates, st.sampled_from([1, 2, 5, 256]), st.sampled_from([0, 1, 3, 64]))
def test_lthash_numpy_lanes_are_the_integer_lanes_byte_for_byte(
    steps: list[tuple[list[bytes], list[bytes]]], batch: int, array_min_rows: int
) -> None:
    """Any sequence of updates (rows repeated, removed before they were added, batches split
    anywhere, small updates summed as integers and big ones as arrays, by any threshold) gives
    the same lanes both ways, so a validator with numpy and one without agree on every
    certified digest."""
    by_integers, by_arrays = LtHash(), LtHash()
    kept = Expansions(array_min_rows=array_min_rows)
    saved = lthash._numpy, lthash._ARRAY_BATCH
    try:
        lthash._ARRAY_BATCH = batch
        for added, removed in steps:
            lthash._numpy = None
            by_integers.update(added, removed)
            lthash._numpy = numpy
            by_arrays.update(added, removed, kept)
            assert by_arrays.to_bytes() == by_integers.to_bytes()
    finally:
        lthash._numpy, lthash._ARRAY_BATCH = saved


@pytest.mark.parametrize(
    "kept", [Expansions(array_min_rows=BUSY_ARRAY_MIN_ROWS), SharedExpansions(256)]
)
def test_lthash_sums_small_updates_as_integers_and_big_ones_as_arrays(
    monkeypatch: pytest.MonkeyPatch, kept: ExpansionCache
) -> None:
    """numpy lets go of the GIL in each call, which in a process of several busy validators
    costs more than a small update's sum: there fewer than ``BUSY_ARRAY_MIN_ROWS`` rows never
    reach numpy. Alone (``array_min_rows`` 0, the default) every update does."""
    monkeypatch.setattr(lthash, "_numpy", numpy)
    summed_as_arrays: list[int] = []
    by_arrays = lthash._updated_by_arrays

    def spy(np: object, value: int, adding: Iterator[bytes], removing: Iterator[bytes]) -> int:
        summed_as_arrays.append(value)
        return by_arrays(numpy, value, adding, removing)

    monkeypatch.setattr(lthash, "_updated_by_arrays", spy)
    rows = [b"row %d" % i for i in range(BUSY_ARRAY_MIN_ROWS)]
    h = LtHash()
    h.update(rows[:-2], rows[-1:], kept)  # one row short of the threshold
    assert summed_as_arrays == []
    h.update(rows[1:], rows[:1], kept)  # exactly the threshold
    assert len(summed_as_arrays) == 1
    LtHash().update(rows[:1], [], Expansions())  # a validator alone: arrays for one row
    LtHash().update(rows[:1], [])
    assert len(summed_as_arrays) == 3
    reference = LtHash()
    monkeypatch.setattr(lthash, "_numpy", None)
    reference.update(rows[:-2], rows[-1:])
    reference.update(rows[1:], rows[:1])
    assert h.to_bytes() == reference.to_bytes()


@given(
    st.lists(st.integers(), max_size=10), st.lists(st.integers(), max_size=10), st.integers(0, 12)
)
def test_fewer_than_gives_back_every_row_and_reads_removals_first(
    added: list[int], removed: list[int], rows: int
) -> None:
    """The look-ahead that picks the arithmetic loses no row, reorders none, says "small" only
    when both sides hold fewer than ``rows`` together, and reads no added row while removed
    ones are still unread (a kept expansion must leave before the same row enters again)."""
    pulled: list[str] = []

    def reading(side: str, values: list[int]) -> Iterator[bytes]:
        for value in values:
            pulled.append(side)
            yield str(value).encode()

    small, adding, removing = lthash._fewer_than(
        rows, reading("added", added), reading("removed", removed)
    )
    assert small == (len(added) + len(removed) < rows)
    assert list(removing) == [str(v).encode() for v in removed]
    assert list(adding) == [str(v).encode() for v in added]
    assert pulled == ["removed"] * len(removed) + ["added"] * len(added)


def test_fewer_than_reads_a_huge_update_only_as_far_as_it_must() -> None:
    """An update of endless rows is still a stream: the look-ahead stops at ``rows``."""
    endless = (b"%d" % i for i in itertools.count())
    small, _, removing = lthash._fewer_than(64, iter(()), endless)
    assert not small
    assert list(itertools.islice(removing, 100)) == [b"%d" % i for i in range(100)]


def test_overlay_is_invisible_until_adopted_and_digest_matches_recompute() -> None:
    state = State(SCHEMA)
    state.put_initial("nonces", b"a", 1)
    overlay = Overlay(state)
    overlay.put("nonces", b"a", 2)
    overlay.put("nonces", b"b", 7)
    overlay.delete("nonces", b"a")
    assert state.get("nonces", b"a") == 1 and overlay.get("nonces", b"a") is None
    hashes, _ = state.hashes_after(overlay)
    state.adopt(overlay, hashes)
    fresh = State(SCHEMA)
    fresh.put_initial("nonces", b"b", 7)
    assert state.table_digests() == fresh.table_digests()


def test_rollback_undoes_exactly_the_writes_since_begin() -> None:
    state = State(SCHEMA)
    state.put_initial("nonces", b"a", 1)
    block = Overlay(state)
    block.put("nonces", b"b", 2)
    block.begin()
    block.put("nonces", b"a", 5)
    block.put("nonces", b"b", 6)
    block.delete("nonces", b"b")
    block.put("nonces", b"c", 7)
    block.rollback()
    assert (block.get("nonces", b"a"), block.get("nonces", b"b")) == (1, 2)
    assert block.get("nonces", b"c") is None and b"c" not in block.writes["nonces"]
    block.begin()
    block.put("nonces", b"c", 8)
    block.end()
    assert block.get("nonces", b"c") == 8


def test_table_lanes_resume_the_same_digests() -> None:
    state = State(SCHEMA)
    state.put_initial("participants", b"k" * 32, Participant("n", "org", "user"))
    state.put_initial("nonces", b"k" * 32, 3)
    lanes = state.table_lanes()
    resumed = State(SCHEMA, hashes={n: LtHash.from_bytes(b) for n, b in lanes.items()})
    assert resumed.table_digests() == state.table_digests()
    with pytest.raises(ValueError, match="lanes"):
        LtHash.from_bytes(b"short")
