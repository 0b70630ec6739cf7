"""A header's hash is computed once per header object, and the kept answer is invisible: it is
not encoded, not compared, and never carried to a header with other fields."""

from __future__ import annotations

import hashlib
from collections import Counter

import msgspec
import pytest

import consortium.events.block as block_module
from consortium.events.block import BlockHeader, TableDigest, header_hash
from consortium.events.codec import encode
from tests.core_harness import MemoryNetwork


def _header(height: int = 5) -> BlockHeader:
    return BlockHeader(
        "hash-test",
        height,
        0,
        b"p" * 32,
        1,
        1_700_000_000_000,
        3,
        b"e" * 32,
        b"r" * 32,
        100,
        b"l" * 32,
        (TableDigest("balances", b"d" * 32), TableDigest("nonces", b"n" * 32)),
    )


def test_the_hash_is_sha256_of_the_canonical_bytes_and_stays_out_of_them() -> None:
    header = _header()
    before = encode(header)
    digest = header_hash(header)
    assert digest == hashlib.sha256(before).digest()
    assert encode(header) == before
    assert msgspec.json.encode(header) == msgspec.json.encode(_header())
    assert header == _header()
    assert header_hash(header) is digest


def test_a_decoded_or_rebuilt_header_hashes_its_own_fields() -> None:
    header = _header()
    digest = header_hash(header)
    decoded = msgspec.msgpack.decode(encode(header), type=BlockHeader)
    assert header_hash(decoded) == digest
    tampered = msgspec.structs.replace(header, height=6)
    assert header_hash(tampered) == hashlib.sha256(encode(tampered)).digest() != digest
    assert header_hash(msgspec.structs.replace(header)) == digest


def test_the_kept_hash_cannot_be_set_like_a_field() -> None:
    header = _header()
    with pytest.raises(AttributeError):
        header._hash = b"x" * 32  # type: ignore[misc]
    assert header_hash(header) == hashlib.sha256(encode(header)).digest()


def test_consensus_hashes_each_header_object_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Consensus asks for a block's hash on nearly every message; each validator decodes its own
    copy of a block, so each header object should be encoded for its hash once. Before the hash
    was kept, a height of four validators encoded the same header objects about ten times."""
    encodes: Counter[int] = Counter()
    headers: list[BlockHeader] = []  # kept alive, so that no id is reused during the run
    real = block_module.encode

    def counting(value: object) -> bytes:
        if isinstance(value, BlockHeader):
            encodes[id(value)] += 1
            headers.append(value)
        return real(value)

    monkeypatch.setattr(block_module, "encode", counting)
    net = MemoryNetwork(4)
    for k in range(3):
        net.submit(f"event-{k}".encode())
        assert net.run_until(lambda k=k: all(h >= k + 1 for h in net.heights()))
    assert encodes, "no header was hashed: the count measures nothing"
    assert max(encodes.values()) == 1
