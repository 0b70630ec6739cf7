"""One test suite for the host contract (``consortium/contract.py``), run against every facade.

As the eventsourcing library runs one recorder suite against every backend, each test here
runs against the embedded ``Consortium`` (four validators in this process) and against
``RemoteConsortium`` (a host connected over CurveZMQ to one of four ``NetworkedConsortium``
validators). Both consortia are made once per module from one ``write_cluster`` genesis; each
test enrols fresh users, so tests do not see each other's balances.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from consortium.api import Consortium
from consortium.body_check import InvalidBody
from consortium.config import ConsortiumConfig
from consortium.contract import ConsortiumFacade, ParticipantFacade
from consortium.events.envelope import decode_envelope, event_id
from consortium.events.errors import ConsortiumStopped, RejectedByRule
from consortium.events.identity import Identity
from consortium.events.payments import IssueTokens, RegisterParticipant, Transfer
from consortium.events.results import Code
from consortium.key_file import read_secret_key
from consortium.local_cluster import ClusterFiles, wait_for, write_cluster
from consortium.network_node import NetworkedConsortium
from consortium.node_config import NodeConfig, load_config
from consortium.remote import RemoteConsortium
from consortium.subscriptions import BlockNotice
from tests.network_fixtures import FAST_LEDGER, answers

TOKEN = "EUR"
FACADES = ["embedded", "remote"]


@pytest.fixture(autouse=True)
def stop_all_actors() -> Iterator[None]:
    """The consortia here live for the module; they are stopped by their own fixtures."""
    yield


@dataclass
class Setup:
    facade: ConsortiumFacade
    admin: ParticipantFacade
    cluster: ClusterFiles
    made: int = 0

    def users(self, count: int, amount: int = 1_000) -> list[ParticipantFacade]:
        """Fresh users, enrolled and funded with ``amount`` of TOKEN."""
        people = []
        for _ in range(count):
            self.made += 1
            person = Identity.generate(f"contract-user-{self.made}")
            enrol = RegisterParticipant(
                participant=person.public_key, name=person.name, role="user"
            )
            assert self.admin.submit(enrol).result(30).accepted
            fund = IssueTokens(token=TOKEN, to=person.public_key, amount=amount)
            assert self.admin.submit(fund).result(30).accepted
            people.append(self.facade.participant(person))
        return people


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> ClusterFiles:
    return write_cluster(
        tmp_path_factory.mktemp("contract"),
        4,
        participants={"admin": "org_admin"},
        tokens=((TOKEN, "org-0"),),
        ledger=FAST_LEDGER,
    )


def _validator_keys(cluster: ClusterFiles) -> list[Identity]:
    return [read_secret_key(cluster.validator_key(i)) for i in range(4)]


def _embedded(cluster: ClusterFiles, directory: Path) -> Consortium:
    config = ConsortiumConfig(**FAST_LEDGER)  # type: ignore[arg-type]
    return Consortium(cluster.genesis, directory, _validator_keys(cluster), config)


def _remote(cluster: ClusterFiles, validator: int = 0) -> RemoteConsortium:
    host = read_secret_key(cluster.directory / "keys" / "host.key")
    return RemoteConsortium(
        cluster.genesis, host, validator, cluster.addresses[validator], query_timeout_s=10
    )


@pytest.fixture(scope="module")
def embedded(
    cluster: ClusterFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Consortium]:
    consortium = _embedded(cluster, tmp_path_factory.mktemp("embedded"))
    yield consortium
    consortium.stop()


@pytest.fixture(scope="module")
def nodes(cluster: ClusterFiles) -> Iterator[list[NetworkedConsortium]]:
    started: list[NetworkedConsortium] = []
    try:
        for i in range(4):
            config = load_config(cluster.node_config(i))
            assert isinstance(config, NodeConfig)
            started.append(NetworkedConsortium(config))
        yield started
    finally:
        for node in started:
            node.stop()


@pytest.fixture(scope="module")
def remote(cluster: ClusterFiles, nodes: list[NetworkedConsortium]) -> Iterator[RemoteConsortium]:
    host = _remote(cluster)
    assert wait_for(lambda: answers(host), 30), "the remote validator never answered"
    yield host
    host.stop()


@pytest.fixture(params=FACADES)
def setup(request: pytest.FixtureRequest, cluster: ClusterFiles) -> Setup:
    facade: ConsortiumFacade = request.getfixturevalue(request.param)
    admin = facade.participant(read_secret_key(cluster.participant_keys["admin"]))
    return Setup(facade, admin, cluster)


# --------------------------------------------------------------------------- submitting


def test_a_transfer_commits_and_every_query_sees_it(setup: Setup) -> None:
    alice, bob = setup.users(2)
    receipt = alice.submit(Transfer(token=TOKEN, to=bob.public_key, amount=250)).result(30)
    assert receipt.accepted and receipt.height is not None and receipt.height > 0
    facade = setup.facade
    assert facade.balance(alice.public_key, TOKEN) == 750
    assert facade.balance(bob.public_key, TOKEN) == 1_250
    assert facade.nonce(alice.public_key) == 1
    owners = {(a.owner, a.token): a.balance for a in facade.accounts()}
    assert owners[(bob.public_key, TOKEN)] == 1_250
    head = facade.head()
    assert head is not None and head.height == facade.height() >= receipt.height
    assert len(facade.state_digest()) == 32
    assert isinstance(facade.orders(), list) and isinstance(facade.settlements(), list)
    assert facade.size == 4
    status = facade.status()
    assert status.height >= receipt.height and status.mempool >= 0
    assert status.last_commit_ms is not None


def test_a_rule_violation_is_a_typed_rejection(setup: Setup) -> None:
    (carol,) = setup.users(1, amount=10)
    receipt = carol.submit(Transfer(token=TOKEN, to=setup.admin.public_key, amount=11)).result(30)
    assert not receipt.accepted
    assert receipt.result.code is Code.INSUFFICIENT_FUNDS
    with pytest.raises(RejectedByRule):
        receipt.raise_if_rejected()


def test_an_unencodable_body_raises_in_the_caller_and_the_handle_survives(setup: Setup) -> None:
    dave, erin = setup.users(2)
    with pytest.raises(InvalidBody, match=r"Transfer\.amount"):
        dave.submit(Transfer(token=TOKEN, to=erin.public_key, amount=2**70))
    with pytest.raises(InvalidBody, match=r"Transfer\.amount"):
        dave.sign(Transfer(token=TOKEN, to=erin.public_key, amount=-(2**64)))
    # The same handle goes on, and no sequence number was spent on the bad body.
    receipt = dave.submit(Transfer(token=TOKEN, to=erin.public_key, amount=1)).result(30)
    assert receipt.accepted
    assert setup.facade.nonce(dave.public_key) == 1


def test_resubmitting_a_committed_envelope_returns_its_outcome(setup: Setup) -> None:
    frank, grace = setup.users(2)
    envelope = frank.sign(Transfer(token=TOKEN, to=grace.public_key, amount=5))
    first = frank.submit_signed(envelope).result(30)
    again = frank.submit_signed(envelope).result(30)
    assert first.accepted and again.event_id == first.event_id == event_id(envelope)
    assert again.height == first.height and again.result == first.result
    assert setup.facade.balance(grace.public_key, TOKEN) == 1_005  # paid once


def test_cosign_adds_a_signature_over_the_same_body(setup: Setup) -> None:
    heidi, ivan = setup.users(2)
    envelope = heidi.sign(Transfer(token=TOKEN, to=ivan.public_key, amount=1))
    both = ivan.cosign(envelope)
    signed = decode_envelope(both)
    assert signed.body == decode_envelope(envelope).body
    assert [s.signer for s in signed.signatures] == [heidi.public_key, ivan.public_key]
    receipt = heidi.submit_with(Transfer(token=TOKEN, to=ivan.public_key, amount=1), ivan)
    assert receipt.result(30).height is not None  # in a block, whatever the rules said


# -------------------------------------------------------------------------- subscriptions


def test_a_subscription_sees_the_block_of_a_transfer(setup: Setup) -> None:
    judy, ken = setup.users(2)
    notices: list[BlockNotice] = []
    subscription = setup.facade.subscribe(notices.append)
    try:
        receipt = judy.submit(Transfer(token=TOKEN, to=ken.public_key, amount=3)).result(30)
        assert wait_for(
            lambda: any(receipt.event_id in {e.event_id for e in n.events} for n in notices), 20
        )
        notice = next(n for n in notices if n.height == receipt.height)
        balances = {a.owner: a.balance for a in notice.changed("accounts").values() if a}
        assert balances[ken.public_key] == 1_003
    finally:
        subscription.close()


def test_an_async_subscription_iterates_committed_blocks(setup: Setup) -> None:
    leo, mia = setup.users(2)

    async def scenario() -> int:
        subscription = setup.facade.subscribe_async()
        try:
            future = leo.submit(Transfer(token=TOKEN, to=mia.public_key, amount=2))
            receipt = await asyncio.wait_for(future, 30)
            async with asyncio.timeout(20):
                async for notice in subscription:
                    if receipt.event_id in {e.event_id for e in notice.events}:
                        return notice.height
        finally:
            subscription.close()
        return -1

    assert asyncio.run(scenario()) > 0


# ------------------------------------------------------------------------------ lifecycle


@pytest.mark.parametrize("kind", FACADES)
def test_after_stop_every_call_raises_consortium_stopped(
    kind: str, cluster: ClusterFiles, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if kind == "embedded":
        facade: ConsortiumFacade = _embedded(cluster, tmp_path)
    else:
        request.getfixturevalue("remote")  # the nodes are up
        facade = _remote(cluster, validator=1)
        assert wait_for(lambda: answers(facade), 30)  # type: ignore[arg-type]
    person = Identity.generate("after-stop")
    handle = facade.participant(person)
    facade.stop()
    facade.stop()  # twice is fine
    calls = [
        lambda: facade.height(),
        lambda: facade.head(),
        lambda: facade.state_digest(),
        lambda: facade.balance(person.public_key, TOKEN),
        lambda: facade.nonce(person.public_key),
        lambda: facade.accounts(),
        lambda: facade.orders(),
        lambda: facade.settlements(),
        lambda: facade.status(),
        lambda: facade.participant(person),
        lambda: facade.subscribe(lambda _: None),
    ]
    for call in calls:
        with pytest.raises(ConsortiumStopped):
            call()
    with pytest.raises(ConsortiumStopped):
        handle.submit(Transfer(token=TOKEN, to=person.public_key, amount=1)).result(10)
