"""The financial-service platform of CN113672983A: it multicasts each committed data request to
every registered extraction subsystem, routes releases to a record's custodian, and has the
custodian erase a record as soon as its ``EraseRecord`` commits.

The host starts one ``DataPlatform`` and asks it for results; it never calls a subsystem. The
platform is one pykka actor fed by a block subscription; each subsystem runs in its own actor,
so a slow data source holds up only its own answers. Every future the platform hands out
resolves: with the answers, with ``DataRequestTimeout`` naming the subsystems that did not answer
in time, with ``PlatformBusy`` when more than ``capacity`` lookups and releases are in flight
(the bound that keeps every actor's inbox bounded), or with ``ConsortiumStopped``.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import pykka

from consortium.actors.messages import Receipt
from consortium.actors.timers import TimerService
from consortium.api import Consortium
from consortium.events.errors import ConsortiumError, ConsortiumStopped
from consortium.events.logs import get_logger
from consortium.events.private_data import EraseRecord, RequestData
from consortium.extraction import ExtractionSubsystem, Released
from consortium.rules.private_data import DataRecord
from consortium.subscriptions import BlockNotice, Subscription

log = get_logger(__name__)


class DataRequestTimeout(ConsortiumError, TimeoutError):
    """Not every extraction subsystem answered (or the request did not commit) in time."""


class PlatformBusy(ConsortiumError):
    """More lookups and releases are in flight than the platform's capacity; retry later."""


@dataclass(frozen=True, slots=True)
class LookupResult:
    """Every registered subsystem's answer to one data request."""

    request: bytes
    stored: tuple[Receipt, ...]  # the StoreRecord receipts of subsystems whose source held it
    no_source: tuple[str, ...]  # subsystems none of whose sources hold the person
    failed: tuple[tuple[str, str], ...]  # (subsystem, what went wrong)

    @property
    def record(self) -> bytes | None:
        """The id of the first record stored and accepted, if any."""
        return next((r.event_id for r in self.stored if r.accepted), None)


Outcome = Receipt | Released | Exception | None  # an answer, what failed, or "no source"


# ----------------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True)
class _Attach:
    """Tells a subsystem's actor where to send its answers (the platform starts after it)."""

    platform: pykka.ActorRef[Any]


@dataclass(frozen=True, slots=True)
class _Committed:
    notice: BlockNotice


@dataclass(frozen=True, slots=True)
class _Lookup:
    request: bytes
    future: Future[LookupResult]


@dataclass(frozen=True, slots=True)
class _Release:
    custodian: bytes
    arguments: tuple[Any, ...]  # ExtractionSubsystem.release's
    future: Future[Released]


@dataclass(frozen=True, slots=True)
class _Serve:
    key: Any
    request: bytes
    owner: bytes
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _ReleaseAt:
    key: Any
    arguments: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class _Erase:
    blob: bytes


@dataclass(frozen=True, slots=True)
class _Answer:
    key: Any
    subsystem: str
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class _Expired:
    key: Any
    entry: object  # the entry the timer was set for: a later entry under the same key has its own


@dataclass(frozen=True, slots=True)
class _EraseAll:
    records: tuple[DataRecord, ...]


# ------------------------------------------------------------------------------- actors


class _SubsystemActor(pykka.ThreadingActor):
    """Runs one subsystem's blocking work on its own thread; answers go back to the platform."""

    def __init__(self, subsystem: ExtractionSubsystem) -> None:
        super().__init__()
        self._subsystem = subsystem
        self.platform: pykka.ActorRef[Any] | None = None

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Attach):
            self.platform = message.platform
        elif isinstance(message, _Erase):
            self._erase(message.blob)
        elif isinstance(message, _Serve | _ReleaseAt):
            self._answer(message)
        return None

    def _erase(self, blob: bytes) -> None:
        try:
            if self._subsystem.erase(blob):
                log.info("%s erased record blob %s", self._subsystem.name, blob.hex())
        except OSError as exc:  # the next platform start retries (DataPlatform.erase_pending)
            log.error("%s could not erase blob %s: %r", self._subsystem.name, blob.hex(), exc)

    def _answer(self, message: _Serve | _ReleaseAt) -> None:
        outcome: Outcome
        try:
            if isinstance(message, _Serve):
                outcome = self._subsystem.serve_request(
                    message.request, message.owner, message.fields
                )
            else:
                outcome = self._subsystem.release(*message.arguments)
        except Exception as exc:  # a source or the ledger failed: an answer, not a crash
            log.warning("%s could not answer: %r", self._subsystem.name, exc)
            outcome = exc
        if self.platform is not None:
            try:
                self.platform.tell(_Answer(message.key, self._subsystem.name, outcome))
            except pykka.ActorDeadError:
                pass  # the platform stopped and has failed the future already


@dataclass
class _Multicast:
    """One data request: who still owes an answer (None until it commits) and the answers."""

    futures: list[Future[LookupResult]] = field(default_factory=list)
    waiting: set[str] | None = None
    answers: dict[str, Outcome] = field(default_factory=dict)
    outcome: LookupResult | ConsortiumError | None = None


class _PlatformActor(pykka.ThreadingActor):
    def __init__(
        self,
        subsystems: dict[str, tuple[bytes, pykka.ActorRef[Any]]],
        timers: TimerService,
        timeout_ms: int,
        capacity: int,
    ) -> None:
        super().__init__()
        self._subsystems = {name: ref for name, (_, ref) in subsystems.items()}
        self._custodians = {key: ref for key, ref in subsystems.values()}
        self._timers, self._timeout_ms, self._capacity = timers, timeout_ms, capacity
        self._requests: OrderedDict[bytes, _Multicast] = OrderedDict()
        self._releases: dict[int, Future[Released]] = {}
        self._numbers = itertools.count()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Committed):
            self._committed(message.notice)
        elif isinstance(message, _Lookup):
            self._lookup(message)
        elif isinstance(message, _Release):
            self._release(message)
        elif isinstance(message, _Answer):
            self._answer(message)
        elif isinstance(message, _Expired):
            self._expire(message)
        elif isinstance(message, _EraseAll):
            for record in message.records:
                self._erase(record)
        return None

    def on_stop(self) -> None:
        stopped = ConsortiumStopped("the data platform has stopped")
        for entry in self._requests.values():
            if entry.outcome is None:
                self._finish(entry, stopped)
        for future in self._releases.values():
            future.set_exception(stopped)

    def _in_flight(self) -> int:
        pending = sum(1 for e in self._requests.values() if e.outcome is None)
        return pending + len(self._releases)

    def _after_timeout(self, key: Any, entry: object) -> None:
        ref = self.actor_ref

        def expire() -> None:
            try:
                ref.tell(_Expired(key, entry))
            except pykka.ActorDeadError:
                pass

        self._timers.call_later(self._timeout_ms, expire)

    def _open(self, request: bytes) -> _Multicast | None:
        """A new multicast entry, or None at capacity; finished entries beyond it are dropped."""
        if self._in_flight() >= self._capacity:
            return None
        entry = self._keep(request, _Multicast())
        self._after_timeout(request, entry)
        return entry

    def _keep(self, request: bytes, entry: _Multicast) -> _Multicast:
        """Remember ``entry``, forgetting the oldest finished ones beyond the capacity (fewer
        than ``capacity`` are in flight, so there is always one to forget)."""
        self._requests[request] = entry
        while len(self._requests) > self._capacity:
            oldest = next(k for k, e in self._requests.items() if e.outcome is not None)
            del self._requests[oldest]
        return entry

    def _committed(self, notice: BlockNotice) -> None:
        for event in notice.events:
            if not event.result.accepted:
                continue
            if isinstance(event.body, RequestData):
                self._multicast(event.event_id, event.body)
            elif isinstance(event.body, EraseRecord):
                record = notice.changed("data_records").get(event.body.record)
                if record is not None:
                    self._erase(record)

    def _multicast(self, request: bytes, body: RequestData) -> None:
        entry = self._requests.get(request)
        if entry is None or entry.outcome is not None:  # not looked up yet, or timed out
            entry = self._open(request)
        if entry is None:
            log.warning("data request %s not served: the platform is at capacity", request.hex())
            busy = PlatformBusy(f"data request {request.hex()[:16]}… came in at capacity")
            self._keep(request, _Multicast(outcome=busy))
            return
        entry.waiting = set(self._subsystems)
        for ref in self._subsystems.values():
            ref.tell(_Serve(request, request, body.owner, tuple(body.fields)))
        self._settle(request, entry)

    def _erase(self, record: DataRecord) -> None:
        ref = self._custodians.get(record.custodian)
        if ref is not None:
            ref.tell(_Erase(record.blob))

    def _lookup(self, message: _Lookup) -> None:
        entry = self._requests.get(message.request) or self._open(message.request)
        if entry is None:
            message.future.set_exception(PlatformBusy(f"{self._capacity} requests in flight"))
            return
        entry.futures.append(message.future)
        if entry.outcome is not None:
            self._finish(entry, entry.outcome)

    def _release(self, message: _Release) -> None:
        ref = self._custodians.get(message.custodian)
        if ref is None:
            message.future.set_exception(
                ConsortiumError("the record's custodian is not registered with this platform")
            )
        elif self._in_flight() >= self._capacity:
            message.future.set_exception(PlatformBusy(f"{self._capacity} requests in flight"))
        else:
            key = next(self._numbers)
            self._releases[key] = message.future
            ref.tell(_ReleaseAt(key, message.arguments))
            self._after_timeout(key, message.future)

    def _answer(self, message: _Answer) -> None:
        if isinstance(message.key, int):
            future = self._releases.pop(message.key, None)
            if future is None:
                return  # timed out already
            if isinstance(message.outcome, Exception):
                future.set_exception(message.outcome)
            elif isinstance(message.outcome, Released):
                future.set_result(message.outcome)
            return
        entry = self._requests.get(message.key)
        if entry is None or entry.waiting is None or message.subsystem not in entry.waiting:
            return  # an answer after the timeout
        entry.waiting.discard(message.subsystem)
        entry.answers[message.subsystem] = message.outcome
        self._settle(message.key, entry)

    def _settle(self, request: bytes, entry: _Multicast) -> None:
        if entry.waiting or entry.waiting is None:
            return
        answers = sorted(entry.answers.items())
        self._finish(
            entry,
            LookupResult(
                request,
                tuple(a for _, a in answers if isinstance(a, Receipt)),
                tuple(n for n, a in answers if a is None),
                tuple(
                    (n, f"{type(a).__name__}: {a}") for n, a in answers if isinstance(a, Exception)
                ),
            ),
        )

    def _expire(self, message: _Expired) -> None:
        key = message.key
        if isinstance(key, int):
            future = self._releases.pop(key, None)
            if future is not None:
                future.set_exception(DataRequestTimeout("the custodian did not release in time"))
            return
        entry = self._requests.get(key)
        if entry is None or entry is not message.entry or entry.outcome is not None:
            return
        if entry.waiting is None:
            detail = (
                "the request has not committed (or was answered so long ago that the platform "
                "no longer remembers it: read data_records)"
            )
        else:
            detail = "no answer from " + ", ".join(sorted(entry.waiting))
        entry.waiting = set()
        self._finish(entry, DataRequestTimeout(f"data request {key.hex()[:16]}…: {detail}"))

    @staticmethod
    def _finish(entry: _Multicast, outcome: LookupResult | ConsortiumError) -> None:
        entry.outcome = outcome
        futures, entry.futures = entry.futures, []
        for future in futures:
            if isinstance(outcome, LookupResult):
                future.set_result(outcome)
            else:
                future.set_exception(outcome)


# ------------------------------------------------------------------------------- facade


class DataPlatform:
    """Start with the consortium and the extraction subsystems; stop it (or use ``with``)."""

    def __init__(
        self,
        consortium: Consortium,
        subsystems: Sequence[ExtractionSubsystem],
        *,
        timeout_s: float = 30.0,
        capacity: int = 256,
    ) -> None:
        if capacity < 1 or timeout_s <= 0:
            raise ValueError("the platform needs a capacity of at least 1 and a positive timeout")
        self._consortium = consortium
        self._timers = TimerService()
        self._subsystem_refs = [_SubsystemActor.start(s) for s in subsystems]
        registered = {
            s.name: (s.identity.public_key, ref)
            for s, ref in zip(subsystems, self._subsystem_refs, strict=True)
        }
        self._ref = _PlatformActor.start(registered, self._timers, int(timeout_s * 1000), capacity)
        for ref in self._subsystem_refs:
            ref.tell(_Attach(self._ref))
        try:
            self._subscription = self._subscribe()
            self.erase_pending()
        except BaseException:
            self._stop_actors()
            raise

    def _subscribe(self) -> Subscription:
        # ``ask``, not ``tell``: the subscription's bounded queue, not the platform's inbox,
        # absorbs a burst of blocks, and overflows into ``_fell_behind`` if the platform lags.
        return self._consortium.subscribe(self._hand_over, on_error=self._fell_behind)

    def _hand_over(self, notice: BlockNotice) -> None:
        self._ref.ask(_Committed(notice))

    def _fell_behind(self, error: Exception) -> None:
        """The subscription overflowed: subscribe again, then catch up on erasures (requests
        committed meanwhile were not multicast; their lookups time out)."""
        log.warning("data platform: %s; resubscribing", error)
        self._subscription = self._subscribe()
        self.erase_pending()

    def erase_pending(self) -> None:
        """Have each custodian erase every erased record it may still hold (run at start, so a
        platform that was down when an ``EraseRecord`` committed still erases)."""
        erased = self._consortium.inspect(
            lambda n: tuple(r for _, r in n.state.rows("data_records") if r.status == "erased")
        )
        self._ref.tell(_EraseAll(erased))

    def lookup(self, request: bytes) -> Future[LookupResult]:
        """Every subsystem's answer to the committed ``RequestData`` with event id ``request``."""
        future: Future[LookupResult] = Future()
        self._tell(_Lookup(request, future), future)
        return future

    def release(
        self, record: bytes, consent: bytes, fi: bytes, fields: Sequence[str], fmt: str
    ) -> Future[Released]:
        """Have ``record``'s custodian release ``fields`` to ``fi`` under ``consent``; the
        rules decide, and the ``Released`` carries the FI's delivery only if they accept."""
        future: Future[Released] = Future()
        row: DataRecord | None = self._consortium.inspect(
            lambda n: n.state.get("data_records", record)
        )
        if row is None:
            future.set_exception(ConsortiumError(f"no record {record.hex()[:16]}… on the ledger"))
            return future
        arguments = (consent, fi, row.blob, row.wrapped_key, tuple(fields), fmt)
        self._tell(_Release(row.custodian, arguments, future), future)
        return future

    def _tell(self, message: object, future: Future[Any]) -> None:
        try:
            self._ref.tell(message)
        except pykka.ActorDeadError:
            future.set_exception(ConsortiumStopped("the data platform has stopped"))

    def stop(self) -> None:
        """Stop taking blocks, fail what is in flight, stop the actors and the timer."""
        self._subscription.close()
        self._stop_actors()

    def _stop_actors(self) -> None:
        self._ref.stop()
        for ref in self._subsystem_refs:
            ref.stop()
        self._timers.stop()

    def __enter__(self) -> DataPlatform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
