"""The network thread's outbox: a burst of sends wakes it once, and nothing queued is lost."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import msgspec
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
            server.send(incoming.route, [b"R", i.to_bytes(4, "big")])
        burst_wakes.append(wakes.count("server") - before)

    def collect(incoming: Incoming) -> None:
        with lock:
            received.append(incoming.frames[1])

    with connected(answer, collect, 4 * BURST) as (_, client):
        assert client.send(0, [b"Q", b"go"])
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
            got.append(incoming.frames[1])

    monkeypatch.setattr(endpoint_module, "RECEIVE_BATCH", 16)  # more turns of the loop
    threads_n, per_thread = 4, 2_500
    with connected(collect, lambda _: None, 50_000) as (_, client):

        def send_all(thread: int) -> None:
            for i in range(per_thread):
                assert client.send(0, [b"Q", b"%d:%d" % (thread, i)])

        senders = [threading.Thread(target=send_all, args=(t,)) for t in range(threads_n)]
        for t in senders:
            t.start()
        for t in senders:
            t.join()
        assert wait_for(lambda: len(got) >= threads_n * per_thread, 30), f"{len(got)}"
    expected = [b"%d:%d" % (t, i) for t in range(threads_n) for i in range(per_thread)]
    assert sorted(got) == sorted(expected)


def _counting_zmq_messages(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many messages each ZeroMQ message received by any endpoint carried, in order."""
    carried: list[int] = []
    original = Endpoint._unbatched

    def counted(self: Endpoint, frames: list[bytes]) -> list[list[bytes]]:
        messages = original(self, frames)
        carried.append(len(messages))
        return messages

    monkeypatch.setattr(Endpoint, "_unbatched", counted)
    return carried


def test_a_burst_to_one_peer_travels_in_few_zeromq_messages_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The burst of replies queued while the network thread is busy leaves in batches of at most
    ``BATCH_MESSAGES`` (one ZeroMQ message per reply before batching), and each reply is handed
    on alone, in the order sent."""
    carried = _counting_zmq_messages(monkeypatch)
    received: list[bytes] = []

    def answer(server: Endpoint, incoming: Incoming) -> None:
        assert incoming.route is not None
        for i in range(BURST):
            server.send(incoming.route, [b"R", i.to_bytes(4, "big")])

    def collect(incoming: Incoming) -> None:
        assert incoming.frames[0] == b"R" and len(incoming.frames) == 2
        received.append(incoming.frames[1])

    with connected(answer, collect, 4 * BURST) as (_, client):
        assert client.send(0, [b"Q", b"go"])
        assert wait_for(lambda: len(received) >= BURST, 30), f"{len(received)} arrived"
    assert received == [i.to_bytes(4, "big") for i in range(BURST)]
    replies = carried[1:]  # the first is the request the server received
    assert sum(replies) == BURST
    assert max(replies) == endpoint_module.BATCH_MESSAGES
    assert len(replies) == -(-BURST // endpoint_module.BATCH_MESSAGES)


def test_a_body_of_batch_size_goes_alone_and_keeps_its_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A body of ``BATCH_BYTES`` or more is never put in a batch (a batch stays below the frame
    limit), and the messages queued before and after it still arrive in order."""
    monkeypatch.setattr(endpoint_module, "BATCH_BYTES", 1_000)
    carried = _counting_zmq_messages(monkeypatch)
    bodies = [b"a", b"b", b"x" * 1_000, b"c", b"d"]
    received: list[bytes] = []

    def answer(server: Endpoint, incoming: Incoming) -> None:
        assert incoming.route is not None
        for body in bodies:
            server.send(incoming.route, [b"R", body])

    with connected(answer, lambda incoming: received.append(incoming.frames[1]), 100) as (
        _,
        client,
    ):
        assert client.send(0, [b"Q", b"go"])
        assert wait_for(lambda: len(received) >= len(bodies), 30)
    assert received == bodies
    assert carried[1:] == [2, 1, 2]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\xc1",  # never used in msgpack
        msgspec.msgpack.encode([[b"Q", b"x"]] * (endpoint_module.BATCH_MESSAGES + 1)),
        msgspec.msgpack.encode([[b"Q"]]),
        msgspec.msgpack.encode([[b"Q", b"x", b"y"]]),
        msgspec.msgpack.encode([["Q", "x"]]),
        msgspec.msgpack.encode({"Q": b"x"}),
        b"\x91" * 100_000 + b"\xc0",  # arrays nested 100,000 deep
        b"\xdd\xff\xff\xff\xff",  # claims 2^32 - 1 entries, holds none
    ],
    ids=[
        "empty",
        "reserved",
        "too-many",
        "one-frame",
        "three-frames",
        "strings",
        "map",
        "deep",
        "huge-count",
    ],
)
def test_a_malformed_batch_is_dropped_whole_and_the_endpoint_goes_on(body: bytes) -> None:
    """A peer's batch that is not an array of at most ``BATCH_MESSAGES`` (kind, body) pairs of
    bytes delivers nothing, and the next message from that peer arrives as usual."""
    received: list[list[bytes]] = []

    def collect(_: Endpoint, incoming: Incoming) -> None:
        received.append(incoming.frames)

    with connected(collect, lambda _: None, 100) as (server, client):
        assert client.send(0, [endpoint_module.BATCH, body])
        assert wait_for(lambda: server._dropped == 1, 30)
        assert client.send(0, [b"Q", b"after"])
        assert wait_for(lambda: bool(received), 30)
    assert received == [[b"Q", b"after"]]
    assert server._dropped == 1


def test_a_batch_inside_a_batch_is_handed_on_as_a_message_for_the_receiver_to_judge() -> None:
    """Batches do not nest: the inner one reaches the handler as a message of kind ``BATCH``,
    which no handler accepts, instead of being unpacked (no recursion on a peer's say)."""
    inner = msgspec.msgpack.encode([[b"Q", b"x"], [b"Q", b"y"]])
    received: list[list[bytes]] = []

    def collect(_: Endpoint, incoming: Incoming) -> None:
        received.append(incoming.frames)

    with connected(collect, lambda _: None, 100) as (_, client):
        outer = msgspec.msgpack.encode([[endpoint_module.BATCH, inner], [b"Q", b"z"]])
        assert client.send(0, [endpoint_module.BATCH, outer])
        assert wait_for(lambda: len(received) >= 2, 30)
    assert received == [[endpoint_module.BATCH, inner], [b"Q", b"z"]]


@pytest.mark.parametrize("frames", [[], [b"Q"], [b"Q", b"x", b"y"]])
def test_sending_anything_but_a_kind_and_a_body_is_refused(frames: list[bytes]) -> None:
    with connected(lambda *_: None, lambda _: None, 100) as (_, client):
        with pytest.raises(ValueError, match="a kind and a body"):
            client.send(0, frames)
