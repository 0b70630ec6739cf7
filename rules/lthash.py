"""LtHash16: a homomorphic multiset hash, so a table's digest is updated per changed row.

Each row is expanded by SHAKE-128 to 1024 lanes of 16 bits and added lane-wise modulo 2^16
(Bellare and Micciancio; the construction Facebook describes for its state commitments). Adding and
removing rows in any order gives the same digest as hashing the final table from scratch, so a
validator pays for the rows a block touched, not for the size of the state. Lane-wise addition is
done on Python integers with a SWAR mask, so no carry crosses a lane.
"""

from __future__ import annotations

import hashlib

LANES = 1024
_BYTES = LANES * 2
_ALL = (1 << (LANES * 16)) - 1
_HIGH = int.from_bytes(b"\x00\x80" * LANES, "little")  # top bit of every little-endian lane
_ONES = int.from_bytes(b"\x01\x00" * LANES, "little")


def _lane_add(a: int, b: int) -> int:
    return ((a & ~_HIGH) + (b & ~_HIGH)) ^ ((a ^ b) & _HIGH)


def _expand(element: bytes) -> int:
    return int.from_bytes(hashlib.shake_128(element).digest(_BYTES), "little")


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
        negated = _lane_add(_expand(element) ^ _ALL, _ONES)
        self._value = _lane_add(self._value, negated)

    def digest(self) -> bytes:
        return hashlib.sha256(self._value.to_bytes(_BYTES, "little")).digest()
