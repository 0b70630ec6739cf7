"""A remote host's submissions resolve when its validator dies under them.

The host sends every submission again after a reconnection (same envelope, so it is never
executed twice), and fails what has waited past the receipt deadline with a typed error that
frees its place in the pending budget.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from consortium.events.identity import Identity
from consortium.events.payments import IssueTokens, RegisterParticipant, Transfer
from consortium.events.results import Code
from consortium.key_file import read_secret_key
from consortium.local_cluster import ClusterFiles, wait_for, write_cluster
from consortium.network_node import NetworkedConsortium
from consortium.node_config import NodeConfig, load_config
from consortium.remote import RemoteConsortium, RemoteParticipantHandle, SubmissionExpired
from tests.network_fixtures import FAST_LEDGER, answers


@pytest.fixture
def cluster(tmp_path: Path) -> ClusterFiles:
    return write_cluster(
        tmp_path,
        4,
        participants={"admin": "org_admin"},
        tokens=(("EUR", "org-0"),),
        ledger=FAST_LEDGER,
    )


def _node(cluster: ClusterFiles, index: int) -> NetworkedConsortium:
    config = load_config(cluster.node_config(index))
    assert isinstance(config, NodeConfig)
    return NetworkedConsortium(config)


@pytest.fixture
def nodes(cluster: ClusterFiles) -> Iterator[list[NetworkedConsortium]]:
    started = [_node(cluster, i) for i in range(4)]
    yield started
    for node in started:
        node.stop()


def _host(cluster: ClusterFiles, deadline_s: float = 120.0) -> RemoteConsortium:
    key = read_secret_key(cluster.directory / "keys" / "host.key")
    return RemoteConsortium(
        cluster.genesis,
        key,
        0,
        cluster.addresses[0],
        query_timeout_s=5,
        receipt_deadline_s=deadline_s,
    )


def _payer_and_payee(
    host: RemoteConsortium, cluster: ClusterFiles
) -> tuple[RemoteParticipantHandle, Identity]:
    admin = host.participant(read_secret_key(cluster.participant_keys["admin"]))
    payer, payee = Identity.generate("payer"), Identity.generate("payee")
    for person in (payer, payee):
        enrol = RegisterParticipant(participant=person.public_key, name=person.name, role="user")
        assert admin.submit(enrol).result(30).accepted
    assert admin.submit(IssueTokens(token="EUR", to=payer.public_key, amount=10_000)).result(30)
    return host.participant(payer), payee


def pay_each_once_across(
    host: RemoteConsortium,
    payer: RemoteParticipantHandle,
    payee: Identity,
    count: int,
    interrupt: Callable[[], None],
) -> None:
    """Submit ``count`` transfers of 1, ``interrupt`` with most in flight, and check each is
    paid exactly once. Those that reached a validator while it stopped were refused, never
    admitted: the host submits them again; a refusal that had been admitted would be paid
    twice below."""
    futures = [
        payer.submit(Transfer(token="EUR", to=payee.public_key, amount=1)) for _ in range(count)
    ]
    interrupt()
    receipts = [f.result(60) for f in futures]
    refused = [r for r in receipts if not r.accepted]
    assert {r.result.code for r in refused} <= {Code.OVERLOADED}
    again = [payer.submit(Transfer(token="EUR", to=payee.public_key, amount=1)) for _ in refused]
    assert all(f.result(60).accepted for f in again)
    assert wait_for(lambda: host.balance(payee.public_key, "EUR") == count, 30)
    assert host.balance(payer.public_key, "EUR") == 10_000 - count  # each paid exactly once


def test_submissions_stranded_by_a_dying_validator_resolve_after_its_restart(
    cluster: ClusterFiles, nodes: list[NetworkedConsortium]
) -> None:
    host = _host(cluster)
    try:
        assert wait_for(lambda: answers(host), 30)
        payer, payee = _payer_and_payee(host, cluster)

        def restart_validator_0() -> None:
            nodes[0].stop()
            nodes[0] = _node(cluster, 0)

        pay_each_once_across(host, payer, payee, 200, restart_validator_0)
    finally:
        host.stop()


def test_a_submission_past_its_deadline_fails_and_frees_its_place(
    cluster: ClusterFiles, nodes: list[NetworkedConsortium]
) -> None:
    host = _host(cluster)
    impatient = _host(cluster, deadline_s=1.0)
    try:
        assert wait_for(lambda: answers(host) and answers(impatient), 30)
        payer, payee = _payer_and_payee(host, cluster)
        hurried = impatient.participant(payer.identity)
        nodes[0].stop()
        futures = [
            hurried.submit(Transfer(token="EUR", to=payee.public_key, amount=1)) for _ in range(5)
        ]
        for future in futures:  # the sweeper fails them though the host submits nothing more
            with pytest.raises(SubmissionExpired) as expired:
                future.result(10)
            assert expired.value.envelope
        assert not impatient._pending
    finally:
        impatient.stop()
        host.stop()
