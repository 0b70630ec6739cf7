"""A validator process killed with SIGKILL mid-workload loses no acknowledged event."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.consortium_fixtures import start, wait_until

ROOT = Path(__file__).resolve().parent.parent


def test_sigkill_during_workload_keeps_every_acknowledged_event(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.crash_worker", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    acked: list[tuple[bytes, int]] = []
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("ACK "):
                _, eid, height = line.split()
                acked.append((bytes.fromhex(eid), int(height)))
            if len(acked) >= 200:
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    assert len(acked) >= 200, child.stderr.read() if child.stderr else ""

    # Reopening verifies every header chain and replays every block against its header.
    consortium = start(tmp_path)
    try:
        assert wait_until(lambda: len({consortium.height(i) for i in range(4)}) == 1, 30)
        for validator in range(4):
            locations = consortium.inspect(
                lambda node: [node.log.locate(eid) for eid, _ in acked], validator
            )
            missing = [
                eid.hex() for (eid, _), loc in zip(acked, locations, strict=True) if loc is None
            ]
            assert not missing, f"validator {validator} lost acknowledged events {missing[:3]}"
            assert [loc.height for loc in locations] == [h for _, h in acked]
        assert len({consortium.state_digest(i) for i in range(4)}) == 1
    finally:
        consortium.stop()
