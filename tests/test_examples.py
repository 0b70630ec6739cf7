"""Every script in examples/ runs to completion, as a user would run it (those that need
arguments, with them, in their own tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TAKES_ARGUMENTS = {"verify_proof.py"}  # run on a real proof by test_verify_proof_example.py
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if p.name not in TAKES_ARGUMENTS)


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(script: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip()


def _readme_embedding_example() -> str:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("## Embedding", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_embedding_example_runs_twice_in_one_directory(tmp_path: Path) -> None:
    script = tmp_path / "embed.py"
    script.write_text(_readme_embedding_example(), "utf-8")
    outputs = []
    for _ in range(2):  # the second run resumes the ledger the first one left
        done = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        outputs.append(done.stdout.split())
    first, second = outputs
    assert first[0] == second[0] == "True"
    assert int(second[1]) > int(first[1])  # a later block
