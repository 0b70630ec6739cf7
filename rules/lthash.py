"""LtHash16: a homomorphic multiset hash, so a table's digest is updated per changed row.

Each row is expanded to 1024 lanes of 16 bits and added lane-wise modulo 2^16 (Bellare and
Micciancio; the construction Facebook describes for its state commitments). Adding and removing
rows in any order gives the same digest as hashing the final table from scratch, so a validator
pays for the rows a block touched, not for the size of the state.

The expansion is SHAKE-128 of a fixed domain prefix and the row; its first 2048 bytes are the
lanes, little-endian. SHAKE-128 gives 128-bit collision resistance, and the lattice argument for
LtHash only needs the expansion to behave as a random oracle.

Why SHAKE-128 and not a faster stream cipher: for a while the expansion keyed libsodium's
ChaCha20 with a BLAKE2b hash of the row, 2.0 µs per row against SHAKE's 3.7 µs alone on one
thread. But PyNaCl's call releases the GIL, and with several validators in one process every
release is a wait to get the GIL back from whichever thread took it. Measured with four
validators in one process: checking a block took about 40% longer per event at 1,000 events/s,
and saturation throughput was 3 to 7% lower in each of three interleaved pairs. hashlib keeps the
GIL for inputs under 2 KiB, so SHAKE-128 runs without a handover.

Lane-wise arithmetic is done on Python integers, a few big-integer operations per batch of
rows rather than per lane. The even lanes and the odd lanes are summed apart, each lane in a
32-bit slot whose upper half catches its carries: the even lanes by masking each row, the odd
lanes as the difference between the plain integer sum of the rows and the even lanes' sum. Rows
removed are subtracted in the same pass, with a bias of their count times 2^16 added to every
slot so that no slot goes below zero. Each row costs one mask and two additions; the slots are
reduced modulo 2^16 once per batch, and a batch holds at most 2^16 - 1 rows so no slot
overflows.

With numpy installed (the ``fast`` extra) the rows of a batch are summed as one array of 16-bit
lanes instead, whose arithmetic wraps modulo 2^16 by itself: a table's update costs 0.4 µs per
row for 20 rows (1.3 for 4, 0.15 for 256) against 2.1 µs (2.9, 1.9) with integers, where one
row's SHAKE-128 expansion takes 3.5 µs. But numpy lets go of the GIL in each of those calls,
and in a busy process getting it back costs far more than the sum (``BUSY_ARRAY_MIN_ROWS``), so
there only updates of many rows are summed as arrays. Both ways give the same lanes, byte for byte
(tests/test_state.py holds them against each other); which one runs is a matter of speed only.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from types import ModuleType
from typing import Protocol

from consortium.events.bounded_memo import BoundedMemo

try:
    import numpy
except ImportError:  # the integer arithmetic gives the same lanes
    numpy = None  # type: ignore[assignment]

_numpy: ModuleType | None = numpy
"""The numpy module the lanes are summed with, or None for the integer arithmetic (tests set
it to compare the two)."""

LANES = 1024
_BYTES = LANES * 2
_HALF = _BYTES // 2  # under hashlib's 2 KiB threshold for releasing the GIL
_EVEN = int.from_bytes(b"\xff\xff\x00\x00" * (LANES // 2), "little")  # lanes 0, 2, 4, …
_SLOT_BIAS = int.from_bytes(b"\x00\x00\x01\x00" * (LANES // 2), "little")  # 2^16 in each slot
_BATCH = (1 << 16) - 1  # rows per batch: a slot holds its lane plus this many rows' lanes
_ARRAY_BATCH = 256  # rows per numpy sum: 512 KB of lanes, kept within the CPU's caches
BUSY_ARRAY_MIN_ROWS = 64
"""In a process where several validators' threads contend for the GIL, the fewest rows (added
and removed together) an update sums with numpy; fewer are summed as integers. numpy releases
the GIL in every ufunc over more than 500 elements, and a row has 1,024 lanes, so an update by
arrays lets go of it about four times, and each time waits for a busy thread to give it back.
Measured against one spinning thread: 3 rows took 1.0 ms by arrays and 36 µs as integers, 64
rows 2.3 ms and 0.6 ms. Alone, arrays are the faster from 3 rows (18 against 32 µs; 25 against
284 µs at 64), so a big block's tables keep them, and so does a validator alone in its process
(``Expansions.array_min_rows`` 0), where integers cost about 1% more CPU for no gain."""
DOMAIN = b"consortium-lth\x00"  # keeps these expansions apart from any other SHAKE-128 use
EXPANSIONS_KEPT = 4096
"""Row expansions one table-hash user keeps (``Expansions``): about 9 MB."""


def _expand(element: bytes) -> bytes:
    """The row's 1024 lanes, little-endian."""
    return hashlib.shake_128(DOMAIN + element).digest(_BYTES)


def _sums(expansions: Iterable[bytes]) -> tuple[int, int, int]:
    """The even lanes' sum (in 32-bit slots), the plain integer sum, and the count."""
    even = both = count = 0
    for lanes in expansions:
        expanded = int.from_bytes(lanes, "little")
        even += expanded & _EVEN
        both += expanded
        count += 1
    return even, both, count


def _combine(value: int, added: tuple[int, int, int], removed: tuple[int, int, int]) -> int:
    """``value`` plus the rows summed in ``added``, minus those in ``removed``, lane by lane
    modulo 2^16. Together they hold at most ``_BATCH`` rows."""
    added_even, added_all, _ = added
    removed_even, removed_all, removed_count = removed
    bias = removed_count * _SLOT_BIAS  # each removed lane is below 2^16
    even = (value & _EVEN) + added_even + bias - removed_even
    # The odd lanes' sums are exact multiples of 2^16; shifting them down puts them in even slots.
    odd = (
        ((value >> 16) & _EVEN)
        + ((added_all - added_even) >> 16)
        + bias
        - ((removed_all - removed_even) >> 16)
    )
    return (even & _EVEN) | ((odd & _EVEN) << 16)


def _updated_by_integers(value: int, adding: Iterator[bytes], removing: Iterator[bytes]) -> int:
    """``value`` with the rows of ``adding`` added and those of ``removing`` removed, lane by
    lane; ``removing`` is read to its end before ``adding`` is read at all."""
    while True:
        out = _sums(islice(removing, _BATCH))
        into = _sums(islice(adding, _BATCH - out[2]))
        value = _combine(value, into, out)
        if out[2] + into[2] < _BATCH:
            return value


def _updated_by_arrays(
    np: ModuleType, value: int, adding: Iterator[bytes], removing: Iterator[bytes]
) -> int:
    """The same as ``_updated_by_integers``, summing each batch of rows as a numpy array."""
    lanes = np.frombuffer(value.to_bytes(_BYTES, "little"), dtype="<u2").copy()
    while batch := list(islice(removing, _ARRAY_BATCH)):
        lanes -= _array_sum(np, batch)
    while batch := list(islice(adding, _ARRAY_BATCH)):
        lanes += _array_sum(np, batch)
    return int.from_bytes(lanes.astype("<u2", copy=False).tobytes(), "little")


def _fewer_than(
    rows: int, adding: Iterator[bytes], removing: Iterator[bytes]
) -> tuple[bool, Iterator[bytes], Iterator[bytes]]:
    """Whether ``removing`` and ``adding`` hold fewer than ``rows`` rows together, and both
    again, whole. At most ``rows`` are read ahead, so a huge update stays a stream, and
    ``adding`` only once ``removing`` is spent."""
    removed_first = list(islice(removing, rows))
    if len(removed_first) == rows:
        return False, adding, chain(removed_first, removing)
    added_first = list(islice(adding, rows - len(removed_first)))
    small = len(removed_first) + len(added_first) < rows
    return small, chain(added_first, adding), iter(removed_first)


def _array_sum(np: ModuleType, batch: list[bytes]) -> object:
    """The lane-wise sum, modulo 2^16, of the expansions in ``batch``."""
    rows = np.frombuffer(b"".join(batch), dtype="<u2").reshape(len(batch), LANES)
    return rows.sum(axis=0, dtype=np.uint16)


class Expansions:
    """The expansions of rows recently added to a table hash, so that removing them is free.

    A row leaves a table with exactly the bytes it entered with, so when a row changes, the
    expansion of its old value was computed when that value was written. Keeping the latest
    ``capacity`` of them halves the SHAKE-128 work on rows that change often (balances, nonces).
    Only speed depends on what is kept: a miss recomputes the same lanes. Each entry holds about
    2.1 KB, so the default keeps about 9 MB.
    """

    __slots__ = ("_capacity", "_kept", "array_min_rows")

    def __init__(self, capacity: int = EXPANSIONS_KEPT, array_min_rows: int = 0) -> None:
        self._capacity = capacity
        # The fewest rows an update sums with numpy (``BUSY_ARRAY_MIN_ROWS``); 0, arrays always,
        # where no other validator of the process contends for the GIL.
        self.array_min_rows = array_min_rows
        # An OrderedDict drops its oldest entry in O(1); a dict's first live entry is found by
        # scanning past every entry deleted before it.
        self._kept: OrderedDict[bytes, bytes] = OrderedDict()

    def entering(self, element: bytes) -> bytes:
        """The expansion of a row being added, kept for when it is removed."""
        expanded = _expand(element)
        kept = self._kept
        kept[element] = expanded
        if len(kept) > self._capacity:
            kept.popitem(last=False)  # the oldest: rows are replaced, not re-read
        return expanded

    def leaving(self, element: bytes) -> bytes:
        """The expansion of a row being removed, which will not be needed again."""
        expanded = self._kept.pop(element, None)
        return expanded if expanded is not None else _expand(element)


class SharedExpansions:
    """The expansions of rows, kept for every validator of a process that shares verifications.

    Validators of one process that execute the same block each hash the same new rows; SHAKE-128
    of the same bytes is the same lanes, so the first to expand a row leaves it for the others
    (measured with four validators: each distinct row was expanded about four times per
    process). Unlike ``Expansions`` a row leaving one validator's table stays, since the others
    remove it too; the oldest written leaves first, as in every shared memo. The key is the row's
    bytes themselves, so a hit is the expansion of exactly those bytes. Only speed depends on
    what is kept, and it is filled only by this process's own hashing.
    """

    __slots__ = ("_kept", "array_min_rows")

    def __init__(self, capacity: int, array_min_rows: int = BUSY_ARRAY_MIN_ROWS) -> None:
        self._kept: BoundedMemo[bytes, bytes] = BoundedMemo(capacity)
        self.array_min_rows = array_min_rows  # sharing: several validators in one process

    @property
    def hits(self) -> int:
        return self._kept.hits

    def entering(self, element: bytes) -> bytes:
        """The expansion of a row being added or removed, computed once for the process."""
        expanded = self._kept.get(element)
        if expanded is None:
            expanded = _expand(element)
            self._kept.put(element, expanded)
        return expanded

    leaving = entering


class ExpansionCache(Protocol):
    """What ``LtHash.update`` takes the expansions of the rows it adds and removes from."""

    @property
    def array_min_rows(self) -> int:
        """The fewest rows an update sums with numpy (``BUSY_ARRAY_MIN_ROWS``)."""
        ...

    def entering(self, element: bytes) -> bytes: ...

    def leaving(self, element: bytes) -> bytes: ...


class LtHash:
    """A mutable accumulator; ``digest()`` is the SHA-256 of its lanes."""

    __slots__ = ("_digest", "_value")

    def __init__(self, value: int = 0) -> None:
        self._value = value
        self._digest: bytes | None = None

    def copy(self) -> LtHash:
        return LtHash(self._value)

    def add(self, element: bytes) -> None:
        self.update((element,), ())

    def remove(self, element: bytes) -> None:
        self.update((), (element,))

    def update(
        self,
        added: Iterable[bytes],
        removed: Iterable[bytes],
        expansions: ExpansionCache | None = None,
    ) -> None:
        """Add and remove many elements at once: the same digest as one call per element."""
        entering = expansions.entering if expansions is not None else _expand
        leaving = expansions.leaving if expansions is not None else _expand
        # Removed rows first: a row rewritten with the same bytes must find, then keep, its
        # expansion. ``islice`` takes nothing from ``adding`` until ``removing`` is spent.
        removing: Iterator[bytes] = map(leaving, removed)
        adding: Iterator[bytes] = map(entering, added)
        np = _numpy
        array_min_rows = expansions.array_min_rows if expansions is not None else 0
        if np is not None and array_min_rows:
            small, adding, removing = _fewer_than(array_min_rows, adding, removing)
            if small:
                np = None
        if np is None:
            self._set(_updated_by_integers(self._value, adding, removing))
        else:
            self._set(_updated_by_arrays(np, self._value, adding, removing))

    def add_hash(self, other: LtHash) -> None:
        """Add ``other``'s lanes to these, lane by lane modulo 2^16: the hash of both multisets
        of rows, so rows summed elsewhere (``rules/lane_worker.py``) join those summed here."""
        a, b = self._value, other._value
        even = (a & _EVEN) + (b & _EVEN)
        odd = ((a >> 16) & _EVEN) + ((b >> 16) & _EVEN)
        self._set((even & _EVEN) | ((odd & _EVEN) << 16))

    def _set(self, value: int) -> None:
        self._value = value
        self._digest = None

    def digest(self) -> bytes:
        """Memoised: a block header names every table's digest, though a block changes few.

        The 2,048 bytes of lanes are hashed in two halves because hashlib releases the GIL for
        an input of 2 KiB or more. Hashing them takes 2 µs; with other validator threads busy, the
        handover cost 500 µs on average to get the GIL back (measured with one spinning thread).
        """
        if self._digest is None:
            lanes = self.to_bytes()
            hasher = hashlib.sha256(lanes[:_HALF])
            hasher.update(lanes[_HALF:])
            self._digest = hasher.digest()
        return self._digest

    def to_bytes(self) -> bytes:
        """The lanes, little-endian: what a stored state keeps to resume hashing."""
        return self._value.to_bytes(_BYTES, "little")

    @classmethod
    def from_bytes(cls, lanes: bytes) -> LtHash:
        if len(lanes) != _BYTES:
            raise ValueError(f"an LtHash has {_BYTES} bytes of lanes, not {len(lanes)}")
        return cls(int.from_bytes(lanes, "little"))
