"""A host that forgets ``stop()`` still exits, with a warning and its logs closed cleanly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from consortium.demo import demo_genesis
from consortium.storage.log import EventLog

SCRIPT = """
import sys
from consortium import Consortium, ConsortiumConfig
from consortium.demo import demo_genesis
genesis, validators = demo_genesis()
consortium = Consortium(genesis, sys.argv[1], validators, ConsortiumConfig(durable=False))
print("height", consortium.height())
"""


def test_a_script_that_never_stops_its_consortium_exits(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "height 0" in done.stdout
    assert "was never stopped; stopping it at exit" in done.stderr
    genesis, _ = demo_genesis()
    for i in range(4):  # every log was closed and opens cleanly
        with EventLog(tmp_path / f"validator-{i}", genesis, readonly=True) as log:
            assert log.head_height >= 0
