"""Proofs bind every field they carry; diff compares content; audit commands fail with messages.

Each test here failed before the fix it guards: a proof's height or chain id could be edited
and still verify, a header of any size was decoded, ``diff`` compared header hashes only and
``diff X X`` failed, and several commands ended in tracebacks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from consortium.audit.diff import first_difference
from consortium.audit.export import export_lines
from consortium.audit.proofs import check_proof, prove_consistency, prove_inclusion
from consortium.cli import main
from consortium.demo import demo_genesis
from consortium.events.results import Code, EventResult
from tests.audit_fixtures import (
    copy_validator,
    open_raw,
    read_stored_block,
    tiny_ledger,
    write_stored_block,
)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_ledger(tmp_path_factory.mktemp("ledger"))


def _event(ledger: Path, n: int = 4) -> dict[str, Any]:
    line: dict[str, Any] = json.loads(list(export_lines(ledger / "validator-0"))[n])
    return line


def _proof(ledger: Path) -> dict[str, Any]:
    return prove_inclusion(ledger / "validator-0", bytes.fromhex(_event(ledger)["event_id"]))


def _edited(proof: dict[str, Any], **fields: object) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(proof))
    copy.update(fields)
    return copy


def test_an_inclusion_proof_holds_and_names_its_height(ledger: Path) -> None:
    genesis, _ = demo_genesis()
    proof = _proof(ledger)
    assert check_proof(proof, genesis) is None
    assert proof["height"] == _event(ledger)["height"]


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("height", 99999, "height 99999"),
        ("height", 1, "height 1"),
        ("chain_id", "another-chain", "names chain"),
        ("leaf_index", 0, "not in block"),
        ("tree_size", 10**6, "tree size"),
        ("extra", "unsigned", "unknown field"),
        ("height", True, "malformed"),
    ],
)
def test_every_field_of_an_inclusion_proof_is_bound(
    ledger: Path, field: str, value: object, says: str
) -> None:
    genesis, _ = demo_genesis()
    problem = check_proof(_edited(_proof(ledger), **{field: value}), genesis)
    assert problem is not None and says in problem


def test_a_block_head_of_another_height_is_refused(ledger: Path) -> None:
    genesis, _ = demo_genesis()
    proof = _proof(ledger)
    other = prove_consistency(ledger / "validator-0", 1, 2)["old"]
    assert check_proof(_edited(proof, block=other), genesis) is not None


def test_an_oversized_or_nested_head_is_a_clean_refusal(ledger: Path) -> None:
    genesis, _ = demo_genesis()
    proof = _proof(ledger)
    huge = _edited(proof, head={"header": "90" * (2 << 20), "qc": proof["head"]["qc"]})
    problem = check_proof(huge, genesis)
    assert problem is not None and "exceeds limit" in problem
    nested = _edited(proof, head={"header": "91" * 200 + "c0", "qc": proof["head"]["qc"]})
    problem = check_proof(nested, genesis)
    assert problem is not None and "malformed" in problem


def test_a_consistency_proof_binds_its_chain(ledger: Path) -> None:
    genesis, _ = demo_genesis()
    proof = prove_consistency(ledger / "validator-0", 2, 4)
    assert check_proof(proof, genesis) is None
    assert check_proof(_edited(proof, chain_id="x"), genesis) is not None
    swapped = _edited(proof, old=proof["new"], new=proof["old"])
    assert check_proof(swapped, genesis) is not None


def test_diff_of_a_directory_with_itself_is_identical(ledger: Path, capsys) -> None:
    path = str(ledger / "validator-0")
    assert main(["diff", path, path]) == 0
    assert capsys.readouterr().out.strip() == "identical"


def test_diff_names_an_event_changed_under_an_unchanged_header(
    ledger: Path, tmp_path: Path
) -> None:
    left = ledger / "validator-0"
    right = copy_validator(ledger, tmp_path / "copy")
    height = _event(ledger)["height"]
    env = open_raw(right)
    stored = read_stored_block(env, height)
    other = read_stored_block(env, height - 1).committed.block.events
    block = msgspec.structs.replace(stored.committed.block, events=other)
    committed = msgspec.structs.replace(stored.committed, block=block)
    write_stored_block(env, height, msgspec.structs.replace(stored, committed=committed))
    env.close()
    difference = first_difference(left, right)
    assert difference is not None and difference.startswith(f"height {height}, event 0:")


def test_diff_names_a_changed_result(ledger: Path, tmp_path: Path) -> None:
    right = copy_validator(ledger, tmp_path / "copy")
    height = _event(ledger)["height"]
    env = open_raw(right)
    stored = read_stored_block(env, height)
    lie = (EventResult(Code.INSUFFICIENT_FUNDS, "forged"), *stored.results[1:])
    write_stored_block(env, height, msgspec.structs.replace(stored, results=lie))
    env.close()
    difference = first_difference(ledger / "validator-0", right)
    assert difference is not None and f"height {height}, result of event 0" in difference


def _fails_cleanly(argv: list[str], capsys, says: str) -> None:
    """The command exits non-zero with a message (never a traceback) containing ``says``."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's refusal of an argument
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code != 0
    assert says in err and "Traceback" not in err


def test_cli_errors_are_messages(ledger: Path, tmp_path: Path, capsys) -> None:
    path = str(ledger / "validator-0")
    _fails_cleanly(["prove", path, "ab" * 32], capsys, "is not in this log")
    _fails_cleanly(["prove", path, "abc"], capsys, "64 hex digits")
    _fails_cleanly(["prove", path, "--consistency", "3", "2"], capsys, "1 <= OLD <= NEW")
    _fails_cleanly(["prove", path, "--consistency", "1", "999"], capsys, "has only")
    _fails_cleanly(["prove", path, "--consistency", "0", "2"], capsys, "not a positive")
    _fails_cleanly(["prove", path], capsys, "give an EVENT_ID")
    proof = tmp_path / "proof.json"
    assert main(["prove", path, "--consistency", "1", "2", "-o", str(proof)]) == 0
    missing = str(tmp_path / "no-genesis.msgpack")
    _fails_cleanly(["verify-proof", str(proof), "--genesis", missing], capsys, "export-genesis")
    _fails_cleanly(["verify-proof", str(tmp_path / "nope.json"), "--genesis", path], capsys, "nope")
    bad_out = str(tmp_path / "no-such-dir" / "g.msgpack")
    _fails_cleanly(["export-genesis", path, "-o", bad_out], capsys, "writable directory")
    _fails_cleanly(["export-genesis", str(tmp_path / "none"), "-o", "g"], capsys, "does not exist")
    _fails_cleanly(["replay", path, "--height", "-5"], capsys, "negative")
    _fails_cleanly(["prove", path, "--consistency", "1", "2", "-o", bad_out], capsys, "writable")


def test_prove_and_export_show_progress(ledger: Path, capsys) -> None:
    path = str(ledger / "validator-0")
    assert main(["export", path]) == 0
    assert "exported blocks" in capsys.readouterr().err
    assert main(["prove", path, "--consistency", "1", "2"]) == 0
    assert "read blocks" in capsys.readouterr().err


def test_prove_finds_an_event_whose_id_entry_is_lost(ledger: Path, tmp_path: Path) -> None:
    """The proof is made from the log itself: a damaged id index does not hide an event."""
    genesis, _ = demo_genesis()
    path = copy_validator(ledger, tmp_path / "copy")
    eid = bytes.fromhex(_event(ledger)["event_id"])
    env = open_raw(path)
    with env.begin(write=True) as txn:
        assert txn.delete(eid, db=env.open_db(b"ids", txn=txn))
    env.close()
    assert check_proof(prove_inclusion(path, eid), genesis) is None
