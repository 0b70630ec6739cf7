"""N validator processes on this machine: for the network tests, ``bench --multiprocess``, and
trying the networked mode without N machines.

It writes what N organisations would each make with ``consortium keygen``, ``consortium
genesis`` and a node config, all in one directory on free 127.0.0.1 ports, and starts each node
as ``python -m consortium node --config ...``, exactly as an operator would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import msgspec

from consortium.events.genesis import Genesis
from consortium.events.workflow import WorkflowSpec
from consortium.genesis_file import build_genesis, write_genesis
from consortium.key_file import HOST_ROLE, VALIDATOR_ROLE, read_public_key, write_key_pair
from consortium.node_config import client_config_toml, node_config_toml

GENESIS_FILE = "genesis.toml"


def free_ports(count: int) -> list[int]:
    """Ports the OS has just handed out as free on 127.0.0.1 (held open together, so distinct)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass(frozen=True, slots=True)
class ClusterFiles:
    """Where everything was written; node ``i`` keeps its log in ``data_dir(i)``."""

    directory: Path
    genesis: Genesis
    addresses: list[str]
    participant_keys: dict[str, Path] = field(default_factory=dict)
    """Secret key files of the genesis participants, by name."""

    def node_config(self, index: int) -> Path:
        return self.directory / f"node-{index}.toml"

    def client_config(self, index: int) -> Path:
        """A host config that connects to validator ``index``."""
        return self.directory / f"client-{index}.toml"

    def data_dir(self, index: int) -> Path:
        return self.directory / f"data-{index}" / f"validator-{index}"

    def validator_key(self, index: int) -> Path:
        return self.directory / "keys" / f"validator-{index}.key"


def write_cluster(
    directory: Path | str,
    validators: int,
    *,
    participants: Mapping[str, str] | None = None,
    tokens: tuple[tuple[str, str], ...] = (),
    ledger: Mapping[str, Any] | None = None,
    chain_id: str = "local-cluster",
    workflows: tuple[WorkflowSpec, ...] = (),
) -> ClusterFiles:
    """Keys, genesis, node and client configs for ``validators`` nodes of organisations
        ``org-0``..; ``participants`` maps a genesis participant's name to its role (all of
        ``org-0``); ``ledger`` goes into every node's ``[ledger]`` table; ``workflows`` are the
    declarative workflow definitions the genesis carries."""
    directory = Path(directory)
    keys = directory / "keys"
    public = [
        write_key_pair(keys / f"validator-{i}.key", f"validator-{i}", VALIDATOR_ROLE, f"org-{i}")[0]
        for i in range(validators)
    ]
    participant_keys = {}
    for name, role in (participants or {}).items():
        participant_keys[name] = keys / f"{name}.key"
        public.append(write_key_pair(participant_keys[name], name, role, "org-0")[0])
    _, host = write_key_pair(keys / "host.key", "host", HOST_ROLE, "org-0")
    genesis = build_genesis(
        chain_id, time.time_ns() // 1_000_000, [read_public_key(p) for p in public], tokens
    )
    genesis = msgspec.structs.replace(genesis, workflows=workflows)
    write_genesis(directory / GENESIS_FILE, genesis)
    addresses = [f"tcp://127.0.0.1:{port}" for port in free_ports(validators)]
    files = ClusterFiles(directory, genesis, addresses, participant_keys)
    for i, address in enumerate(addresses):
        files.node_config(i).write_text(
            node_config_toml(
                genesis=GENESIS_FILE,
                key_file=f"keys/validator-{i}.key",
                data_dir=f"data-{i}",
                listen=address,
                peers=dict(enumerate(addresses)),
                client_keys=(host.public_key,),
                ledger=ledger,
            ),
            "utf-8",
        )
        files.client_config(i).write_text(
            client_config_toml(
                genesis=GENESIS_FILE, key_file="keys/host.key", validator=i, address=address
            ),
            "utf-8",
        )
    return files


class NodeProcess:
    """One ``consortium node`` child process; its output goes to ``log_path``."""

    def __init__(self, config: Path, log_path: Path, verbose: bool = False) -> None:
        self.config = config
        self.log_path = log_path
        self._verbose = verbose
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        command = [sys.executable, "-m", "consortium"]
        if self._verbose:
            command.append("-v")
        command += ["node", "--config", str(self.config)]
        self._process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to finish anything."""
        self._signal(signal.SIGKILL)
        self.wait(30)

    def terminate(self, timeout_s: float = 30) -> int:
        """SIGTERM and wait: the node finishes the block in hand and closes its log."""
        self._signal(signal.SIGTERM)
        return self.wait(timeout_s)

    def wait(self, timeout_s: float) -> int:
        assert self._process is not None
        code = self._process.wait(timeout_s)
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def output(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace")

    def _signal(self, signum: int) -> None:
        if self.running():
            assert self._process is not None
            os.kill(self._process.pid, signum)


def wait_for(condition: Callable[[], bool], timeout_s: float, poll_s: float = 0.05) -> bool:
    """Poll ``condition`` until it holds or ``timeout_s`` passes; a condition that raises counts
    as not holding yet (a node still starting refuses connections)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if condition():
                return True
        except Exception:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)
