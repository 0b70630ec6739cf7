"""The standalone verifier of docs/proofs.md (examples/verify_proof.py, pynacl, hashlib and
msgspec only) accepts a proof written by ``consortium prove`` and refuses edited ones: the
specification is complete enough to check a quorum certificate without this package."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from consortium.audit.export import export_lines
from consortium.cli import main
from tests.audit_fixtures import tiny_ledger

VERIFIER = Path(__file__).parent.parent / "examples" / "verify_proof.py"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """A proof of the log's fourth event, as ``consortium prove`` wrote it, and the genesis file."""
    base = tmp_path_factory.mktemp("proof")
    data = tiny_ledger(base / "ledger") / "validator-0"
    eid = json.loads(list(export_lines(data))[3])["event_id"]
    assert main(["prove", str(data), eid, "-o", str(base / "proof.json")]) == 0
    assert main(["export-genesis", str(data), "-o", str(base / "genesis.msgpack")]) == 0
    return json.loads((base / "proof.json").read_text()), base / "genesis.msgpack"


def _run(proof: dict[str, Any], genesis: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proof))
    command = [sys.executable, "-I", str(VERIFIER), str(path), str(genesis)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_the_standalone_verifier_accepts_a_proof_from_prove(
    files: tuple[dict[str, Any], Path], tmp_path: Path
) -> None:
    proof, genesis = files
    done = _run(proof, genesis, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"OK: event {proof['event_id']} is at height {proof['height']}")


def test_the_standalone_verifier_imports_only_pynacl_hashlib_and_msgspec() -> None:
    imported = set()
    for node in ast.walk(ast.parse(VERIFIER.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported == {"hashlib", "json", "sys", "msgspec", "nacl"}


def _vote_forged(proof: dict[str, Any]) -> dict[str, Any]:
    qc = bytearray.fromhex(proof["head"]["qc"])
    qc[-1] ^= 1  # the last byte of the last vote's signature
    return {**proof, "head": {**proof["head"], "qc": qc.hex()}}


@pytest.mark.parametrize(
    "edit",
    [
        lambda p: {**p, "height": 99999},
        lambda p: {**p, "height": p["height"] - 1},
        lambda p: {**p, "chain_id": "another-chain"},
        lambda p: {**p, "leaf_index": 0},
        lambda p: {**p, "block": p["head"]},
        lambda p: {**p, "unsigned": 1},
        _vote_forged,
    ],
    ids=["height", "height-1", "chain_id", "leaf_index", "block", "unknown-field", "vote"],
)
def test_the_standalone_verifier_refuses_an_edited_proof(
    files: tuple[dict[str, Any], Path], tmp_path: Path, edit: Any
) -> None:
    proof, genesis = files
    done = _run(edit(proof), genesis, tmp_path)
    assert done.returncode != 0
    assert done.stderr.startswith("INVALID:")
