"""Serves the hosts connected to one validator: submissions, queries and block notices.

Runs on the network thread except ``on_commit`` (the validator's thread) and the notifier
thread. Nothing here waits on the validator: requests go to it by ``tell``, and its answers come
back through callbacks that only queue frames for the network thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import msgspec
import pykka

from consortium.actors.messages import Inspect, Receipt, SubmitEvent, Subscribe as SubscribeListener
from consortium.actors.net.endpoint import Target
from consortium.actors.net.protocol import (
    REPLY,
    Answer,
    Notice,
    Query,
    ReceiptReply,
    RowChange,
    Submit,
    Subscribe,
    Unsubscribe,
    decode_request,
)
from consortium.events.codec import encode
from consortium.events.envelope import event_id
from consortium.events.errors import MalformedError
from consortium.events.logs import get_logger
from consortium.events.results import Code, EventResult
from consortium.ledger.node import CommitRecord, LedgerNode
from consortium.ledger.queries import QUERIES

log = get_logger(__name__)

Send = Callable[[Target, list[bytes]], bool]
MAX_SUBSCRIBERS = 256
NOTICE_QUEUE = 1024
_STOP = object()


class ClientService:
    def __init__(self, index: int, send: Send, max_subscribers: int = MAX_SUBSCRIBERS) -> None:
        self._index = index
        self._send = send
        self._max_subscribers = max_subscribers
        self._ref: pykka.ActorRef[Any] | None = None
        self._subscribers: dict[bytes, None] = {}  # insertion-ordered: the oldest goes first
        self._lock = threading.Lock()
        self._records: queue.Queue[Any] = queue.Queue(NOTICE_QUEUE)
        self._notifier = threading.Thread(
            target=self._notify, name=f"consortium-notices-{index}", daemon=True
        )
        self._notifier.start()

    def attach(self, ref: pykka.ActorRef[Any]) -> None:
        """Serve through this validator; called on its thread as it starts."""
        self._ref = ref
        ref.tell(SubscribeListener(self.on_commit))

    def detach(self) -> None:
        self._ref = None

    def close(self) -> None:
        self.detach()
        try:
            self._records.put(_STOP, timeout=5)
        except queue.Full:
            pass
        self._notifier.join(timeout=5)

    # ------------------------------------------------------- network thread

    def handle(self, route: bytes, payload: bytes) -> None:
        try:
            request = decode_request(payload)
        except MalformedError as exc:
            log.info("validator %d: malformed client request: %s", self._index, exc)
            return
        if isinstance(request, Submit):
            self._submit(route, request)
        elif isinstance(request, Query):
            self._query(route, request)
        elif isinstance(request, Subscribe):
            self._subscribe(route)
        elif isinstance(request, Unsubscribe):
            with self._lock:
                self._subscribers.pop(route, None)

    def _submit(self, route: bytes, request: Submit) -> None:
        reply_to = partial(self._answer_receipt, route, request.request)
        try:
            if self._ref is None:
                raise pykka.ActorDeadError("no validator attached")
            self._ref.tell(SubmitEvent(request.envelope, reply_to))
        except pykka.ActorDeadError:
            busy = EventResult(Code.OVERLOADED, "the validator is not running; retry later")
            reply_to(Receipt(event_id(request.envelope), busy, None, self._index))

    def _query(self, route: bytes, request: Query) -> None:
        spec = QUERIES.get(request.name)
        if spec is None:
            self._answer(route, request.request, error=f"unknown query {request.name!r}")
            return
        try:
            arguments = spec.argument_decoder.decode(request.arguments)
        except msgspec.DecodeError as exc:
            self._answer(route, request.request, error=f"arguments of {request.name}: {exc}")
            return

        def run(node: LedgerNode) -> None:
            try:
                value = spec.run(node, arguments)
            except Exception as exc:
                self._answer(route, request.request, error=f"{request.name} failed: {exc}")
            else:
                self._answer(route, request.request, value=value)

        try:
            if self._ref is None:
                raise pykka.ActorDeadError("no validator attached")
            self._ref.tell(Inspect(run))
        except pykka.ActorDeadError:
            self._answer(route, request.request, error="the validator is not running")

    def _subscribe(self, route: bytes) -> None:
        with self._lock:
            self._subscribers.pop(route, None)
            self._subscribers[route] = None
            while len(self._subscribers) > self._max_subscribers:
                del self._subscribers[next(iter(self._subscribers))]

    # ----------------------------------------------------- validator thread

    def _answer_receipt(self, route: bytes, number: int, receipt: Receipt) -> None:
        reply = ReceiptReply(
            number, receipt.event_id, receipt.result, receipt.height, receipt.validator
        )
        self._send(route, [REPLY, encode(reply)])

    def _answer(self, route: bytes, number: int, value: object = None, error: str = "") -> None:
        self._send(route, [REPLY, encode(Answer(number, msgspec.Raw(encode(value)), error))])

    def on_commit(self, record: CommitRecord) -> None:
        """Hand the block to the notifier; a full queue drops it (hosts see the gap)."""
        if not self._subscribers:
            return
        try:
            self._records.put_nowait(record)
        except queue.Full:
            log.warning("validator %d: block notices fell behind; dropped one", self._index)

    # ------------------------------------------------------ notifier thread

    def _notify(self) -> None:
        while True:
            record = self._records.get()
            if record is _STOP:
                return
            with self._lock:
                routes = list(self._subscribers)
            if not routes:
                continue
            payload = encode(notice_of_record(record))
            for route in routes:
                self._send(route, [REPLY, payload])


def notice_of_record(record: CommitRecord) -> Notice:
    changes = tuple(
        RowChange(table, key, msgspec.Raw(encode(row)))
        for table, rows in record.changes.items()
        for key, row in rows.items()
    )
    return Notice(record.committed, tuple(record.results), changes)
