"""How validators reach each other: a pluggable transport, and the in-process router.

The router carries the same encoded bytes a network transport would, so the in-process mode tests
the real wire format. Tests may install a ``link_filter`` to cut links (partitions, a dead node).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pykka


@dataclass(frozen=True, slots=True)
class PeerDelivery:
    """A message from validator ``sender``; delivered to a validator actor."""

    sender: int
    payload: bytes


class Transport(Protocol):
    def attach(self, index: int, ref: pykka.ActorRef[Any]) -> None:
        """Deliver messages for validator ``index`` to this actor from now on."""

    def detach(self, index: int) -> None: ...

    def send(self, sender: int, recipient: int, payload: bytes) -> None: ...

    def broadcast(self, sender: int, payload: bytes) -> None: ...


LinkFilter = Callable[[int, int, bytes], bool]


class InProcessRouter:
    """Delivers between validator actors of one process by ``tell``; never blocks the sender."""

    def __init__(self) -> None:
        self._refs: dict[int, pykka.ActorRef[pykka.Actor]] = {}
        self._lock = threading.Lock()
        self.link_filter: LinkFilter = lambda sender, recipient, payload: True

    def attach(self, index: int, ref: pykka.ActorRef[pykka.Actor]) -> None:
        with self._lock:
            self._refs[index] = ref

    def detach(self, index: int) -> None:
        with self._lock:
            self._refs.pop(index, None)

    def send(self, sender: int, recipient: int, payload: bytes) -> None:
        ref = self._refs.get(recipient)
        if ref is None or not self.link_filter(sender, recipient, payload):
            return
        try:
            ref.tell(PeerDelivery(sender, payload))
        except pykka.ActorDeadError:
            self._forget_dead(recipient, ref)

    def _forget_dead(self, index: int, dead: pykka.ActorRef[pykka.Actor]) -> None:
        """Detach ``dead`` unless ``index`` has been attached anew since it was looked up: a
        validator restarted meanwhile would otherwise be cut off from every peer, silently."""
        with self._lock:
            if self._refs.get(index) is dead:
                del self._refs[index]

    def broadcast(self, sender: int, payload: bytes) -> None:
        for recipient in list(self._refs):
            if recipient != sender:
                self.send(sender, recipient, payload)
