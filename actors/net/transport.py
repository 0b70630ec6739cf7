"""The ``Transport`` of a validator whose peers run in other processes or on other machines.

The same peer-message bytes the in-process router carries go over ZeroMQ: the node binds one
ROUTER socket and keeps a DEALER to each peer. Who sent a message is what the Curve handshake
proved (the ZAP user id), never what the message says; a message whose claimed sender differs is
dropped. Only the genesis validators may connect as validators, and only the listed host keys
as clients.
"""

from __future__ import annotations

import queue
from collections.abc import Iterable, Mapping
from typing import Any, cast

import pykka

from consortium.actors.messages import Inspect
from consortium.actors.net.claims import claim_matches
from consortium.actors.net.curve import raw_curve_public_key
from consortium.actors.net.endpoint import BROADCAST, Endpoint, Incoming, PeerAddress, Target
from consortium.actors.net.protocol import PEER, REQUEST
from consortium.actors.net.service import ClientService
from consortium.actors.transport import PeerDelivery
from consortium.events.codec import encode
from consortium.events.genesis import Genesis
from consortium.events.identity import Identity
from consortium.events.logs import get_logger
from consortium.events.wire import Status
from consortium.ledger.node import LedgerNode

log = get_logger(__name__)

INBOX_LIMIT = 2_000
"""Messages waiting in the validator's inbox beyond which the node stops reading its socket."""
_VALIDATOR = "validator:"
_CLIENT = "client:"


def validator_index(genesis: Genesis, identity: Identity) -> int:
    """This identity's index among the genesis validators; ValueError if it is none of them."""
    try:
        return genesis.validator_keys.index(identity.public_key)
    except ValueError:
        raise ValueError(
            f"key {identity.public_key.hex()[:16]}… is not a validator of chain "
            f"{genesis.chain_id!r}"
        ) from None


class ZmqTransport:
    def __init__(
        self,
        genesis: Genesis,
        identity: Identity,
        listen: str,
        peers: Mapping[int, str],
        client_keys: Iterable[bytes] = (),
        inbox_limit: int = INBOX_LIMIT,
    ) -> None:
        """``peers``: validator index -> address (``tcp://host:port``); ``client_keys``: the
        Ed25519 keys of hosts allowed to submit and query."""
        self.index = validator_index(genesis, identity)
        n = len(genesis.validators)
        unknown = sorted(i for i in peers if not 0 <= i < n)
        if unknown:
            raise ValueError(f"peers {unknown} are not validator indexes 0..{n - 1}")
        self._users = {raw_curve_public_key(k): f"{_CLIENT}{k.hex()[:16]}" for k in client_keys}
        for i, key in enumerate(genesis.validator_keys):
            self._users[raw_curve_public_key(key)] = f"{_VALIDATOR}{i}"
        self._inbox_limit = inbox_limit
        self._ref: pykka.ActorRef[Any] | None = None
        self._impostors: set[int] = set()
        self.service = ClientService(self.index, self._send_frames)
        addresses = {
            i: PeerAddress(address, genesis.validators[i].public_key)
            for i, address in peers.items()
            if i != self.index
        }
        try:
            self._endpoint = Endpoint(
                f"validator-{self.index}",
                identity,
                self._on_receive,
                listen=listen,
                authorise=self._users.get,
                peers=addresses,
                on_handshake=self._greet,
                may_receive=self._may_receive,
            )
        except BaseException:
            self.service.close()
            raise

    @property
    def address(self) -> str | None:
        """Where this node listens (a ``*`` port resolved)."""
        return self._endpoint.address

    # -------------------------------------------------------- Transport

    def attach(self, index: int, ref: pykka.ActorRef[Any]) -> None:
        if index != self.index:
            raise ValueError(f"this transport carries validator {self.index}, not {index}")
        self._ref = ref
        self.service.attach(ref)

    def detach(self, index: int) -> None:
        if index == self.index:
            self._ref = None
            self.service.detach()

    def send(self, sender: int, recipient: int, payload: bytes) -> None:
        self._endpoint.send(recipient, [PEER, payload])

    def broadcast(self, sender: int, payload: bytes) -> None:
        self._endpoint.send(BROADCAST, [PEER, payload])

    def close(self) -> None:
        """Stop serving and close the sockets; call after the validator has stopped."""
        self.service.close()
        self._endpoint.close()

    # --------------------------------------------------- network thread

    def _send_frames(self, target: Target, frames: list[bytes]) -> bool:
        return self._endpoint.send(target, frames)

    def _may_receive(self) -> bool:
        """Read the socket only while the validator keeps up: a full inbox pushes back on the
        senders through ZeroMQ's high-water marks instead of growing this process's memory."""
        ref = self._ref
        if ref is None:
            return True
        inbox = cast("queue.Queue[Any]", ref.actor_inbox)  # a ThreadingActor's inbox
        return inbox.qsize() < self._inbox_limit

    def _on_receive(self, incoming: Incoming) -> None:
        if incoming.route is None or len(incoming.frames) != 2:
            return  # peers never answer on our DEALERs; anything else is junk
        kind, payload = incoming.frames
        if kind == PEER and incoming.user.startswith(_VALIDATOR):
            self._deliver(int(incoming.user.removeprefix(_VALIDATOR)), payload)
        elif kind == REQUEST and incoming.user.startswith(_CLIENT):
            self.service.handle(incoming.route, payload)
        else:
            log.info("validator %d: dropped a %r frame from %s", self.index, kind, incoming.user)

    def _deliver(self, sender: int, payload: bytes) -> None:
        if not claim_matches(sender, payload):
            if sender not in self._impostors:
                self._impostors.add(sender)
                log.warning(
                    "validator %d: validator %d sent a message claiming another sender; "
                    "dropping such messages",
                    self.index,
                    sender,
                )
            return
        ref = self._ref
        if ref is not None:
            try:
                ref.tell(PeerDelivery(sender, payload))
            except pykka.ActorDeadError:
                self._ref = None

    def _greet(self, peer: int, connected: bool) -> None:
        """On every (re)connection tell the peer our height: either of us may be behind and
        catch up, even when no block is being decided."""
        ref = self._ref
        if ref is None or not connected:
            return

        def tell_status(node: LedgerNode) -> None:
            self.send(self.index, peer, encode(Status(self.index, node.log.head_height + 1)))

        try:
            ref.tell(Inspect(tell_status))
        except pykka.ActorDeadError:
            self._ref = None
