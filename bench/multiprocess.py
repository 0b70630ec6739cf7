"""``--multiprocess``: a workload on one ``consortium node`` process per validator.

The nodes talk over ZeroMQ with CurveZMQ on 127.0.0.1, exactly as on separate machines but
sharing this machine's cores; the host submits through ``RemoteConsortium`` clients, one per
node, each user to one node. Latency is therefore submit-to-receipt over the network, and
throughput includes the encryption and the separate processes' cost, beside the in-process run.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

from consortium.bench.scenarios import SCENARIOS
from consortium.bench.workload import (
    DEFAULT_BOUNDS,
    BlockBounds,
    Progress,
    WorkloadResult,
    drive,
    measured,
    own_cpu_s,
)
from consortium.events.identity import Identity
from consortium.key_file import read_secret_key
from consortium.local_cluster import NodeProcess, wait_for, write_cluster
from consortium.remote import RemoteConsortium, RemoteParticipantHandle
from consortium.rules.restitution import RESTITUTION_WORKFLOWS

START_TIMEOUT_S = 60.0


def run_workload_multiprocess(
    validators: int,
    events: int,
    durable: bool,
    offered_per_s: float | None = None,
    progress: Progress = lambda _: None,
    workload: str = "payments",
    bounds: BlockBounds = DEFAULT_BOUNDS,
) -> WorkloadResult:
    with tempfile.TemporaryDirectory(prefix="consortium-bench-net-") as tmp:
        files = write_cluster(
            Path(tmp),
            validators,
            participants={"admin": "org_admin"},
            tokens=(("EUR", "org-0"),),
            ledger={"durable": durable, **bounds.as_ledger()},
            chain_id="bench-net",
            workflows=RESTITUTION_WORKFLOWS,
        )
        nodes = [
            NodeProcess(files.node_config(i), files.directory / f"node-{i}.log")
            for i in range(validators)
        ]
        host = read_secret_key(files.directory / "keys" / "host.key")
        clients = [
            RemoteConsortium(files.genesis, host, i, files.addresses[i], query_timeout_s=5)
            for i in range(validators)
        ]
        peaks: list[float] = []
        try:
            for node in nodes:
                node.start()
            if not wait_for(lambda: all(c.height() >= 0 for c in clients), START_TIMEOUT_S):
                raise RuntimeError(f"the nodes did not start; see {files.directory}/node-*.log")
            admin = clients[0].participant(read_secret_key(files.participant_keys["admin"]))

            def handle_for(user: Identity) -> RemoteParticipantHandle:
                return clients[user.public_key[0] % validators].participant(user)

            stream = SCENARIOS[workload](admin, handle_for)
            start_height = clients[0].height()
            cpu_before = own_cpu_s() + sum(_cpu_s(node.pid) for node in nodes)
            driven = drive(stream, events, offered_per_s, progress)
            cpu_s = own_cpu_s() + sum(_cpu_s(node.pid) for node in nodes) - cpu_before
            blocks = clients[0].height() - start_height
            peaks = [_peak_rss_mb(node.pid) for node in nodes]
        finally:
            for client in clients:
                client.stop()
            for node in nodes:
                if node.running() and node.terminate() != 0:
                    progress(f"  a node exited badly:\n{node.output()[-2000:]}")
                node.kill()
        return measured(
            workload,
            driven,
            blocks,
            files.genesis,
            files.data_dir(0),
            sharing="none",
            durable=durable,
            peak_rss_mb=max(peaks),
            cpu_s=cpu_s,
            bounds=bounds,
            mode="processes",
        )


def _cpu_s(pid: int) -> float:
    """A node's user and system CPU seconds so far (Linux ``/proc/<pid>/stat``); NaN where
    /proc is missing, so the report shows the figure as unknown rather than as the host's."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return math.nan
    fields = stat.rpartition(")")[2].split()  # the name in parentheses may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float:
    """A node's peak resident memory (Linux ``VmHWM``), or 0 where /proc is missing."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0
