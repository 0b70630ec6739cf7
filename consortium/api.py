"""The host-facing facade: start a consortium, get participant handles, query, stop.

Everything here is safe to call from any host thread. Nothing here is called by an actor, so the
blocking ``ask`` calls below cannot deadlock the actors.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pykka

from consortium.actors.messages import Inspect, Subscribe
from consortium.actors.participant import (
    CoSign,
    ParticipantActor,
    PassForSignatures,
    SignAndSubmit,
    SignOnly,
    SubmitSigned,
)
from consortium.actors.receipts import ReceiptFuture
from consortium.actors.timers import TimerService
from consortium.actors.transport import InProcessRouter, Transport
from consortium.actors.validator import ValidatorActor, wall_clock_ms
from consortium.admission import SubmissionBudget
from consortium.body_check import check_encodable
from consortium.config import ConsortiumConfig
from consortium.consensus.config import ConsensusConfig
from consortium.events.block import BlockHeader
from consortium.events.body import EventBody
from consortium.events.errors import ConsortiumStopped
from consortium.events.genesis import Genesis
from consortium.events.identity import Identity
from consortium.events.signing import verify_signature
from consortium.ledger.node import LedgerNode, NodeSettings
from consortium.ledger.process_shares import process_shares
from consortium.ledger.queries import QUERIES, NodeStatus
from consortium.rules.rulebook import RULESET
from consortium.rules.tables import Account, Order, Settlement
from consortium.subscriptions import BlockNotice, Subscription

if TYPE_CHECKING:
    from consortium.metrics import ConsortiumMetrics

T = TypeVar("T")
ASK_TIMEOUT_S = 30.0
_RUNNING: weakref.WeakSet[Consortium] = weakref.WeakSet()


def _stop_forgotten() -> None:
    """At interpreter exit, before non-daemon threads are joined: stop every consortium the
    host never stopped, so a script that forgets ``stop()`` exits (with its logs closed
    cleanly) instead of hanging on the actors' threads."""
    for consortium in list(_RUNNING):
        warnings.warn(
            f"a Consortium in {consortium.data_dir} was never stopped; stopping it at exit "
            "(use it as a context manager, or call stop())",
            RuntimeWarning,
            stacklevel=1,
        )
        consortium.stop()


threading._register_atexit(_stop_forgotten)  # type: ignore[attr-defined]


class ParticipantHandle:
    """A party's way to sign and submit events; receipts come back as ``ReceiptFuture``."""

    def __init__(
        self,
        identity: Identity,
        chain_id: str,
        actor: pykka.ActorRef[Any],
        budget: SubmissionBudget,
    ) -> None:
        self.identity = identity
        self.chain_id = chain_id
        self._actor = actor
        self._budget = budget

    @property
    def public_key(self) -> bytes:
        return self.identity.public_key

    def submit(self, body: EventBody) -> ReceiptFuture:
        """Sign ``body`` as this participant (author and sequence are filled in) and submit it.

        A body that cannot be encoded raises ``InvalidBody`` here, naming the field.

        >>> receipt = alice.submit(Transfer(token="EUR", to=bob.public_key, amount=500)).result(5)
        >>> receipt.accepted, receipt.height
        """
        check_encodable(body)
        future = ReceiptFuture()
        if self._budget.take(future):
            self._tell(SignAndSubmit(body, future), future)
        return future

    def submit_with(self, body: EventBody, *cosigners: ParticipantHandle) -> ReceiptFuture:
        """Sign ``body`` as its author, have each of ``cosigners`` sign the same bytes in turn,
        then submit: an artefact every party must sign, passed between their actors without
        blocking the caller.

        >>> merchant.submit_with(Promotion(...), customer, third_party).result(5).accepted
        """
        check_encodable(body)
        future = ReceiptFuture()
        if self._budget.take(future):
            refs = tuple(c._actor for c in cosigners)
            self._tell(PassForSignatures(future, refs, self._actor, body), future)
        return future

    def sign(self, body: EventBody) -> bytes:
        """The signed envelope, not submitted: to pass to co-signers first."""
        check_encodable(body)
        return cast(bytes, self._ask(SignOnly(body)))

    def cosign(self, envelope: bytes) -> bytes:
        """Add this participant's signature to another party's envelope (same body bytes);
        signed by the participant's actor, which holds the key."""
        return cast(bytes, self._ask(CoSign(envelope)))

    def submit_signed(self, envelope: bytes) -> ReceiptFuture:
        """Submit an envelope signed elsewhere (``sign``, ``cosign``); resubmitting one that
        committed answers with its original outcome."""
        future = ReceiptFuture()
        if self._budget.take(future):
            self._tell(SubmitSigned(envelope, future), future)
        return future

    def _tell(self, message: object, future: ReceiptFuture) -> None:
        try:
            self._actor.tell(message)
        except pykka.ActorDeadError:
            future.fail(ConsortiumStopped("this participant's consortium has been stopped"))

    def _ask(self, message: object) -> object:
        try:
            return self._actor.ask(message, timeout=ASK_TIMEOUT_S)
        except pykka.ActorDeadError:
            raise ConsortiumStopped("this participant's consortium has been stopped") from None


class Consortium:
    """N validators (and their participants) in this process, each with its own LMDB log.

    With a ``transport`` and a mapping ``{index: identity}`` of only some validators, this
    process runs those and reaches the others through the transport (see actors/net/).
    ``clock`` (milliseconds) replaces the wall clock as the source of block times: tests and
    simulations set ledger time with it; all validators of one consortium must share one.
    """

    def __init__(
        self,
        genesis: Genesis,
        data_dir: Path | str,
        validator_identities: Sequence[Identity] | Mapping[int, Identity],
        config: ConsortiumConfig | None = None,
        *,
        transport: Transport | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        if isinstance(validator_identities, Mapping):
            local = dict(validator_identities)
            if any(
                not 0 <= i < len(genesis.validators)
                or genesis.validator_keys[i] != identity.public_key
                for i, identity in local.items()
            ):
                raise ValueError("each identity must be the genesis validator at its index")
        else:
            local = dict(enumerate(validator_identities))
            if tuple(i.public_key for i in validator_identities) != genesis.validator_keys:
                raise ValueError("validator identities must match the genesis validators, in order")
        keys = genesis.validator_keys
        self.genesis = genesis
        self.data_dir = Path(data_dir)
        self.config = config or ConsortiumConfig()
        self._identities = local
        self.router = InProcessRouter()
        self.transport: Transport = transport if transport is not None else self.router
        self._clock = clock or wall_clock_ms
        self._timers = TimerService()
        self._shared = process_shares(
            self.config.share_verifications, self.config.share_executions, len(local)
        )
        memo = self._shared.verifications
        self._verify = memo.verify if memo is not None else verify_signature
        self._validators: dict[int, pykka.ActorRef[Any]] = {}
        self._participants: list[pykka.ActorRef[Any]] = []
        self._subscriptions: list[Subscription] = []
        self._stopped = False
        self._budget = SubmissionBudget(
            self.config.max_pending_submissions, self.config.submit_wait_s
        )
        self._consensus = ConsensusConfig(
            genesis.chain_id,
            keys,
            timeout_propose_ms=self.config.timeout_propose_ms,
            timeout_vote_ms=self.config.timeout_vote_ms,
            timeout_delta_ms=self.config.timeout_delta_ms,
            max_clock_drift_ms=self.config.max_clock_drift_ms,
            block_time_ms=self.config.block_time_ms,
        )
        self.metrics: ConsortiumMetrics | None = None
        """The Prometheus registry of this process's validators, if ``config.metrics``."""
        self.metrics_address: str | None = None
        """Where ``/metrics`` and ``/health`` are served (a port 0 resolved)."""
        _RUNNING.add(self)
        try:
            if self.config.metrics is not None:
                from consortium.metrics import ConsortiumMetrics

                self.metrics = ConsortiumMetrics()
            for index in sorted(local):
                self.start_validator(index)
            if self.metrics is not None and self.config.metrics is not None:
                self.metrics_address = self.metrics.serve(self.config.metrics)
        except Exception:
            self.stop()
            raise

    @property
    def size(self) -> int:
        return len(self.genesis.validators)

    # ------------------------------------------------------------- validators

    def validator_dir(self, index: int) -> Path:
        return self.data_dir / f"validator-{index}"

    def start_validator(self, index: int) -> None:
        """Start (or restart from its log) validator ``index``."""
        self._check_running()
        if index in self._validators:
            raise ValueError(f"validator {index} is already running")
        if index not in self._identities:
            raise ValueError(f"validator {index} does not run in this process")
        settings = NodeSettings(
            self.config.max_block_events,
            self.config.mempool_capacity,
            self.config.state_cache_rows,
            self.config.intake_records_kept,
        )
        ref = ValidatorActor.start(
            index,
            self._identities[index],
            self.genesis,
            self.validator_dir(index),
            self.transport,
            self._timers,
            RULESET,
            self._consensus,
            settings,
            durable=self.config.durable,
            clock=self._clock,
            verify=self._verify,
            shared=self._shared,
            metrics=None if self.metrics is None else self.metrics.validator(index),
            scrubbing=self.config.scrubbing,
        )
        self._validators[index] = ref

    def stop_validator(self, index: int) -> None:
        """Stop one validator (as a crash would, between two messages); its log stays on disk."""
        ref = self._validators.pop(index)
        ref.stop()

    def running_validators(self) -> list[int]:
        return sorted(self._validators)

    # ------------------------------------------------------------ participants

    def participant(self, identity: Identity, validator: int | None = None) -> ParticipantHandle:
        """A handle that signs as ``identity`` and submits to one validator.

        The sequence counter continues from what the ledger has seen of this key.
        """
        home = validator if validator is not None else identity.public_key[0] % self.size
        if home not in self._validators:
            home = self._any_running()
        last_seq = self.nonce(identity.public_key, home)
        ref = ParticipantActor.start(
            identity, self.genesis.chain_id, self._validators[home], last_seq
        )
        self._participants.append(ref)
        return ParticipantHandle(identity, self.genesis.chain_id, ref, self._budget)

    # ----------------------------------------------------------- subscriptions

    def subscribe(
        self,
        callback: Callable[[BlockNotice], None],
        *,
        validator: int | None = None,
        on_error: Callable[[Exception], None] | None = None,
        capacity: int = 10_000,
    ) -> Subscription:
        """Call ``callback(notice)`` for every block committed from now on, in height order,
        on a thread of the subscription (never on a validator's).

        >>> sub = consortium.subscribe(lambda n: print(n.height, n.changed("accounts")))
        >>> sub.close()
        """
        return self._attach(Subscription(callback, on_error, capacity), validator)

    def subscribe_async(
        self, *, validator: int | None = None, capacity: int = 10_000
    ) -> Subscription:
        """An async iterator of committed blocks; call it from the event loop that iterates.

        >>> async for notice in consortium.subscribe_async():
        ...     handle(notice)
        """
        loop = asyncio.get_running_loop()
        return self._attach(Subscription(None, None, capacity, loop), validator)

    def _attach(self, subscription: Subscription, validator: int | None) -> Subscription:
        index = validator if validator is not None else self._any_running()
        ref = self._validators.get(index)
        if ref is None:
            raise ValueError(f"validator {index} does not run in this process")
        try:
            ref.ask(Subscribe(subscription.listener), timeout=ASK_TIMEOUT_S)
        except pykka.ActorDeadError:
            raise ConsortiumStopped(f"validator {index} has stopped") from None
        self._subscriptions.append(subscription)
        return subscription

    # ---------------------------------------------------------------- queries

    def inspect(self, fn: Callable[[LedgerNode], T], validator: int | None = None) -> T:
        """Run a read-only ``fn`` on a validator's ledger node, in that validator's thread."""
        index = validator if validator is not None else self._any_running()
        ref = self._validators.get(index)
        if ref is None:
            self._check_running()
            raise ValueError(f"validator {index} does not run in this process")
        try:
            return cast(T, ref.ask(Inspect(fn), timeout=ASK_TIMEOUT_S))
        except pykka.ActorDeadError:
            raise ConsortiumStopped(f"validator {index} has stopped") from None

    def _query(self, name: str, validator: int | None, *arguments: object) -> Any:
        """One of the contract's named queries (``ledger/queries.py``), as a remote host asks."""
        spec = QUERIES[name]
        return self.inspect(lambda node: spec.run(node, arguments), validator)

    def head(self, validator: int | None = None) -> BlockHeader | None:
        return cast("BlockHeader | None", self._query("head", validator))

    def height(self, validator: int | None = None) -> int:
        return cast(int, self._query("height", validator))

    def state_digest(self, validator: int | None = None) -> bytes:
        return cast(bytes, self._query("state_digest", validator))

    def nonce(self, key: bytes, validator: int | None = None) -> int:
        return cast(int, self._query("nonce", validator, key))

    def accounts(self, validator: int | None = None) -> list[Account]:
        return cast(list[Account], self._query("accounts", validator))

    def balance(self, owner: bytes, token: str, validator: int | None = None) -> int:
        return cast(int, self._query("balance", validator, owner, token))

    def orders(self, validator: int | None = None) -> list[tuple[bytes, Order]]:
        return cast(list[tuple[bytes, Order]], self._query("orders", validator))

    def settlements(self, validator: int | None = None) -> list[tuple[bytes, Settlement]]:
        return cast(list[tuple[bytes, Settlement]], self._query("settlements", validator))

    def status(self, validator: int | None = None) -> NodeStatus:
        """Height, round, mempool, last commit and peers heard from of a validator."""
        return cast(NodeStatus, self._query("status", validator))

    def _any_running(self) -> int:
        self._check_running()
        if not self._validators:
            raise ConsortiumStopped("no validator of this consortium runs in this process")
        return min(self._validators)

    def _check_running(self) -> None:
        if self._stopped:
            raise ConsortiumStopped("this consortium has been stopped")

    # ---------------------------------------------------------------- lifecycle

    def stop(self) -> None:
        """Stop every participant and validator and close every log; safe to call twice.
        Every later call raises ``ConsortiumStopped``."""
        self._stopped = True
        _RUNNING.discard(self)
        for subscription in self._subscriptions:
            subscription.close()
        self._subscriptions.clear()
        for ref in self._participants:
            ref.stop()
        self._participants.clear()
        for index in list(self._validators):
            self.stop_validator(index)
        self._timers.stop()
        if self.metrics is not None:
            self.metrics.close()

    def __enter__(self) -> Consortium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
