"""The log-wide Merkle frontier gives the same heads as building the RFC 6962 tree anew."""

from __future__ import annotations

from hypothesis import given, strategies as st

from consortium.events.log_tree import LogTree
from consortium.events.merkle import leaf_hash, root_from_leaf_hashes


@given(st.lists(st.integers(0, 40), max_size=8))
def test_frontier_heads_equal_full_tree_heads_across_appends(batches: list[int]) -> None:
    tree, leaves = LogTree(), []
    for batch in batches:
        new = [leaf_hash(f"{len(leaves) + i}".encode()) for i in range(batch)]
        tree.extend(new)
        leaves.extend(new)
        assert tree.size == len(leaves)
        assert tree.root() == root_from_leaf_hashes(leaves)
        restored = LogTree(tree.size, tree.frontier)
        assert restored.root() == tree.root()


def test_frontier_of_the_wrong_length_is_refused() -> None:
    try:
        LogTree(3, [b"x" * 32])
    except ValueError as exc:
        assert "2 subtrees" in str(exc)
    else:
        raise AssertionError("accepted a frontier that cannot belong to a tree of 3 leaves")
