"""The facade for a host whose validator runs in another process or on another machine.

``RemoteConsortium`` offers the embedded ``Consortium``'s host API (participant handles that
sign and submit, receipts as ``ReceiptFuture``, the projection queries, block subscriptions)
over a CurveZMQ connection to one validator, so host code does not change when the validator
moves out of its process; ``open_consortium(config)`` picks the mode from the config file.
A host may list further validators it trusts (``fallbacks``): it connects to all of them and
talks to one at a time, moving to the next when the current one stops answering (a query
timing out, or a submission without a receipt for ``failover_after_s``). Submissions still
waiting are sent again to the next one, the same envelopes, so none is executed twice: a
validator that already has an event answers with its outcome.
Events are signed here, by the host, with keys that never leave it; the validator only checks
them. Block notices are believed only with a quorum certificate that verifies against the
genesis validator keys.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import msgspec

from consortium.actors.messages import Receipt
from consortium.actors.net.endpoint import Endpoint, Incoming, PeerAddress
from consortium.actors.net.protocol import (
    REPLY,
    REQUEST,
    Answer,
    Notice,
    Query,
    ReceiptReply,
    Submit,
    Subscribe,
    Unsubscribe,
    decode_server_message,
)
from consortium.actors.receipts import ReceiptFuture
from consortium.body_check import check_encodable
from consortium.consensus.certificates import qc_problem
from consortium.consensus.config import ConsensusConfig
from consortium.events.block import BlockHeader
from consortium.events.body import EventBody
from consortium.events.codec import encode
from consortium.events.envelope import add_signatures, event_id, seal
from consortium.events.errors import (
    ConsortiumError,
    ConsortiumStopped,
    MalformedError,
    ReceiptTimeout,
)
from consortium.events.genesis import Genesis
from consortium.events.identity import Identity
from consortium.events.logs import get_logger
from consortium.events.results import Code, EventResult
from consortium.genesis_file import read_genesis
from consortium.key_file import read_secret_key
from consortium.ledger.node import CommitRecord
from consortium.ledger.queries import QUERIES, NodeStatus
from consortium.network_node import NetworkedConsortium
from consortium.node_config import ClientConfig, load_config
from consortium.rules.rulebook import RULESET
from consortium.rules.tables import Account, Order, Settlement
from consortium.subscriptions import BlockNotice, Subscription

log = get_logger(__name__)

T = TypeVar("T")
QUERY_TIMEOUT_S = 30.0
MAX_PENDING = 4_000
"""Submissions waiting for a receipt; beyond it ``submit`` answers ``overloaded`` at once, so the
connection's queue (sized above it) never drops a request silently."""
CLIENT_SOCKET_HWM = 10_000
RECEIPT_DEADLINE_S = 120.0
"""A submission with no receipt after this long fails with ``SubmissionExpired`` and frees its
place in ``MAX_PENDING``: the validator has been unreachable for that long."""
SWEEP_INTERVAL_S = 1.0
FAILOVER_AFTER_S = 10.0
"""With fallbacks: a submission without a receipt for this long moves the host to the next
validator (a block takes well under a second on a healthy consortium)."""


class RemoteError(ConsortiumError):
    """The validator answered a query with an error, or did not answer in time."""


class RemoteTimeout(RemoteError, TimeoutError):
    """No answer from the validator within the time asked for."""


class SubmissionExpired(ReceiptTimeout):
    """No receipt arrived within the receipt deadline. The event may still have committed:
    resubmit ``envelope`` with ``submit_signed`` (safe: a committed envelope is answered with
    its original outcome, never executed twice) to learn what happened."""

    def __init__(self, message: str, envelope: bytes) -> None:
        super().__init__(message)
        self.envelope = envelope


@dataclass(slots=True)
class _Pending:
    """A submission on its way: kept until its receipt, so it can be sent again."""

    envelope: bytes
    future: ReceiptFuture
    sent_at: float


class RemoteParticipantHandle:
    """A party's way to sign and submit events through a remote validator.

    The same methods as the embedded ``ParticipantHandle``. Sequence numbers continue from what
    the ledger has seen of the key; one lock makes "take the next number, sign" one step.
    """

    def __init__(self, identity: Identity, client: RemoteConsortium, last_seq: int) -> None:
        self.identity = identity
        self.chain_id = client.genesis.chain_id
        self._client = client
        self._seq = last_seq
        self._lock = threading.Lock()

    @property
    def public_key(self) -> bytes:
        return self.identity.public_key

    def sign(self, body: EventBody) -> bytes:
        """The signed envelope, not submitted: to pass to co-signers first."""
        check_encodable(body)
        with self._lock:
            signed = msgspec.structs.replace(
                body, author=self.identity.public_key, seq=self._seq + 1
            )
            envelope = seal(signed, self.chain_id, [self.identity])
            self._seq += 1  # only once sealed: a body that fails to encode uses no number
            return envelope

    def cosign(self, envelope: bytes) -> bytes:
        """Add this participant's signature to another party's envelope (same body bytes)."""
        return add_signatures(envelope, self.chain_id, [self.identity])

    def submit(self, body: EventBody) -> ReceiptFuture:
        """Sign ``body`` as this participant (author and sequence filled in) and submit it.

        A body that cannot be encoded raises ``InvalidBody`` here, naming the field."""
        return self._client.submit_envelope(self.sign(body), ReceiptFuture())

    def submit_signed(self, envelope: bytes) -> ReceiptFuture:
        return self._client.submit_envelope(envelope, ReceiptFuture())

    def submit_with(self, body: EventBody, *cosigners: RemoteParticipantHandle) -> ReceiptFuture:
        """Sign ``body``, have each of ``cosigners`` (keys held by this host) sign the same
        bytes, then submit; as the embedded handle's ``submit_with``."""
        envelope = self.sign(body)
        for cosigner in cosigners:
            envelope = cosigner.cosign(envelope)
        return self.submit_signed(envelope)


class RemoteConsortium:
    """A host connected to validator ``validator`` at ``address`` (and, failing that, to each of
    ``fallbacks`` in turn); ``key`` is the host's connection key, which each node must list in
    its ``client_keys``."""

    def __init__(
        self,
        genesis: Genesis,
        key: Identity,
        validator: int,
        address: str,
        *,
        fallbacks: Sequence[tuple[int, str]] = (),
        query_timeout_s: float = QUERY_TIMEOUT_S,
        receipt_deadline_s: float = RECEIPT_DEADLINE_S,
        failover_after_s: float = FAILOVER_AFTER_S,
    ) -> None:
        """``receipt_deadline_s``: how long a submission waits for its receipt, across
        reconnections and failovers, before it fails with ``SubmissionExpired``;
        ``fallbacks``: further ``(validator, address)`` pairs of validators this host trusts."""
        self._targets = [(validator, address), *fallbacks]
        indices = [index for index, _ in self._targets]
        for index in indices:
            if not 0 <= index < len(genesis.validators):
                raise ValueError(f"validator {index} is not in the genesis")
        if len(set(indices)) != len(indices):
            raise ValueError(f"validators {indices}: each may be listed once")
        self._current = 0
        self._switched_at = time.monotonic()
        self._failover_after_s = failover_after_s
        self.genesis = genesis
        self._query_timeout_s = query_timeout_s
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._receipt_deadline_s = receipt_deadline_s
        self._pending: dict[int, _Pending] = {}  # insertion order is age order
        self._handshakes = 0
        self._answers: dict[int, tuple[str, concurrent.futures.Future[Any]]] = {}
        self._subscriptions: list[Subscription] = []
        self._consensus = ConsensusConfig(genesis.chain_id, genesis.validator_keys)
        self._row_decoders = {
            name: msgspec.msgpack.Decoder(row_type | None)
            for name, row_type in RULESET.schema.items()
        }
        self._stopped = False
        self._stopping = threading.Event()
        self._sweeper = threading.Thread(
            target=self._sweep, name=f"consortium-receipts-{validator}", daemon=True
        )
        self._endpoint = Endpoint(
            f"host-of-{validator}",
            key,
            self._on_receive,
            peers={
                index: PeerAddress(at, genesis.validators[index].public_key)
                for index, at in self._targets
            },
            on_handshake=self._on_handshake,
            immediate=False,
            socket_hwm=CLIENT_SOCKET_HWM,
        )
        self._sweeper.start()

    @classmethod
    def from_config(cls, config: ClientConfig) -> RemoteConsortium:
        return cls(
            read_genesis(config.genesis_file),
            read_secret_key(config.key_file),
            config.validator,
            config.address,
            fallbacks=config.fallbacks,
        )

    @property
    def validator(self) -> int:
        """The validator this host talks to now."""
        return self._targets[self._current][0]

    @property
    def address(self) -> str:
        return self._targets[self._current][1]

    def _fail_over(self, from_target: int, why: str) -> bool:
        """Move to the next listed validator, unless another thread already moved on from
        ``from_target``; every submission still waiting goes to it. False: none to move to."""
        if len(self._targets) == 1:
            return False
        with self._lock:
            was = self._targets[from_target][0]
            if self._current == from_target:
                self._current = (self._current + 1) % len(self._targets)
                self._switched_at = time.monotonic()
                log.warning("validator %d %s; moving to validator %d", was, why, self.validator)
            subscribed = bool(self._subscriptions)
        if subscribed:
            self._endpoint.send(was, [REQUEST, encode(Unsubscribe())])
            self._endpoint.send(self.validator, [REQUEST, encode(Subscribe())])
        self._resend_pending()
        return True

    @property
    def size(self) -> int:
        return len(self.genesis.validators)

    # ------------------------------------------------------------ participants

    def participant(
        self, identity: Identity, validator: int | None = None
    ) -> RemoteParticipantHandle:
        """A handle that signs as ``identity`` and submits to this host's validator."""
        self._only_mine(validator)
        return RemoteParticipantHandle(identity, self, self.nonce(identity.public_key))

    def submit_envelope(self, envelope: bytes, future: ReceiptFuture) -> ReceiptFuture:
        """Send a signed envelope; ``future`` gets its receipt.

        Until the receipt arrives the envelope is kept, and sent again after every reconnection
        (a validator that restarted has forgotten it; one that committed it answers with its
        original outcome), so a dropped connection strands nothing. A submission still without a
        receipt after ``receipt_deadline_s`` fails with ``SubmissionExpired``."""
        self._expire_overdue()
        with self._lock:
            if self._stopped:
                future.fail(ConsortiumStopped("this remote consortium has been stopped"))
                return future
            if len(self._pending) >= MAX_PENDING:
                busy = EventResult(
                    Code.OVERLOADED,
                    f"{MAX_PENDING} submissions are waiting for receipts; retry later",
                )
                future.set(Receipt(event_id(envelope), busy, None, self.validator))
                return future
            number = next(self._numbers)
            self._pending[number] = _Pending(envelope, future, time.monotonic())
        if not self._send_submit(number, envelope):
            with self._lock:
                self._pending.pop(number, None)
            future.fail(ConsortiumStopped("the connection to the validator is closed or full"))
        return future

    def _send_submit(self, number: int, envelope: bytes) -> bool:
        return self._endpoint.send(self.validator, [REQUEST, encode(Submit(number, envelope))])

    def _resend_pending(self) -> None:
        """After a reconnection: every submission without a receipt goes again, same number."""
        with self._lock:
            waiting = [(n, p.envelope) for n, p in self._pending.items()]
        for number, envelope in waiting:
            self._send_submit(number, envelope)
        if waiting:
            log.info(
                "validator %d: reconnected; sent %d submissions again", self.validator, len(waiting)
            )

    def _expire_overdue(self) -> None:
        """Fail the submissions that have waited longer than the receipt deadline."""
        cutoff = time.monotonic() - self._receipt_deadline_s
        expired: list[_Pending] = []
        with self._lock:
            for pending in self._pending.values():
                if pending.sent_at > cutoff:
                    break
                expired.append(pending)
            for _ in expired:
                del self._pending[next(iter(self._pending))]
        for pending in expired:
            pending.future.fail(
                SubmissionExpired(
                    f"no receipt from validator {self.validator} at {self.address} within "
                    f"{self._receipt_deadline_s:g} s; the event may still have committed: "
                    "resubmit the same envelope (error.envelope, with submit_signed) to learn "
                    "its outcome, it is never executed twice",
                    pending.envelope,
                )
            )

    def _sweep(self) -> None:
        """The sweeper thread: expire overdue submissions even when the host submits nothing,
        and fail over when the oldest has waited too long on the current validator."""
        while not self._stopping.wait(SWEEP_INTERVAL_S):
            self._expire_overdue()
            with self._lock:
                target, since = self._current, self._switched_at
                oldest = next(iter(self._pending.values()), None)
            if oldest is not None:
                waited = time.monotonic() - max(oldest.sent_at, since)
                if waited > self._failover_after_s:
                    self._fail_over(target, f"gave no receipt for {waited:.0f} s")

    # ----------------------------------------------------------------- queries

    def height(self, validator: int | None = None) -> int:
        self._only_mine(validator)
        return cast(int, self._query("height"))

    def head(self, validator: int | None = None) -> BlockHeader | None:
        self._only_mine(validator)
        return cast("BlockHeader | None", self._query("head"))

    def state_digest(self, validator: int | None = None) -> bytes:
        self._only_mine(validator)
        return cast(bytes, self._query("state_digest"))

    def nonce(self, key: bytes, validator: int | None = None) -> int:
        self._only_mine(validator)
        return cast(int, self._query("nonce", key))

    def balance(self, owner: bytes, token: str, validator: int | None = None) -> int:
        self._only_mine(validator)
        return cast(int, self._query("balance", owner, token))

    def accounts(self, validator: int | None = None) -> list[Account]:
        self._only_mine(validator)
        return cast(list[Account], self._query("accounts"))

    def orders(self, validator: int | None = None) -> list[tuple[bytes, Order]]:
        self._only_mine(validator)
        return cast(list[tuple[bytes, Order]], self._query("orders"))

    def settlements(self, validator: int | None = None) -> list[tuple[bytes, Settlement]]:
        self._only_mine(validator)
        return cast(list[tuple[bytes, Settlement]], self._query("settlements"))

    def status(self, validator: int | None = None) -> NodeStatus:
        """Height, round, mempool, last commit and peers heard from of the validator."""
        self._only_mine(validator)
        return cast(NodeStatus, self._query("status"))

    def _only_mine(self, validator: int | None) -> None:
        if validator is not None and validator != self.validator:
            raise ValueError(
                f"this host is connected to validator {self.validator} only, not {validator}"
            )

    def _query(self, name: str, *arguments: object) -> Any:
        """Asked of the current validator; with fallbacks, of each in turn until one answers."""
        for _ in self._targets:
            with self._lock:
                target = self._current
            try:
                return self._query_once(name, arguments)
            except RemoteTimeout as exc:
                if not self._fail_over(target, f"did not answer {name!r}"):
                    raise exc from None
        raise RemoteTimeout(
            f"none of validators {[index for index, _ in self._targets]} answered {name!r} "
            f"within {self._query_timeout_s} s each: check that they run and that this host's "
            "key is in their client_keys"
        )

    def _query_once(self, name: str, arguments: tuple[object, ...]) -> Any:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:
            if self._stopped:
                raise ConsortiumStopped("this remote consortium has been stopped")
            number = next(self._numbers)
            self._answers[number] = (name, future)
        validator, address = self.validator, self.address
        request = Query(number, name, msgspec.Raw(encode(arguments)))
        self._endpoint.send(validator, [REQUEST, encode(request)])
        try:
            return future.result(self._query_timeout_s)
        except concurrent.futures.TimeoutError:
            raise RemoteTimeout(
                f"validator {validator} at {address} did not answer {name!r} within "
                f"{self._query_timeout_s} s: check that it runs, that this host's key is in its "
                "client_keys, and that the genesis files are the same"
            ) from None
        finally:
            with self._lock:
                self._answers.pop(number, None)

    # ----------------------------------------------------------- subscriptions

    def subscribe(
        self,
        callback: Callable[[BlockNotice], None],
        *,
        validator: int | None = None,
        on_error: Callable[[Exception], None] | None = None,
        capacity: int = 10_000,
    ) -> Subscription:
        """Call ``callback(notice)`` for every block committed from now on, as embedded.

        Blocks committed while the connection is down are not replayed: after a reconnect,
        re-read the projections (the validator's height says how far it is).
        """
        self._only_mine(validator)
        return self._attach(Subscription(callback, on_error, capacity))

    def subscribe_async(
        self, *, validator: int | None = None, capacity: int = 10_000
    ) -> Subscription:
        """An async iterator of committed blocks; call it from the event loop that iterates."""
        self._only_mine(validator)
        return self._attach(Subscription(None, None, capacity, asyncio.get_running_loop()))

    def _attach(self, subscription: Subscription) -> Subscription:
        with self._lock:
            if self._stopped:
                raise ConsortiumStopped("this remote consortium has been stopped")
            self._subscriptions.append(subscription)
        self._endpoint.send(self.validator, [REQUEST, encode(Subscribe())])
        return subscription

    # ---------------------------------------------------------- network thread

    def _on_handshake(self, peer: int, ok: bool) -> None:
        """After a reconnect the validator (perhaps restarted) no longer knows our
        subscription, nor perhaps our submissions: ask again. Only the current validator's
        handshakes matter; the fallbacks' connections wait until they are needed."""
        if not ok or peer != self.validator:
            return
        self._handshakes += 1
        if self._subscriptions:
            self._endpoint.send(self.validator, [REQUEST, encode(Subscribe())])
        if self._handshakes > 1:
            self._resend_pending()

    def _on_receive(self, incoming: Incoming) -> None:
        """Replies from any listed validator count: a receipt may come from the one this host
        left, for an event it had admitted before it stopped answering."""
        if len(incoming.frames) != 2:
            return
        kind, payload = incoming.frames
        if kind != REPLY:
            return
        try:
            message = decode_server_message(payload)
        except MalformedError as exc:
            log.warning("validator %d sent a malformed reply: %s", incoming.peer, exc)
            return
        if isinstance(message, ReceiptReply):
            self._on_receipt(message)
        elif isinstance(message, Answer):
            self._on_answer(message)
        elif isinstance(message, Notice) and incoming.peer == self.validator:
            self._on_notice(message)  # one validator's blocks: no notice twice after a failover

    def _on_receipt(self, reply: ReceiptReply) -> None:
        with self._lock:
            pending = self._pending.pop(reply.request, None)
        if pending is not None:
            receipt = Receipt(reply.event_id, reply.result, reply.height, reply.validator)
            pending.future.set(receipt)

    def _on_answer(self, answer: Answer) -> None:
        with self._lock:
            waiting = self._answers.get(answer.request)
        if waiting is None:
            return
        name, future = waiting
        if answer.error:
            future.set_exception(RemoteError(f"validator {self.validator}: {answer.error}"))
            return
        try:
            future.set_result(QUERIES[name].answer_decoder.decode(answer.value))
        except msgspec.DecodeError as exc:
            future.set_exception(RemoteError(f"answer to {name!r} does not decode: {exc}"))

    def _on_notice(self, notice: Notice) -> None:
        committed = notice.committed
        problem = qc_problem(
            committed.qc,
            self.genesis.chain_id,
            self._consensus.validators,
            self._consensus.quorum,
        )
        if problem is None and committed.qc.block_hash != committed.block.hash:
            problem = "the quorum certificate is for another block"
        if problem is not None:
            log.warning(
                "validator %d sent a block notice without a valid QC: %s", self.validator, problem
            )
            return
        try:
            changes: dict[str, dict[bytes, Any]] = {}
            for change in notice.changes:
                rows = changes.setdefault(change.table, {})
                rows[change.key] = self._row_decoders[change.table].decode(change.row)
        except (KeyError, msgspec.DecodeError) as exc:
            log.warning("validator %d sent a notice with an unknown row: %s", self.validator, exc)
            return
        ids = [event_id(e) for e in committed.block.events]
        record = CommitRecord(committed, ids, notice.results, changes)
        with self._lock:
            subscriptions = [s for s in self._subscriptions if not s.closed]
            self._subscriptions = subscriptions
        for subscription in subscriptions:
            subscription.listener(record)

    # --------------------------------------------------------------- lifecycle

    def stop(self) -> None:
        """Close the connection; waiting receipts fail with ``ConsortiumStopped``."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            pending, self._pending = self._pending, {}
            subscriptions, self._subscriptions = self._subscriptions, []
        self._stopping.set()
        for subscription in subscriptions:
            subscription.close()
        self._endpoint.close()
        for waiting in pending.values():
            waiting.future.fail(
                ConsortiumStopped("the remote consortium was stopped before a receipt")
            )

    def __enter__(self) -> RemoteConsortium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def open_consortium(config_path: Path | str) -> RemoteConsortium | NetworkedConsortium:
    """The facade the config file describes: a ``RemoteConsortium`` for a ``[client]`` file,
    a ``NetworkedConsortium`` (a validator in this process) for a ``[node]`` file."""
    config = load_config(Path(config_path))
    if isinstance(config, ClientConfig):
        return RemoteConsortium.from_config(config)
    return NetworkedConsortium(config)
