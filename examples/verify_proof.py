"""Check a consortium inclusion proof with nothing but pynacl, hashlib, msgspec and the genesis
file, as docs/proofs.md specifies. Run: python verify_proof.py proof.json genesis.msgpack"""

import hashlib
import json
import sys

import msgspec
import nacl.exceptions
import nacl.signing


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def check(ok: bool, what: str) -> None:
    if not ok:
        sys.exit(f"INVALID: {what}")


def signed_header(part: dict, chain: str, keys: list) -> list:
    """The header's fields, once its QC holds a quorum of valid precommits over its hash."""
    header_bytes = bytes.fromhex(part["header"])
    header = msgspec.msgpack.decode(header_bytes)
    height, round_, block_hash, votes = msgspec.msgpack.decode(bytes.fromhex(part["qc"]))
    check(header[0] == chain and header[1] == height and block_hash == sha(header_bytes), "QC")
    prefix = b"consortium/precommit/v1\0" + len(chain.encode()).to_bytes(2, "big") + chain.encode()
    for validator, signature in votes:
        check(0 <= validator < len(keys), f"a vote by validator {validator}, not in the genesis")
        vote = msgspec.msgpack.encode([2, height, round_, block_hash, validator])  # a precommit
        nacl.signing.VerifyKey(keys[validator]).verify(prefix + vote, signature)  # raises if bad
    check(len({v for v, _ in votes}) >= len(keys) * 2 // 3 + 1, "fewer votes than a quorum")
    return header


def verify(proof: dict, genesis_bytes: bytes) -> None:
    genesis = msgspec.msgpack.decode(genesis_bytes)
    chain, keys = genesis["chain_id"], [v["public_key"] for v in genesis["validators"]]
    check(proof["genesis_hash"] == sha(genesis_bytes).hex(), "made for another genesis")
    check(proof["kind"] == "inclusion" and proof["chain_id"] == chain, "another kind or chain")
    block, head = (signed_header(proof[name], chain, keys) for name in ("block", "head"))
    envelope, index, size = bytes.fromhex(proof["envelope"]), proof["leaf_index"], head[9]
    check(sha(envelope).hex() == proof["event_id"], "the envelope is not the event named")
    check(block[1] == proof["height"] <= head[1] and proof["tree_size"] == size, "height, size")
    check(block[9] - block[6] <= index < block[9], "the leaf is not in the block at that height")
    fn, sn, root = index, size - 1, sha(b"\0" + envelope)  # RFC 9162, section 2.1.3.2
    for sibling in map(bytes.fromhex, proof["path"]):
        check(sn > 0, "the audit path is too long")
        if fn & 1 or fn == sn:
            root = sha(b"\1" + sibling + root)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            root = sha(b"\1" + root + sibling)
        fn, sn = fn >> 1, sn >> 1
    check(sn == 0 and root == head[10], "the audit path does not lead to the signed tree head")
    fields = {"kind", "chain_id", "genesis_hash", "event_id", "envelope", "height", "leaf_index"}
    check(set(proof) == fields | {"tree_size", "path", "block", "head"}, "unknown fields")


if __name__ == "__main__":
    with open(sys.argv[1]) as proof_file, open(sys.argv[2], "rb") as genesis_file:
        proof, genesis_bytes = json.load(proof_file), genesis_file.read()
    try:
        verify(proof, genesis_bytes)
    except (
        nacl.exceptions.BadSignatureError,
        msgspec.DecodeError,
        ValueError,
        LookupError,
        TypeError,
    ) as e:
        sys.exit(f"INVALID: a signature or encoding does not hold ({type(e).__name__}: {e})")
    print(f"OK: event {proof['event_id']} is at height {proof['height']} of {proof['chain_id']}")
