"""LtHash16: a homomorphic multiset hash, so a table's digest is updated per changed row.

Each row is expanded to 1024 lanes of 16 bits and added lane-wise modulo 2^16 (Bellare and
Micciancio; the construction Facebook describes for its state commitments). Adding and removing
rows in any order gives the same digest as hashing the final table from scratch, so a validator
pays for the rows a block touched, not for the size of the state.

The expansion is hash-then-expand: a personalised BLAKE2b-256 of the row keys libsodium's
ChaCha20 stream (``randombytes_buf_deterministic``, fixed nonce), whose first 2048 bytes are the
lanes, little-endian. Every validator expands every changed row, and SHAKE-128 took 3.7 µs per row
with the GIL held throughout (hashlib keeps it for inputs under 2 KiB): the largest item in a GIL
profile of several validators in one process. This takes 2 µs, and PyNaCl's cffi call releases the
GIL while ChaCha20 runs, about half of that. Security is unchanged: a collision of the expansion
is, short of a ChaCha20 break, a collision of the 256-bit seed hash, the 128-bit level SHAKE-128
gives, and the lattice argument for LtHash only needs the expansion to behave as a random oracle
(Facebook's LtHash also hashes, then expands, with Blake2xb). The personalisation keeps these
seeds apart from any other BLAKE2b use in the code base.

Lane-wise addition is done on Python integers with a SWAR mask, so no carry crosses a lane. A
block's rows are summed in one batch (``update``): the even lanes are accumulated on their own,
each with an empty lane above it to catch carries, beside the plain integer sum of the rows; the
odd lanes' sum is the difference, so each row costs one mask and two additions, and the carries
are folded into the digest once per batch rather than per row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from nacl.bindings import randombytes_buf_deterministic

LANES = 1024
_BYTES = LANES * 2
_ALL = (1 << (LANES * 16)) - 1
_HIGH = int.from_bytes(b"\x00\x80" * LANES, "little")  # top bit of every little-endian lane
_ONES = int.from_bytes(b"\x01\x00" * LANES, "little")
_EVEN = int.from_bytes(b"\xff\xff\x00\x00" * (LANES // 2), "little")  # lanes 0, 2, 4, …
_ODD = _EVEN << 16
_BATCH = (1 << 16) - 1  # elements a 16-bit carry lane can absorb before it must be folded
PERSON = b"consortium-lth"  # BLAKE2b personalisation of the expansion's seed
# Copying a prepared hash object is cheaper than passing the parameters for every row.
_SEED = hashlib.blake2b(digest_size=32, person=PERSON)


def _lane_add(a: int, b: int) -> int:
    return ((a & ~_HIGH) + (b & ~_HIGH)) ^ ((a ^ b) & _HIGH)


def _lane_negate(a: int) -> int:
    return _lane_add(a ^ _ALL, _ONES)


def _expand(element: bytes) -> int:
    seed = _SEED.copy()
    seed.update(element)
    return int.from_bytes(randombytes_buf_deterministic(_BYTES, seed.digest()), "little")


def _lane_sum(elements: Iterable[bytes]) -> int:
    """The lane-wise sum of the elements' expansions."""
    total = 0
    batch = iter(elements)
    while True:
        even = both = count = 0
        for element in batch:
            expanded = _expand(element)
            even += expanded & _EVEN
            both += expanded  # exact: both - even is the odd lanes' sum
            count += 1
            if count == _BATCH:
                break
        total = _lane_add(total, (even & _EVEN) | ((both - even) & _ODD))
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
