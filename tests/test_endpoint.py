"""The network thread's outbox: a burst of sends wakes it once, and nothing queued is lost."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from consortium.actors.net import endpoint as endpoint_module
from consortium.actors.net.curve import raw_curve_public_key
from consortium.actors.net.endpoint import Endpoint, Incoming, PeerAddress
from consortium.events.identity import Identity
from consortium.local_cluster import wait_for

BURST = 2_000


@contextmanager
def connected(
    on_server: Callable[[Endpoint, Incoming], None],
    on_client: Callable[[Incoming], None],
    socket_hwm: int,
) -> Iterator[tuple[Endpoint, Endpoint]]:
    """A listening endpoint named "server" (its handler is also given the server) and a client
    connected to it as peer 0, both closed on leaving."""
    server_key, client_key = Identity.generate("server"), Identity.generate("client")
    users = {raw_curve_public_key(client_key.public_key): "client"}
    holder: list[Endpoint] = []
    server = Endpoint(
        "server",
        server_key,
        lambda incoming: on_server(holder[0], incoming),
        listen="tcp://127.0.0.1:*",
        authorise=users.get,
        socket_hwm=socket_hwm,
    )
    holder.append(server)
    try:
        assert server.address is not None
        client = Endpoint(
            "client",
            client_key,
            on_client,
            peers={0: PeerAddress(server.address, server_key.public_key)},
            immediate=False,
            socket_hwm=socket_hwm,
        )
        try:
            yield server, client
        finally:
            client.close()
    finally:
        server.close()


def test_a_burst_of_sends_wakes_the_network_thread_once_and_every_message_arrives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The listener answers one request with ``BURST`` replies from its own network thread,
    which cannot empty the outbox until the callback returns: one wake-up byte for the whole
    burst (one per send before the change), and all of the replies reach the client, in order."""
    wakes: list[str] = []
    original_wake = Endpoint._wake

    def counted_wake(self: Endpoint) -> None:
        wakes.append(self.name)
        original_wake(self)

    monkeypatch.setattr(Endpoint, "_wake", counted_wake)
    burst_wakes: list[int] = []
    received: list[bytes] = []
    lock = threading.Lock()

    def answer(server: Endpoint, incoming: Incoming) -> None:
        assert incoming.route is not None
        before = wakes.count("server")
        for i in range(BURST):
            server.send(incoming.route, [i.to_bytes(4, "big")])
        burst_wakes.append(wakes.count("server") - before)

    def collect(incoming: Incoming) -> None:
        with lock:
            received.extend(incoming.frames)

    with connected(answer, collect, 4 * BURST) as (_, client):
        assert client.send(0, [b"go"])
        assert wait_for(lambda: len(received) >= BURST, 30), f"{len(received)} arrived"
    assert burst_wakes == [1]
    assert received == [i.to_bytes(4, "big") for i in range(BURST)]


def test_sends_from_many_threads_all_arrive(monkeypatch: pytest.MonkeyPatch) -> None:
    """Four threads sending flat out while the network thread empties the outbox, its loop
    turning often: every message arrives, none is left waiting for a wake-up."""
    got: list[bytes] = []
    lock = threading.Lock()

    def collect(_: Endpoint, incoming: Incoming) -> None:
        with lock:
            got.extend(incoming.frames)

    monkeypatch.setattr(endpoint_module, "RECEIVE_BATCH", 16)  # more turns of the loop
    threads_n, per_thread = 4, 2_500
    with connected(collect, lambda _: None, 50_000) as (_, client):

        def send_all(thread: int) -> None:
            for i in range(per_thread):
                assert client.send(0, [b"%d:%d" % (thread, i)])

        senders = [threading.Thread(target=send_all, args=(t,)) for t in range(threads_n)]
        for t in senders:
            t.start()
        for t in senders:
            t.join()
        assert wait_for(lambda: len(got) >= threads_n * per_thread, 30), f"{len(got)}"
    expected = [b"%d:%d" % (t, i) for t in range(threads_n) for i in range(per_thread)]
    assert sorted(got) == sorted(expected)
