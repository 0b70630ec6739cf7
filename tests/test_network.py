"""Four validator processes over ZeroMQ: crash, keep committing, restart, catch up, agree.

Everything is set up as operators would (key files, a TOML genesis, node configs) and every node
runs as ``python -m consortium node``; the host talks to them through ``RemoteConsortium``.
Waits poll with deadlines; no assertion depends on a fixed sleep.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from consortium.actors.net.endpoint import Endpoint, Incoming, PeerAddress
from consortium.audit.verify import audit
from consortium.events.identity import Identity
from consortium.events.payments import IssueTokens, RegisterParticipant, Transfer
from consortium.key_file import read_secret_key
from consortium.local_cluster import ClusterFiles, NodeProcess, wait_for, write_cluster
from consortium.remote import RemoteConsortium, RemoteParticipantHandle, open_consortium
from consortium.storage.log import EventLog
from consortium.subscriptions import BlockNotice
from tests.network_fixtures import FAST_LEDGER

N = 4
USERS = 4


@pytest.fixture
def cluster(tmp_path: Path) -> ClusterFiles:
    return write_cluster(
        tmp_path,
        N,
        participants={"admin": "org_admin"},
        tokens=(("EUR", "org-0"),),
        ledger=FAST_LEDGER,
    )


@pytest.fixture
def nodes(cluster: ClusterFiles) -> Iterator[list[NodeProcess]]:
    processes = [
        NodeProcess(cluster.node_config(i), cluster.directory / f"node-{i}.log", verbose=True)
        for i in range(N)
    ]
    for p in processes:
        p.start()
    yield processes
    for p in processes:
        p.kill()


def _client(cluster: ClusterFiles, index: int) -> RemoteConsortium:
    host = read_secret_key(cluster.directory / "keys" / "host.key")
    return RemoteConsortium(
        cluster.genesis, host, index, cluster.addresses[index], query_timeout_s=2
    )


def _pay(users: list[RemoteParticipantHandle], count: int) -> None:
    futures = [
        users[i % USERS].submit(
            Transfer(token="EUR", to=users[(i + 1) % USERS].public_key, amount=1)
        )
        for i in range(count)
    ]
    assert all(f.result(30).accepted for f in futures)


def _logs(nodes: list[NodeProcess]) -> str:
    return "\n".join(f"--- node {i}\n{n.output()[-3000:]}" for i, n in enumerate(nodes))


def test_crash_restart_catch_up_and_identical_logs(
    cluster: ClusterFiles, nodes: list[NodeProcess]
) -> None:
    selected = open_consortium(cluster.client_config(0))  # a [client] file: the remote facade
    assert isinstance(selected, RemoteConsortium)
    clients = [selected, *(_client(cluster, i) for i in range(1, N))]
    try:
        assert wait_for(lambda: all(c.height() >= 0 for c in clients), 30), _logs(nodes)
        admin = clients[0].participant(read_secret_key(cluster.participant_keys["admin"]))
        people = [Identity.generate(f"user-{i}") for i in range(USERS)]
        for p in people:
            registration = RegisterParticipant(participant=p.public_key, name=p.name, role="user")
            assert admin.submit(registration).result(30).accepted
        funding = [
            admin.submit(IssueTokens(token="EUR", to=p.public_key, amount=10**6)) for p in people
        ]
        assert all(f.result(30).accepted for f in funding)
        notices: list[BlockNotice] = []
        clients[0].subscribe(notices.append)
        _pay([clients[0].participant(p) for p in people], 200)
        # Block notices reach the host, QC-checked, with the events and the rows they changed.
        assert wait_for(lambda: sum(len(n.events) for n in notices) >= 200, 10)
        assert any(n.changed("accounts") for n in notices)

        nodes[3].kill()
        before = clients[0].height()
        # The three survivors (a quorum of 3f+1 = 4) keep committing, submitted to validator 1.
        _pay([clients[1].participant(p) for p in people], 200)
        assert clients[0].height() > before
        assert wait_for(lambda: len({clients[i].height() for i in range(3)}) == 1, 20)

        target = clients[0].height()
        with EventLog(cluster.data_dir(3), cluster.genesis, readonly=True) as log:
            assert log.head_height < target  # it has blocks to fetch
        nodes[3].start()
        assert wait_for(lambda: clients[3].height() >= target, 30), _logs(nodes)
        # Caught up, it takes part again: events submitted to it commit everywhere.
        _pay([clients[3].participant(p) for p in people], 50)
        assert wait_for(lambda: len({(c.height(), c.state_digest()) for c in clients}) == 1, 20)
        heights = {c.height() for c in clients}
    finally:
        for c in clients:
            c.stop()

    for i, node in enumerate(nodes):
        assert node.terminate() == 0, node.output()[-3000:]
        assert f"validator {i} stopped" in node.output()
    heads = set()
    for i in range(N):
        report = audit(cluster.data_dir(i))
        assert report.divergence is None, f"validator {i}: {report.divergence}"
        with EventLog(cluster.data_dir(i), cluster.genesis, readonly=True) as log:
            heads.add((log.head_height, log.head_hash, report.head_state_digest))
    assert len(heads) == 1
    assert heads.pop()[0] == heights.pop()


def test_a_key_not_in_the_genesis_is_refused(
    cluster: ClusterFiles, nodes: list[NodeProcess], tmp_path: Path
) -> None:
    genuine = read_secret_key(cluster.validator_key(1))
    rogue = Identity.generate("rogue")
    node0 = PeerAddress(cluster.addresses[0], cluster.genesis.validators[0].public_key)
    outcomes: dict[str, list[bool]] = {"genuine": [], "rogue": []}

    def endpoint(name: str, identity: Identity) -> Endpoint:
        def ignore(_: Incoming) -> None:
            return None

        return Endpoint(
            name,
            identity,
            ignore,
            peers={0: node0},
            on_handshake=lambda peer, ok: outcomes[name].append(ok),
        )

    endpoints = [endpoint("genuine", genuine), endpoint("rogue", rogue)]
    try:
        assert wait_for(lambda: bool(outcomes["rogue"]) and bool(outcomes["genuine"]), 30)
        assert outcomes["rogue"][0] is False
        assert outcomes["genuine"][0] is True
    finally:
        for e in endpoints:
            e.close()
    assert wait_for(lambda: "refused a connection" in nodes[0].output(), 10)

    # A node started with a key the genesis does not name stops at once and says why.
    rogue_config = tmp_path / "rogue.toml"
    rogue_key = tmp_path / "keys" / "rogue.key"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "consortium",
            "keygen",
            "--name",
            "rogue",
            "--role",
            "validator",
            "--org",
            "nobody",
            "--out",
            str(rogue_key),
        ],
        check=True,
        capture_output=True,
    )
    text = cluster.node_config(0).read_text("utf-8")
    rogue_config.write_text(text.replace("keys/validator-0.key", "keys/rogue.key"), "utf-8")
    started = subprocess.run(
        [sys.executable, "-m", "consortium", "node", "--config", str(rogue_config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 2
    assert "is not a validator of chain" in started.stderr
