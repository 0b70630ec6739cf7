"""The participant actor: holds a party's key and sequence counter, signs and submits events.

Sequence numbers must rise with every event an author signs; the actor's single thread makes
"take the next number, sign, submit" one step, however many host threads submit at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import pykka

from consortium.actors.messages import SubmitEvent
from consortium.actors.receipts import ReceiptFuture
from consortium.events.body import EventBody
from consortium.events.envelope import add_signatures, seal
from consortium.events.errors import ConsortiumStopped
from consortium.events.identity import Identity
from consortium.events.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class SignAndSubmit:
    body: EventBody
    future: ReceiptFuture


@dataclass(frozen=True, slots=True)
class SubmitSigned:
    envelope: bytes
    future: ReceiptFuture


@dataclass(frozen=True, slots=True)
class CoSign:
    """Answer (by ``ask``) another party's envelope with this participant's signature added."""

    envelope: bytes


@dataclass(frozen=True, slots=True)
class SignOnly:
    """Answer (by ``ask``) the envelope bytes without submitting: for multi-party artefacts."""

    body: EventBody


@dataclass(frozen=True, slots=True)
class PassForSignatures:
    """An artefact on its way round its signers, actor to actor, with no host thread waiting:
    the author seals ``body`` (or ``envelope`` already holds it), each actor in ``cosigners``
    adds its signature and passes it on, and the last hands it to ``author`` to submit."""

    future: ReceiptFuture
    cosigners: tuple[pykka.ActorRef[Any], ...]
    author: pykka.ActorRef[Any]
    body: EventBody | None = None
    envelope: bytes = b""


class ParticipantActor(pykka.ThreadingActor):
    def __init__(
        self,
        identity: Identity,
        chain_id: str,
        validator: pykka.ActorRef[Any],
        last_seq: int,
    ) -> None:
        super().__init__()
        self.identity = identity
        self._chain_id = chain_id
        self._validator = validator
        self._seq = last_seq

    def on_receive(self, message: Any) -> Any:
        """Answer one message. A told message's failure goes to its future, never out of here:
        pykka stops an actor whose handler raises on a ``tell``, and a handle must outlive any
        one bad body. (An ``ask`` gets its exception back through pykka.)"""
        future = getattr(message, "future", None)
        if not isinstance(future, ReceiptFuture):
            return self._handle(message)
        try:
            self._handle(message)
        except Exception as exc:
            log.warning("participant %s: could not sign or submit: %r", self.identity.name, exc)
            future.fail(exc)
        return None

    def _handle(self, message: Any) -> Any:
        if isinstance(message, SignAndSubmit):
            self._submit(self._seal(message.body), message.future)
        elif isinstance(message, SubmitSigned):
            self._submit(message.envelope, message.future)
        elif isinstance(message, SignOnly):
            return self._seal(message.body)
        elif isinstance(message, CoSign):
            return add_signatures(message.envelope, self._chain_id, [self.identity])
        elif isinstance(message, PassForSignatures):
            self._pass_on(message)
        return None

    def _pass_on(self, message: PassForSignatures) -> None:
        if message.body is not None:
            envelope = self._seal(message.body)
        else:
            envelope = add_signatures(message.envelope, self._chain_id, [self.identity])
        future = message.future
        onward: PassForSignatures | SubmitSigned
        if message.cosigners:
            following = PassForSignatures(
                future, message.cosigners[1:], message.author, None, envelope
            )
            target, onward = message.cosigners[0], following
        else:
            target, onward = message.author, SubmitSigned(envelope, future)
        try:
            target.tell(onward)
        except pykka.ActorDeadError as exc:
            future.fail(ConsortiumStopped(f"a signer's actor has stopped: {exc}"))

    def _seal(self, body: EventBody) -> bytes:
        signed = msgspec.structs.replace(body, author=self.identity.public_key, seq=self._seq + 1)
        envelope = seal(signed, self._chain_id, [self.identity])
        self._seq += 1  # only once sealed: a body that fails to encode uses no number
        return envelope

    def _submit(self, envelope: bytes, future: ReceiptFuture) -> None:
        try:
            self._validator.tell(SubmitEvent(envelope, future.set))
        except pykka.ActorDeadError as exc:
            future.fail(
                ConsortiumStopped(f"the validator this participant submits to has stopped: {exc}")
            )
