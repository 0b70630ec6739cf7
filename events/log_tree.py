"""The whole log as one growing RFC 6962 Merkle tree, kept as its frontier.

Every block header carries the size and root of the tree over all events committed so far, so a
quorum certificate co-signs a tree head: inclusion proofs for any event and consistency proofs
between any two heights follow RFC 6962/9162 and can be checked by independent tools. The
frontier (one root per perfect subtree, at most log2(n) of them) is all that is needed to append
and to compute the head, so each block costs O(events x log n) hashing, not O(n).
"""

from __future__ import annotations

from collections.abc import Iterable

from consortium.events.merkle import EMPTY_ROOT, node_hash


class LogTree:
    __slots__ = ("_frontier", "size")

    def __init__(self, size: int = 0, frontier: Iterable[bytes] = ()) -> None:
        self.size = size
        self._frontier = list(frontier)  # roots of perfect subtrees, largest (leftmost) first
        if len(self._frontier) != bin(size).count("1"):
            raise ValueError(f"a tree of {size} leaves has {bin(size).count('1')} subtrees")

    @property
    def frontier(self) -> tuple[bytes, ...]:
        return tuple(self._frontier)

    def copy(self) -> LogTree:
        return LogTree(self.size, self._frontier)

    def append(self, leaf_hash: bytes) -> None:
        node, size = leaf_hash, self.size
        while size & 1:  # merge with every complete subtree of the same height
            node = node_hash(self._frontier.pop(), node)
            size >>= 1
        self._frontier.append(node)
        self.size += 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        for leaf in leaf_hashes:
            self.append(leaf)

    def root(self) -> bytes:
        if not self._frontier:
            return EMPTY_ROOT
        root = self._frontier[-1]
        for subtree in reversed(self._frontier[:-1]):
            root = node_hash(subtree, root)
        return root
