"""RFC 6962 Merkle trees: published test vectors plus property tests of proofs and tampering."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from consortium.events.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).parent / "data" / "rfc6962"


def _load(name: str) -> list[dict[str, Any]]:
    return json.loads((VECTORS / name).read_text())


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _b64s(values: list[str]) -> list[bytes]:
    return [_b64(v) for v in values]


TREE = _load("merkle_tree.json")
LEAF_HASHES = [leaf_hash(entry["leaf_data"].encode()) for entry in TREE]
INCLUSION_VALID = _load("inclusion-valid.json")
INCLUSION_INVALID = _load("inclusion-invalid.json")
CONSISTENCY_VALID = _load("consistency-valid.json")
CONSISTENCY_INVALID = _load("consistency-invalid.json")


def _reference_root(hashes: list[bytes]) -> bytes:
    """MTH straight from the RFC's recursive definition, to check the iterative one."""
    if not hashes:
        return EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return node_hash(_reference_root(hashes[:k]), _reference_root(hashes[k:]))


def _flip(value: bytes, bit: int) -> bytes:
    out = bytearray(value)
    out[bit // 8 % len(out)] ^= 1 << (bit % 8)
    return bytes(out)


# --- primitives -------------------------------------------------------------------------------


def test_primitives_use_rfc_prefixes() -> None:
    assert leaf_hash(b"a") == hashlib.sha256(b"\x00a").digest()
    assert node_hash(b"L", b"R") == hashlib.sha256(b"\x01LR").digest()
    assert merkle_root([]) == root_from_leaf_hashes([]) == EMPTY_ROOT == hashlib.sha256().digest()


# --- published vectors ------------------------------------------------------------------------


@pytest.mark.parametrize("size", range(1, len(TREE) + 1))
def test_tree_heads_match_vectors(size: int) -> None:
    entry = TREE[size - 1]
    assert LEAF_HASHES[size - 1] == _b64(entry["leaf_hash"])
    assert root_from_leaf_hashes(LEAF_HASHES[:size]) == _b64(entry["root_hash"])
    assert merkle_root([e["leaf_data"].encode() for e in TREE[:size]]) == _b64(entry["root_hash"])


@pytest.mark.parametrize("case", INCLUSION_VALID)
def test_inclusion_valid_vectors(case: dict[str, Any]) -> None:
    index, size, proof = case["leaf_index"], case["tree_size"], _b64s(case["inclusion_path"])
    leaf, root = _b64(case["leaf_hash"]), _b64(case["root_hash"])
    assert LEAF_HASHES[index] == leaf
    assert root_from_leaf_hashes(LEAF_HASHES[:size]) == root
    assert inclusion_proof(LEAF_HASHES[:size], index) == proof
    assert verify_inclusion(leaf, index, size, proof, root)


@pytest.mark.parametrize("case", INCLUSION_INVALID, ids=lambda c: c["comment"])
def test_inclusion_invalid_vectors(case: dict[str, Any]) -> None:
    assert not verify_inclusion(
        _b64(case["leaf_hash"]),
        case["leaf_index"],
        case["tree_size"],
        _b64s(case["inclusion_path"]),
        _b64(case["root_hash"]),
    )


@pytest.mark.parametrize("case", CONSISTENCY_VALID)
def test_consistency_valid_vectors(case: dict[str, Any]) -> None:
    old, new, proof = case["old_size"], case["new_size"], _b64s(case["consistency_path"])
    old_root, new_root = _b64(case["old_root"]), _b64(case["new_root"])
    assert root_from_leaf_hashes(LEAF_HASHES[:old]) == old_root
    assert root_from_leaf_hashes(LEAF_HASHES[:new]) == new_root
    assert consistency_proof(LEAF_HASHES[:new], old) == proof
    assert verify_consistency(old, new, old_root, new_root, proof)


@pytest.mark.parametrize("case", CONSISTENCY_INVALID, ids=lambda c: c["comment"])
def test_consistency_invalid_vectors(case: dict[str, Any]) -> None:
    assert not verify_consistency(
        case["old_size"],
        case["new_size"],
        _b64(case["old_root"]),
        _b64(case["new_root"]),
        _b64s(case["consistency_path"]),
    )


# --- bad input --------------------------------------------------------------------------------

H = LEAF_HASHES[0]
ROOT2 = root_from_leaf_hashes(LEAF_HASHES[:2])
JUNK = [None, "x", b"short", H + b"\x00", 3.5, [], -1]


@pytest.mark.parametrize("junk", JUNK)
@pytest.mark.parametrize("position", range(5))
def test_verify_inclusion_rejects_junk_without_raising(junk: object, position: int) -> None:
    args: list[Any] = [H, 0, 2, [LEAF_HASHES[1]], ROOT2]
    assert verify_inclusion(*args)
    args[position] = [junk] if position == 3 else junk
    assert not verify_inclusion(*args)


@pytest.mark.parametrize("junk", JUNK)
@pytest.mark.parametrize("position", range(5))
def test_verify_consistency_rejects_junk_without_raising(junk: object, position: int) -> None:
    args: list[Any] = [1, 2, H, ROOT2, [LEAF_HASHES[1]]]
    assert verify_consistency(*args)
    args[position] = [junk] if position == 4 else junk
    assert not verify_consistency(*args)


def test_generators_refuse_impossible_requests() -> None:
    for index in (-1, 2):
        with pytest.raises(ValueError):
            inclusion_proof(LEAF_HASHES[:2], index)
    for old_size in (-1, 3):
        with pytest.raises(ValueError):
            consistency_proof(LEAF_HASHES[:2], old_size)
    with pytest.raises(ValueError):
        inclusion_proof([], 0)


# --- properties -------------------------------------------------------------------------------

leaf_lists = st.lists(st.binary(max_size=8), min_size=1, max_size=200, unique=True)


@settings(max_examples=200, deadline=None)
@given(leaves=st.lists(st.binary(max_size=4), max_size=200))
def test_root_matches_recursive_definition(leaves: list[bytes]) -> None:
    hashes = [leaf_hash(data) for data in leaves]
    assert root_from_leaf_hashes(hashes) == merkle_root(leaves) == _reference_root(hashes)


@settings(max_examples=300, deadline=None)
@given(leaves=leaf_lists, data=st.data())
def test_inclusion_proofs_verify_and_tampering_fails(
    leaves: list[bytes], data: st.DataObject
) -> None:
    hashes = [leaf_hash(d) for d in leaves]
    size, root = len(hashes), root_from_leaf_hashes(hashes)
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = inclusion_proof(hashes, index)
    leaf = hashes[index]
    assert verify_inclusion(leaf, index, size, proof, root)

    bit = data.draw(st.integers(0, 255), label="bit")
    targets = ["root", "leaf", "index"] + (["proof"] if proof else [])
    target = data.draw(st.sampled_from(targets), label="target")
    if target == "root":
        root = _flip(root, bit)
    elif target == "leaf":
        leaf = _flip(leaf, bit)
    elif target == "proof":
        at = data.draw(st.integers(0, len(proof) - 1), label="at")
        proof[at] = _flip(proof[at], bit)
    else:
        wrong = data.draw(st.integers(-2, size + 2).filter(lambda i: i != index), label="wrong")
        index = wrong
    assert not verify_inclusion(leaf, index, size, proof, root)


@settings(max_examples=300, deadline=None)
@given(leaves=leaf_lists, data=st.data())
def test_consistency_proofs_verify_and_tampering_fails(
    leaves: list[bytes], data: st.DataObject
) -> None:
    hashes = [leaf_hash(d) for d in leaves]
    new = len(hashes)
    old = data.draw(st.integers(0, new), label="old")
    old_root, new_root = root_from_leaf_hashes(hashes[:old]), root_from_leaf_hashes(hashes)
    proof = consistency_proof(hashes, old)
    assert verify_consistency(old, new, old_root, new_root, proof)

    bit = data.draw(st.integers(0, 255), label="bit")
    # A tree head does not commit to its size (a proof for n leaves can also pass for other
    # sizes), so signed heads must carry the size; a wrong new size is only checked for being
    # impossible. Every tree extends the empty one, so from size 0 the new head is free.
    targets = ["old_root", "old_size", "new_size"] + (["proof"] if proof else [])
    if old > 0:
        targets.append("new_root")
    target = data.draw(st.sampled_from(targets), label="target")
    if target == "old_root":
        old_root = _flip(old_root, bit)
    elif target == "new_root":
        new_root = _flip(new_root, bit)
    elif target == "proof":
        at = data.draw(st.integers(0, len(proof) - 1), label="at")
        proof[at] = _flip(proof[at], bit)
    elif target == "old_size":
        old = data.draw(st.integers(-1, new + 2).filter(lambda s: s != old), label="wrong")
    else:
        new = data.draw(st.integers(-1, old - 1), label="wrong")
    assert not verify_consistency(old, new, old_root, new_root, proof)


def test_every_proof_in_small_trees_verifies_and_only_for_its_own_position() -> None:
    hashes = [leaf_hash(i.to_bytes(1, "big")) for i in range(33)]
    for size in range(1, len(hashes) + 1):
        tree, root = hashes[:size], root_from_leaf_hashes(hashes[:size])
        for index in range(size):
            proof = inclusion_proof(tree, index)
            verdicts = [verify_inclusion(tree[index], i, size, proof, root) for i in range(size)]
            assert verdicts == [i == index for i in range(size)]
        for old in range(size + 1):
            proof, old_root = consistency_proof(tree, old), root_from_leaf_hashes(tree[:old])
            verdicts = [verify_consistency(m, size, old_root, root, proof) for m in range(size + 1)]
            assert verdicts == [m == old for m in range(size + 1)]


def test_verifiers_refuse_oversized_proofs() -> None:
    padding = [H] * 1000
    assert not verify_inclusion(H, 0, 2, [LEAF_HASHES[1], *padding], ROOT2)
    assert not verify_consistency(1, 2, H, ROOT2, [LEAF_HASHES[1], *padding])
