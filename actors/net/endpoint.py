"""One I/O thread that owns every ZeroMQ socket of a node or of a remote client.

ZeroMQ sockets are not thread-safe, so exactly one thread touches them: it binds the node's one
ROUTER socket (peers and clients connect to it), keeps one DEALER per peer it talks to (ZeroMQ
reconnects them by itself), answers ZAP requests, and sends what other threads left in a bounded
outbox, woken through a socket pair (once per batch: a sender writes the wake-up byte only when
none is pending, so a burst of sends costs one system call and one thread switch, not one
each). Every queue is bounded: the outbox by count, each socket by
its high-water mark (a full one drops: consensus re-sends on its timeouts), and inbound reading
pauses while ``may_receive()`` is false, so a slow validator pushes back on its senders instead
of growing memory.

Every message is two frames, a kind and a body. The messages the outbox holds for one socket when
the thread empties it leave as one ZeroMQ message, in the order they were queued: the kind
``BATCH`` and a body that is the msgpack array of their (kind, body) pairs, at most
``BATCH_MESSAGES`` of them and about ``BATCH_BYTES``; a message queued alone leaves as itself.
A ZeroMQ message costs both ends a poll, Curve's box, a wake-up and, in pyzmq, a Python call per
frame, whatever its size: on this machine a 150-byte message cost about 100 µs of CPU from send
to delivery, and so did a 7,500-byte one. A validator's receipts for one block, or a host's
burst of submissions, thus cost one message rather than one each. The receiver splits a batch
and hands each message on alone, as if it had come by itself; a batch that does not decode as
such (or holds more than ``BATCH_MESSAGES``) is dropped whole.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated

import msgspec
import zmq
from zmq.utils.monitor import recv_monitor_message

from consortium.actors.net.curve import curve_public_key, curve_secret_key
from consortium.actors.net.zap import ZAP_ENDPOINT, Authorise, zap_reply
from consortium.events.codec import encode
from consortium.events.errors import ConsortiumError
from consortium.events.identity import Identity
from consortium.events.logs import get_logger
from consortium.events.wire import MAX_PEER_MESSAGE_BYTES

log = get_logger(__name__)

BROADCAST = -1
"""Send target: every peer this endpoint connects to."""
Target = int | bytes
"""A peer index (its DEALER) or a routing id on this endpoint's ROUTER (a connected client)."""

OUTBOX_LIMIT = 50_000
SOCKET_HWM = 2_000
THROTTLE_POLL_MS = 5
RECEIVE_BATCH = 256
BATCH = b"B"
"""The kind of a message that carries several (see the module's docstring)."""
BATCH_MESSAGES = 256
"""Messages at most in one batch, sent or accepted."""
BATCH_BYTES = 1 << 20
"""Bodies' bytes after which a batch being gathered is sent; a body this large goes alone, so a
batch stays far below the frame limit (``MAX_PEER_MESSAGE_BYTES``)."""
_BATCH_DECODER = msgspec.msgpack.Decoder(
    Annotated[list[tuple[bytes, bytes]], msgspec.Meta(max_length=BATCH_MESSAGES)]
)
_HANDSHAKE_EVENTS = (
    zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
)
_MAX_REMEMBERED_REFUSALS = 1024


class NetworkError(ConsortiumError):
    """A socket that cannot listen or connect where the configuration says."""


@dataclass(frozen=True, slots=True)
class PeerAddress:
    """Where a peer listens, and the Ed25519 key it must prove by the Curve handshake."""

    address: str
    public_key: bytes


@dataclass(frozen=True, slots=True)
class Incoming:
    """A message received. ``user`` is the ZAP user id of the connection (ROUTER) and ``route``
    the routing id to answer it; a reply on one of our DEALERs has ``peer`` set instead."""

    frames: list[bytes]
    user: str = ""
    route: bytes | None = None
    peer: int | None = None


class Endpoint:
    def __init__(
        self,
        name: str,
        identity: Identity,
        on_receive: Callable[[Incoming], None],
        *,
        listen: str | None = None,
        authorise: Authorise | None = None,
        peers: Mapping[int, PeerAddress] | None = None,
        on_handshake: Callable[[int, bool], None] = lambda peer, ok: None,
        may_receive: Callable[[], bool] = lambda: True,
        immediate: bool = True,
        outbox_limit: int = OUTBOX_LIMIT,
        socket_hwm: int = SOCKET_HWM,
    ) -> None:
        """``immediate``: drop messages to a peer that is not connected (validators: old
        consensus messages are worthless later) rather than queue them (clients: a request
        made while connecting waits, up to the high-water mark). ``on_handshake(peer, ok)`` is
        called on the network thread after each Curve handshake with a peer we connect to:
        ``ok`` is False when the peer refused our key or proved another key than expected."""
        self.name = name
        self.address: str | None = None
        """The address the ROUTER is bound to (a ``*`` port resolved), if it listens."""
        self._on_receive = on_receive
        self._on_handshake = on_handshake
        self._socket_hwm = socket_hwm
        self._refusing_us: set[int] = set()
        self._may_receive = may_receive
        self._outbox: queue.Queue[tuple[Target, list[bytes]]] = queue.Queue(outbox_limit)
        self._stopping = False
        self._dropped = 0
        self._refused: set[bytes] = set()
        self._authorise = authorise
        self._context = zmq.Context()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._wake_pending = False
        """Set by a sender that wrote the wake-up byte, cleared by the I/O thread before it
        empties the outbox: anything queued while it is set is sent by that emptying."""
        self._zap: zmq.Socket[bytes] | None = None
        self._router: zmq.Socket[bytes] | None = None
        self._dealers: dict[int, zmq.Socket[bytes]] = {}
        self._monitors: dict[zmq.Socket[bytes], int] = {}
        secret = curve_secret_key(identity)
        public = curve_public_key(identity.public_key)
        try:
            if listen is not None:
                self._bind(listen, secret, authorise)
            for index, peer in (peers or {}).items():
                self._connect(index, peer, secret, public, immediate)
        except BaseException:
            self._close_sockets()
            raise
        self._thread = threading.Thread(target=self._run, name=f"consortium-net-{name}")
        self._thread.daemon = True
        self._thread.start()

    # ----------------------------------------------------------- any thread

    def send(self, target: Target, frames: list[bytes]) -> bool:
        """Queue ``frames`` (a kind and a body) for ``target``; False (and dropped) when closed
        or the outbox is full. Never blocks."""
        if len(frames) != 2:
            raise ValueError(f"a message is a kind and a body, not {len(frames)} frames")
        if self._stopping:
            return False
        try:
            self._outbox.put_nowait((target, frames))
        except queue.Full:
            self._count_drop("outbox full")
            return False
        if not self._wake_pending:
            self._wake_pending = True
            self._wake()
        return True

    def close(self) -> None:
        """Stop the thread and close every socket at once (no linger); safe to call twice."""
        if self._stopping:
            return
        self._stopping = True
        self._wake()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=10)

    # ---------------------------------------------------------------- set-up

    def _bind(self, listen: str, secret: bytes, authorise: Authorise | None) -> None:
        if authorise is None:
            raise ValueError("a listening endpoint needs an authorise function")
        # The ZAP handler must exist before the first connection, or Curve admits anyone.
        self._zap = self._context.socket(zmq.REP)
        self._zap.linger = 0
        self._zap.bind(ZAP_ENDPOINT)
        router = self._context.socket(zmq.ROUTER)
        self._router = router
        self._common_options(router)
        router.curve_server = True
        router.curve_secretkey = secret
        router.zap_domain = b"consortium"
        router.router_handover = 1
        try:
            router.bind(listen)
        except zmq.ZMQError as exc:
            raise NetworkError(
                f"cannot listen on {listen}: {exc.strerror}; write it as tcp://HOST:PORT with a "
                "port no other program (or node) uses, or stop the program that holds it"
            ) from None
        self.address = router.getsockopt_string(zmq.LAST_ENDPOINT)

    def _connect(
        self, index: int, peer: PeerAddress, secret: bytes, public: bytes, immediate: bool
    ) -> None:
        dealer = self._context.socket(zmq.DEALER)
        self._common_options(dealer)
        dealer.curve_serverkey = curve_public_key(peer.public_key)
        dealer.curve_publickey = public
        dealer.curve_secretkey = secret
        dealer.immediate = 1 if immediate else 0
        dealer.reconnect_ivl = 100
        dealer.reconnect_ivl_max = 2_000
        dealer.routing_id = os.urandom(16)  # kept across reconnects: replies still find us
        self._monitors[dealer.get_monitor_socket(_HANDSHAKE_EVENTS)] = index
        try:
            dealer.connect(peer.address)
        except zmq.ZMQError as exc:
            raise NetworkError(
                f"cannot connect to peer {index} at {peer.address}: {exc.strerror}; write peer "
                "addresses as tcp://HOST:PORT"
            ) from None
        self._dealers[index] = dealer

    def _common_options(self, sock: zmq.Socket[bytes]) -> None:
        sock.linger = 0
        sock.sndhwm = self._socket_hwm
        sock.rcvhwm = self._socket_hwm
        sock.maxmsgsize = MAX_PEER_MESSAGE_BYTES
        sock.heartbeat_ivl = 2_000  # notice a peer that vanished without closing its connection
        sock.heartbeat_timeout = 6_000

    # ------------------------------------------------------------ I/O thread

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._wake_r, zmq.POLLIN)
        for sock in [self._zap, *self._dealers.values(), *self._monitors]:
            if sock is not None:
                poller.register(sock, zmq.POLLIN)
        reading = False
        try:
            while not self._stopping:
                wanted = self._router is not None and self._may_receive()
                if wanted != reading:
                    if wanted:
                        poller.register(self._router, zmq.POLLIN)
                    else:
                        poller.unregister(self._router)
                    reading = wanted
                throttled = self._router is not None and not reading
                ready = dict(poller.poll(THROTTLE_POLL_MS if throttled else None))
                self._serve(ready)
        except Exception:
            log.exception("%s: network thread failed", self.name)
        finally:
            self._close_sockets()

    def _serve(self, ready: dict[object, int]) -> None:
        if self._wake_r.fileno() in ready or self._wake_r in ready:
            self._drain_wake()
        # Cleared before the outbox is emptied, never after: a message queued once it is clear
        # wakes this thread again, and one queued before is in the outbox this emptying reads.
        self._wake_pending = False
        self._flush_outbox()
        if self._zap is not None and self._zap in ready:
            self._answer_zap(self._zap)
        if self._router is not None and self._router in ready:
            self._receive_router(self._router)
        for index, dealer in self._dealers.items():
            if dealer in ready:
                self._receive_dealer(index, dealer)
        for monitor, index in self._monitors.items():
            if monitor in ready:
                self._watch(monitor, index)

    def _receive_router(self, router: zmq.Socket[bytes]) -> None:
        for _ in range(RECEIVE_BATCH):
            try:
                parts = router.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            user = str(parts[-1].get("User-Id"))
            route = parts[0].bytes
            for frames in self._unbatched([p.bytes for p in parts[1:]]):
                self._deliver(Incoming(frames, user, route))
            if not self._may_receive():
                return

    def _receive_dealer(self, index: int, dealer: zmq.Socket[bytes]) -> None:
        for _ in range(RECEIVE_BATCH):
            try:
                frames = dealer.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            for one in self._unbatched(frames):
                self._deliver(Incoming(one, peer=index))

    def _unbatched(self, frames: list[bytes]) -> list[list[bytes]]:
        """The messages a received ZeroMQ message carries: itself, or a batch's contents."""
        if len(frames) != 2 or frames[0] != BATCH:
            return [frames]  # the receiver judges it, as any message that came alone
        try:
            pairs = _BATCH_DECODER.decode(frames[1])
        except msgspec.DecodeError:
            self._count_drop("a received batch did not decode")
            return []
        return [[kind, body] for kind, body in pairs]

    def _deliver(self, incoming: Incoming) -> None:
        try:
            self._on_receive(incoming)
        except Exception:
            log.exception("%s: handling a received message failed", self.name)

    def _answer_zap(self, zap: zmq.Socket[bytes]) -> None:
        request = zap.recv_multipart()
        assert self._authorise is not None
        reply, user = zap_reply(request, self._authorise)
        zap.send_multipart(reply)
        if user is None:
            key = request[6] if len(request) > 6 else b""
            if key not in self._refused and len(self._refused) < _MAX_REMEMBERED_REFUSALS:
                self._refused.add(key)
                log.warning("%s: refused a connection from Curve key %s", self.name, key.hex())

    def _watch(self, monitor: zmq.Socket[bytes], index: int) -> None:
        event = recv_monitor_message(monitor)["event"]
        ok = event == zmq.EVENT_HANDSHAKE_SUCCEEDED
        if ok:
            self._refusing_us.discard(index)
            log.info("%s: connected to peer %d", self.name, index)
        elif index not in self._refusing_us:  # ZeroMQ retries; say it once, not every retry
            self._refusing_us.add(index)
            log.warning(
                "%s: the Curve handshake with peer %d failed (%s): it refuses our key, or its "
                "key is not the one the genesis names; check both nodes' genesis and key files",
                self.name,
                index,
                zmq.Event(event).name,
            )
        try:
            self._on_handshake(index, ok)
        except Exception:
            log.exception("%s: on_handshake failed", self.name)

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # a wake-up is already pending, or we are closing

    def _flush_outbox(self) -> None:
        """Send what the outbox holds, batched per socket in the order it was queued."""
        gathered: dict[Target, list[tuple[bytes, bytes]]] = {}
        sizes: dict[Target, int] = {}

        def release(one: Target) -> None:
            self._send_batch(one, gathered.pop(one))
            del sizes[one]

        while True:
            try:
                target, (kind, body) = self._outbox.get_nowait()
            except queue.Empty:
                break
            for one in self._dealers if target == BROADCAST else (target,):
                if len(body) >= BATCH_BYTES:
                    if one in gathered:  # keep the order: what came first leaves first
                        release(one)
                    self._send_batch(one, [(kind, body)])
                    continue
                gathered.setdefault(one, []).append((kind, body))
                sizes[one] = sizes.get(one, 0) + len(body)
                if len(gathered[one]) >= BATCH_MESSAGES or sizes[one] >= BATCH_BYTES:
                    release(one)
        for one, batch in gathered.items():
            self._send_batch(one, batch)

    def _send_batch(self, target: Target, batch: list[tuple[bytes, bytes]]) -> None:
        frames = list(batch[0]) if len(batch) == 1 else [BATCH, encode(batch)]
        if isinstance(target, bytes):
            if self._router is not None:
                self._send(self._router, [target, *frames], len(batch))
        elif target in self._dealers:
            self._send(self._dealers[target], frames, len(batch))

    def _send(self, sock: zmq.Socket[bytes], frames: list[bytes], messages: int) -> None:
        try:
            sock.send_multipart(frames, zmq.NOBLOCK)
        except zmq.Again:
            self._count_drop("peer not connected or too slow", messages)

    def _count_drop(self, why: str, messages: int = 1) -> None:
        before, self._dropped = self._dropped, self._dropped + messages
        if before // 1000 != self._dropped // 1000 or before == 0:
            log.info("%s: dropped %d messages so far (%s)", self.name, self._dropped, why)

    def _close_sockets(self) -> None:
        for dealer in self._dealers.values():
            dealer.disable_monitor()
        for sock in [*self._monitors, *self._dealers.values(), self._router, self._zap]:
            if sock is not None:
                sock.close(linger=0)
        self._context.term()
        self._wake_r.close()
        self._wake_w.close()
