"""`consortium audit` and friends on real logs, clean and tampered with."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import lmdb
import msgspec
import pytest

from consortium.audit import verify
from consortium.audit.diff import first_difference
from consortium.audit.export import export_lines
from consortium.audit.proofs import check_proof, prove_consistency, prove_inclusion
from consortium.audit.replay_to import ReplayError, state_as_of
from consortium.audit.verify import audit, task_ranges
from consortium.cli import main
from consortium.consensus.certificates import precommit_bytes
from consortium.consensus.config import ConsensusConfig
from consortium.demo import demo_genesis
from consortium.events.block import (
    Block,
    CommittedBlock,
    QuorumCertificate,
    TableDigest,
    VoteSignature,
)
from consortium.events.codec import encode
from consortium.events.envelope import Signature, decode_envelope
from consortium.events.merkle import merkle_root
from consortium.events.payments import Transfer
from consortium.events.signing import Domain
from consortium.storage.records import BLOCK_DECODER, StoredBlock, frame, unframe
from consortium.storage.signature_check import ChainKeys, check_block_signatures
from tests.consortium_fixtures import funded_users, start, wait_until


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stopped 4-validator consortium's data directory with a few dozen blocks."""
    path = tmp_path_factory.mktemp("ledger")
    c = start(path)
    try:
        users = funded_users(c, 3)
        for i in range(30):
            users[i % 3].submit(
                Transfer(token="NORTH", to=users[(i + 1) % 3].public_key, amount=i + 1)
            ).result(10)
        assert wait_until(lambda: len({c.height(v) for v in range(4)}) == 1)
    finally:
        c.stop()
    return path


def _copy(ledger: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(ledger / "validator-0", target)
    return target


def _height_count(path: Path) -> int:
    return audit(path).blocks


def _rewrite(path: Path, height: int, change: Callable[[StoredBlock], StoredBlock]) -> None:
    """Replace block ``height`` (and its header record) with a changed, correctly framed one."""
    env = lmdb.open(str(path), max_dbs=8)
    blocks, headers = env.open_db(b"blocks"), env.open_db(b"headers")
    key = height.to_bytes(8, "big")
    with env.begin(write=True) as txn:
        stored = BLOCK_DECODER.decode(unframe(b"blocks", key, txn.get(key, db=blocks)))
        changed = change(stored)
        txn.put(key, frame(b"blocks", key, encode(changed)), db=blocks)
        txn.put(key, frame(b"headers", key, encode(changed.committed.block.header)), db=headers)
    env.close()


def _with_block(
    stored: StoredBlock, block: Block, qc: QuorumCertificate | None = None
) -> StoredBlock:
    committed = CommittedBlock(block, qc or stored.committed.qc)
    return msgspec.structs.replace(stored, committed=committed)


def _certified(stored: StoredBlock, block: Block) -> StoredBlock:
    """``stored`` holding ``block`` under a QC re-signed by every validator key: a forgery that
    only the checks after the QC can catch."""
    _, validators = demo_genesis()
    qc = stored.committed.qc
    votes = tuple(
        VoteSignature(
            i,
            v.sign(
                Domain.PRECOMMIT,
                block.header.chain_id,
                precommit_bytes(qc.height, qc.round, block.hash, i),
            ),
        )
        for i, v in enumerate(validators)
    )
    return _with_block(stored, block, QuorumCertificate(qc.height, qc.round, block.hash, votes))


def test_a_clean_log_audits_ok(ledger: Path) -> None:
    report = audit(ledger / "validator-0")
    assert report.ok, report.divergence
    assert report.blocks > 10 and report.events >= 30
    assert report.signatures >= report.events and report.quorum_certificates == report.blocks


def test_flipped_byte_without_new_checksum_is_a_checksum_failure(
    ledger: Path, tmp_path: Path
) -> None:
    path = _copy(ledger, tmp_path)
    env = lmdb.open(str(path), max_dbs=8)
    blocks = env.open_db(b"blocks")
    with env.begin(write=True, db=blocks) as txn:
        record = bytearray(txn.get((5).to_bytes(8, "big")))
        record[-40] ^= 0x01
        txn.put((5).to_bytes(8, "big"), bytes(record))
    env.close()
    report = audit(path)
    assert not report.ok and report.divergence.height == 5
    assert "checksum" in report.divergence.what
    with pytest.raises(ReplayError, match="block 5 is unreadable: block record fails its checksum"):
        state_as_of(path)


def test_flipped_byte_in_an_event_is_caught_by_its_signature(ledger: Path, tmp_path: Path) -> None:
    path = _copy(ledger, tmp_path)

    def flip(stored: StoredBlock) -> StoredBlock:
        block = stored.committed.block
        event = bytearray(block.events[0])
        event[-80] ^= 0x01  # inside the signed body
        return _with_block(stored, Block(block.header, (bytes(event), *block.events[1:])))

    _rewrite(path, 6, flip)
    report = audit(path)
    assert report.divergence is not None and report.divergence.height == 6
    assert report.divergence.event_index == 0
    assert "signature" in report.divergence.what or "decode" in report.divergence.what


def test_removed_event_is_reported(ledger: Path, tmp_path: Path) -> None:
    path = _copy(ledger, tmp_path)
    height = next(h for h in range(1, 40) if len(_block(ledger, h).events) >= 1)

    def remove(stored: StoredBlock) -> StoredBlock:
        block = stored.committed.block
        return msgspec.structs.replace(
            _with_block(stored, Block(block.header, block.events[1:])),
            results=stored.results[1:],
        )

    _rewrite(path, height, remove)
    report = audit(path)
    assert report.divergence is not None and report.divergence.height == height
    assert "event count" in report.divergence.what


def _block(ledger: Path, height: int) -> Block:
    return _stored_committed(ledger, height).block


def _stored_committed(ledger: Path, height: int) -> CommittedBlock:
    env = lmdb.open(str(ledger / "validator-0"), max_dbs=8, readonly=True, lock=False)
    with env.begin(db=env.open_db(b"blocks", create=False)) as txn:
        key = height.to_bytes(8, "big")
        stored = BLOCK_DECODER.decode(unframe(b"blocks", key, txn.get(key)))
    env.close()
    return stored.committed


def test_reordered_blocks_are_reported(ledger: Path, tmp_path: Path) -> None:
    path = _copy(ledger, tmp_path)
    env = lmdb.open(str(path), max_dbs=8)
    with env.begin(write=True) as txn:
        for name in (b"blocks", b"headers"):
            db = env.open_db(name, txn=txn)
            a, b = (txn.get(h.to_bytes(8, "big"), db=db) for h in (3, 4))
            txn.put((3).to_bytes(8, "big"), b, db=db)
            txn.put((4).to_bytes(8, "big"), a, db=db)
    env.close()
    report = audit(path)
    assert report.divergence is not None and report.divergence.height == 3
    assert "fails its checksum" in report.divergence.what  # the checksum covers the key


def _forge_qc(stored: StoredBlock) -> StoredBlock:
    qc = stored.committed.qc
    votes = (VoteSignature(qc.votes[0].validator, bytes(64)), *qc.votes[1:])
    forged = msgspec.structs.replace(qc, votes=votes)
    return _with_block(stored, stored.committed.block, forged)


def test_forged_qc_signature_is_reported(ledger: Path, tmp_path: Path) -> None:
    path = _copy(ledger, tmp_path)
    _rewrite(path, 4, _forge_qc)
    report = audit(path)
    assert report.divergence is not None and report.divergence.height == 4
    assert "quorum certificate invalid" in report.divergence.what


def test_projection_digest_that_no_longer_matches_is_named(
    ledger: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Even a header re-signed by every validator key cannot hide a wrong state digest, from
    the audit or from a replay to that height."""
    path = _copy(ledger, tmp_path)
    last = _height_count(path)

    def lie(stored: StoredBlock) -> StoredBlock:
        block = stored.committed.block
        digests = tuple(
            TableDigest(d.name, bytes(32)) if d.name == "accounts" else d
            for d in block.header.table_digests
        )
        header = msgspec.structs.replace(block.header, table_digests=digests)
        return _certified(stored, Block(header, block.events))

    _rewrite(path, last, lie)
    report = audit(path)
    assert report.divergence is not None and report.divergence.height == last
    assert "'accounts'" in report.divergence.what
    assert report.divergence.expected == "00" * 32
    assert main(["replay", str(path), "--height", str(last - 1), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["height"] == last - 1
    assert main(["replay", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"block {last} does not reproduce its header" in err and "'accounts'" in err
    assert "consortium audit" in err


@pytest.fixture
def worker_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Audits take the worker-process path even on the small test log, in several tasks."""
    monkeypatch.setattr(verify, "INLINE_BELOW_EVENTS", 0)
    monkeypatch.setattr(verify, "TASK_EVENTS", 4)


def test_worker_processes_agree_with_the_inline_audit(
    ledger: Path, worker_processes, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = ledger / "validator-0"
    inline = audit(path, workers=1)

    def not_here(*args: object) -> None:
        raise AssertionError("with workers, no signature is verified in the auditing process")

    monkeypatch.setattr(verify, "check_block_signatures", not_here)
    pooled = audit(path, workers=2)
    assert inline.ok and pooled.ok, pooled.divergence
    assert (inline.workers, pooled.workers) == (1, 2)
    assert pooled.head_state_digest == inline.head_state_digest
    assert (pooled.blocks, pooled.events, pooled.signatures, pooled.quorum_certificates) == (
        inline.blocks,
        inline.events,
        inline.signatures,
        inline.quorum_certificates,
    )


def _flip_signature(envelope_bytes: bytes) -> bytes:
    """The event with one byte of its author's signature flipped, framed like any other."""
    envelope = decode_envelope(envelope_bytes)
    first, *others = envelope.signatures
    flipped = Signature(first.signer, bytes([first.signature[0] ^ 0x01]) + first.signature[1:])
    return encode(msgspec.structs.replace(envelope, signatures=(flipped, *others)))


def _flip_in_place(ledger: Path, height: int) -> Callable[[StoredBlock], StoredBlock]:
    """Flip a signature byte of the block's last event: the header and QC still hold."""

    def change(stored: StoredBlock) -> StoredBlock:
        block = stored.committed.block
        events = (*block.events[:-1], _flip_signature(block.events[-1]))
        return _with_block(stored, Block(block.header, events))

    return change


def _append_forged(ledger: Path, height: int) -> Callable[[StoredBlock], StoredBlock]:
    """Append another block's event with a flipped signature byte, under a re-signed QC, so the
    bad event is not the block's first."""

    def change(stored: StoredBlock) -> StoredBlock:
        block = stored.committed.block
        events = (*block.events, _flip_signature(_block(ledger, height + 1).events[0]))
        header = msgspec.structs.replace(block.header, event_count=len(events))
        return _certified(stored, Block(header, events))

    return change


@pytest.mark.parametrize(("tamper", "extra"), [(_flip_in_place, 0), (_append_forged, 1)])
def test_worker_processes_name_a_bad_signature_like_the_inline_audit(
    ledger: Path, tmp_path: Path, worker_processes, tamper, extra: int
) -> None:
    path = _copy(ledger, tmp_path)
    height = 6
    index = len(_block(ledger, height).events) - 1 + extra
    _rewrite(path, height, tamper(ledger, height))
    pooled, inline = audit(path, workers=2), audit(path, workers=1)
    assert pooled.workers == 2 and pooled.divergence is not None
    assert pooled.divergence == inline.divergence
    assert (pooled.divergence.height, pooled.divergence.event_index) == (height, index)
    assert pooled.divergence.what == "event signature does not verify"
    assert pooled.divergence.event_id is not None and pooled.divergence.found is not None
    assert pooled.blocks == inline.blocks == height - 1


def test_worker_processes_name_a_forged_certificate_like_the_inline_audit(
    ledger: Path, tmp_path: Path, worker_processes, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _copy(ledger, tmp_path)
    _rewrite(path, 4, _forge_qc)
    inline = audit(path, workers=1)

    def not_here(*args: object) -> None:
        raise AssertionError("with workers, no certificate is verified in the auditing process")

    monkeypatch.setattr(verify, "check_block_signatures", not_here)
    pooled = audit(path, workers=2)
    assert pooled.workers == 2 and pooled.divergence is not None
    assert pooled.divergence == inline.divergence
    assert pooled.divergence.height == 4 and pooled.blocks == 3
    assert pooled.divergence.what.startswith("quorum certificate invalid: signature of validator")


def test_a_verdict_on_other_bytes_than_those_replayed_is_a_divergence(ledger: Path) -> None:
    """A worker's verdict vouches only for the bytes it read: its events root must be the root
    of the events this process re-executes, and its certificate the one this process read."""
    committed = _stored_committed(ledger, 3)
    genesis, _ = demo_genesis()
    config = ConsensusConfig(genesis.chain_id, genesis.validator_keys)
    keys = ChainKeys(config.chain_id, config.validators, config.quorum)
    verdict = check_block_signatures(3, committed, keys)
    replayed = merkle_root(list(committed.block.events))
    assert verify._verdict_problem(verdict, committed, replayed) is None
    other_events = verify._verdict_problem(verdict, committed, merkle_root([b"event 2"]))
    assert other_events is not None and other_events.height == 3
    assert "not the events replayed" in other_events.what
    votes = committed.qc.votes[:-1]
    other_qc = msgspec.structs.replace(committed.qc, votes=votes)
    read = CommittedBlock(committed.block, other_qc)
    problem = verify._verdict_problem(verdict, read, replayed)
    assert problem is not None and "certificate whose signatures were checked" in problem.what


def test_task_ranges_cover_every_height_without_splitting_a_block() -> None:
    claimed = [(1, 0), (2, 3), (3, 5), (4, 1), (5, 1), (7, 9), (8, 0)]
    assert list(task_ranges(claimed, events=4, blocks=3)) == [(1, 4), (4, 8), (8, 9)]
    assert list(task_ranges([(h, 0) for h in range(1, 6)], events=4, blocks=2)) == [
        (1, 3),
        (3, 5),
        (5, 6),
    ]
    assert list(task_ranges([], events=4, blocks=2)) == []


def test_inclusion_proof_verifies_and_fails_after_tampering(ledger: Path) -> None:
    path = ledger / "validator-0"
    genesis, _ = demo_genesis()
    line = json.loads(list(export_lines(path))[10])
    proof = prove_inclusion(path, bytes.fromhex(line["event_id"]))
    assert check_proof(proof, genesis) is None
    bad_path = json.loads(json.dumps(proof))
    bad_path["path"][0] = "00" * 32
    assert check_proof(bad_path, genesis) is not None
    bad_leaf = json.loads(json.dumps(proof))
    bad_leaf["leaf_index"] = proof["leaf_index"] + 1
    assert check_proof(bad_leaf, genesis) is not None
    other = msgspec.structs.replace(genesis, chain_id="another-chain")
    assert check_proof(proof, other) is not None


def test_consistency_holds_across_appends_and_fails_across_a_rewrite(
    ledger: Path, tmp_path: Path
) -> None:
    genesis, _ = demo_genesis()
    path = ledger / "validator-0"
    last = _height_count(path)
    proof = prove_consistency(path, 3, last)
    assert check_proof(proof, genesis) is None
    other = tmp_path / "other"
    c = start(other)
    try:
        users = funded_users(c, 2)
        for i in range(last):
            users[i % 2].submit(
                Transfer(token="NORTH", to=users[(i + 1) % 2].public_key, amount=7)
            ).result(10)
        assert wait_until(lambda: c.height(0) >= last)
    finally:
        c.stop()
    rewritten = prove_consistency(other / "validator-0", 3, last)
    rewritten["old"] = proof["old"]  # an old head of the first history, a path of the second
    assert check_proof(rewritten, genesis) is not None


def test_replay_as_of_height_and_diff_and_cli(ledger: Path, tmp_path: Path, capsys) -> None:
    path = ledger / "validator-0"
    _, reached = state_as_of(path, height=5)
    assert reached == 5
    time_of_5 = _block(ledger, 5).header.time_ms
    assert state_as_of(path, time_ms=time_of_5)[1] == 5
    assert state_as_of(path, time_ms=time_of_5 - 1)[1] == 4
    assert first_difference(path, ledger / "validator-1") is None
    assert main(["audit", str(path)]) == 0
    assert "OK: every check holds" in capsys.readouterr().out
    assert main(["replay", str(path), "--height", "5", "--json"]) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert replayed["height"] == 5 and set(replayed) >= {"accounts", "orders", "settlements"}
    assert main(["audit", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
