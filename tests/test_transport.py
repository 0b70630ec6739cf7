"""The in-process router between validator actors."""

from __future__ import annotations

from typing import Any

import pykka

from consortium.actors.transport import InProcessRouter, PeerDelivery


class _Inbox(pykka.ThreadingActor):
    def __init__(self) -> None:
        super().__init__()
        self.received: list[PeerDelivery] = []

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, PeerDelivery):
            self.received.append(message)
        return len(self.received)


def test_a_send_to_a_dead_incarnation_keeps_the_restarted_one_attached() -> None:
    """The sender looked up the old incarnation just before it stopped and the new one attached:
    the failed delivery must not detach the new one, or it would never hear from a peer again."""
    router = InProcessRouter()
    old = _Inbox.start()
    router.attach(3, old)
    old.stop()
    new = _Inbox.start()
    try:

        def restart_between_lookup_and_delivery(sender: int, recipient: int, _: bytes) -> bool:
            router.attach(recipient, new)
            return True

        router.link_filter = restart_between_lookup_and_delivery
        router.send(0, 3, b"lost with the old incarnation")
        router.link_filter = lambda sender, recipient, payload: True
        router.send(0, 3, b"reaches the new one")
        assert new.ask("count") == 1
    finally:
        new.stop()
