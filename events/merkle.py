"""RFC 6962 / RFC 9162 Merkle trees over SHA-256: tree heads, inclusion and consistency proofs.

We follow the Certificate Transparency construction exactly, rather than inventing our own, so
that anyone can check our proofs with an independent, already-reviewed RFC 6962 verifier
instead of having to trust ours. Its 0x00 / 0x01 prefixes separate leaves from interior
nodes, so a leaf can never be passed off as a subtree (no second-preimage trick), and a tree
of n leaves has exactly one shape, so equal leaf lists always give equal roots.

Proof generators raise ValueError on impossible requests (they are called with our own data);
verifiers return False on any bad input and never raise (they are called with other people's).
A tree head does not commit to its size (a proof can also pass for some other tree sizes), so
a signed tree head must always carry the size next to the root.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = [
    "EMPTY_ROOT",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "merkle_root",
    "node_hash",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
]

_LEAF = b"\x00"
_NODE = b"\x01"
_HASH_SIZE = 32

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""Tree head of the empty tree: RFC 9162 defines it as the hash of the empty string."""


def leaf_hash(data: bytes) -> bytes:
    """Hash of one leaf; the 0x00 prefix keeps it distinct from every interior node hash."""
    return hashlib.sha256(_LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash of an interior node; the 0x01 prefix keeps it distinct from every leaf hash."""
    return hashlib.sha256(_NODE + left + right).digest()


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """Tree head over already-hashed leaves, built bottom-up so big blocks never recurse.

    Pairing neighbours level by level and lifting an unpaired last node unchanged gives the
    same tree as the RFC's split at the largest power of two below n.
    """
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    while len(level) > 1:
        pairs = zip(level[::2], level[1::2], strict=False)
        parents = [hashlib.sha256(_NODE + left + right).digest() for left, right in pairs]
        if len(level) % 2:
            parents.append(level[-1])
        level = parents
    return level[0]


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Tree head over raw leaf data, for callers that have not hashed their leaves yet."""
    return root_from_leaf_hashes([leaf_hash(data) for data in leaves])


def _split(size: int) -> int:
    """Largest power of two strictly below ``size`` (>= 2): where RFC 9162 splits a tree."""
    return 1 << ((size - 1).bit_length() - 1)


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """Audit path for leaf ``index`` (RFC 9162 §2.1.3.1): sibling subtree heads, leaf first.

    It lets a holder of only the tree head check that one leaf is in the tree.
    """
    if not 0 <= index < len(leaf_hashes):
        raise ValueError(f"leaf index {index} outside a tree of {len(leaf_hashes)} leaves")
    path: list[bytes] = []
    lo, hi = 0, len(leaf_hashes)
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            path.append(root_from_leaf_hashes(leaf_hashes[mid:hi]))
            hi = mid
        else:
            path.append(root_from_leaf_hashes(leaf_hashes[lo:mid]))
            lo = mid
    path.reverse()
    return path


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """Proof that the first ``old_size`` leaves are a prefix of this tree (RFC 9162 §2.1.4.1).

    It lets a holder of an old tree head check that the log only appended since then.
    """
    if not 0 <= old_size <= len(leaf_hashes):
        raise ValueError(f"old size {old_size} outside 0..{len(leaf_hashes)}")
    if old_size in (0, len(leaf_hashes)):
        return []
    path: list[bytes] = []
    lo, hi, m = 0, len(leaf_hashes), old_size
    while m != hi - lo:
        mid = lo + _split(hi - lo)
        if m <= mid - lo:
            path.append(root_from_leaf_hashes(leaf_hashes[mid:hi]))
            hi = mid
        else:
            path.append(root_from_leaf_hashes(leaf_hashes[lo:mid]))
            m -= mid - lo
            lo = mid
    if lo > 0:  # the old tree is not a whole subtree of the new one: the verifier needs it
        path.append(root_from_leaf_hashes(leaf_hashes[lo:hi]))
    path.reverse()
    return path


def _is_size(value: object) -> bool:
    return isinstance(value, int) and value >= 0


def _are_hashes(first: object, second: object, proof: object, tree_size: int) -> bool:
    """True if both hashes and every proof entry are SHA-256 digests, so untrusted input is
    rejected up front instead of raising deep inside the walk.

    No proof for ``tree_size`` leaves is longer than its bit length + 1, so a huge hostile proof
    is refused before it is scanned.
    """
    return (
        isinstance(proof, Sequence)
        and len(proof) <= tree_size.bit_length() + 1
        and all(isinstance(h, bytes) and len(h) == _HASH_SIZE for h in (first, second, *proof))
    )


def _walk(fn: int, sn: int, seed: bytes, path: Sequence[bytes]) -> tuple[bytes, bytes] | None:
    """The loop shared by RFC 9162 §2.1.3.2 step 4 and §2.1.4.2 step 6.

    Returns (fr, sr), the heads of the first and second trees, or None if the path is too long
    or too short to reach the root (sn not exactly 0 at the end).
    """
    fr = sr = seed
    for c in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return (fr, sr) if sn == 0 else None


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Check an audit path against a tree head (RFC 9162 §2.1.3.2); False on any bad input."""
    if not (_is_size(index) and _is_size(tree_size) and index < tree_size):
        return False
    if not _are_hashes(leaf_hash, root, proof, tree_size):
        return False
    walked = _walk(index, tree_size - 1, leaf_hash, proof)
    return walked is not None and walked[1] == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Check the tree with head ``old_root`` is a prefix of ``new_root``'s (RFC 9162 §2.1.4.2).

    False on any bad input. Sizes 0 and equal sizes need an empty proof; the empty tree must
    have the RFC's empty root.
    """
    if not (_is_size(old_size) and _is_size(new_size) and old_size <= new_size):
        return False
    if not _are_hashes(old_root, new_root, proof, new_size):
        return False
    if old_size == 0 and old_root != EMPTY_ROOT:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof  # every tree extends the empty one
    if not proof:
        return False
    path = [old_root, *proof] if old_size & (old_size - 1) == 0 else list(proof)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    return _walk(fn, sn, path[0], path[1:]) == (old_root, new_root)
