"""Prometheus metrics and a health check for the validators a process runs.

Exposition is ``prometheus_client``'s (an optional extra: ``pip install 'consortium[metrics]'``),
imported only when metrics are asked for, so ``import consortium`` stays cheap and works without
it. Each ``ConsortiumMetrics`` has its own ``CollectorRegistry``, never the process-wide one, so
several consortiums (or test clusters) in one process do not clash; every series is labelled
with the ``validator`` index.

Two kinds of figure, chosen for what they cost the validator's thread:

- events (commits, events committed, rounds a height took, log-append and commit latency,
  intake refusals by code) are counted by the validator loop as they happen, through
  ``ValidatorMetrics`` (the loop's ``LoopMetrics``): a few additions per block or refusal;
- levels (height, round, mempool size, peers heard from, age of the last commit, a scrubber's
  progress) are read only when Prometheus scrapes, on the HTTP server's thread, from plain
  attributes of the loop (``Liveness``): nothing at all on the validator's thread.

Latencies are measured with a monotonic clock, for these figures only: nothing measured here
reaches consensus, rules or the log.

``GET /health`` on the same address answers 200 when every validator of the process is live
(committed within ``STALE_COMMIT_S``, or idle with nothing waiting and its peers heard from) and
503 otherwise, with a JSON body of each validator's figures.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from consortium.events.errors import ConsortiumError
from consortium.events.logs import get_logger
from consortium.events.results import Code

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

    from consortium.ledger.liveness import Liveness

log = get_logger(__name__)

STALE_COMMIT_S = 30.0
"""A validator with events waiting and no commit for this long is reported unhealthy."""

INSTALL_HINT = "pip install 'consortium[metrics]' (or pip install prometheus_client)"

_APPEND_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_ROUND_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16)


class MetricsUnavailable(ConsortiumError):
    """Metrics were asked for but ``prometheus_client`` is not installed."""


def require_prometheus() -> Any:
    """The ``prometheus_client`` module; ``MetricsUnavailable`` saying what to install."""
    try:
        import prometheus_client
    except ImportError:
        raise MetricsUnavailable(
            f"metrics need the prometheus_client package: {INSTALL_HINT}; or leave metrics off"
        ) from None
    return prometheus_client


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``PORT`` for 127.0.0.1) as a host and a port; ValueError otherwise."""
    host, _, port_text = text.rpartition(":")
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535 or (":" in text and not host):
        raise ValueError(
            f"metrics address {text!r} is not HOST:PORT (e.g. 127.0.0.1:9464, or 0.0.0.0:9464 "
            "to be scraped from other machines)"
        )
    return (host.strip("[]") or "127.0.0.1"), port


class ScrubberCounts(Protocol):
    """The part of a scrubber's progress snapshot (``ledger.scrubber.ScrubberProgress``) that
    is exported."""

    @property
    def rows_scrubbed(self) -> int: ...

    @property
    def blocks_scrubbed(self) -> int: ...

    @property
    def passes_completed(self) -> int: ...

    @property
    def damage_found(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Health:
    """One validator's figures, as ``/health`` shows them."""

    validator: int
    height: int
    round: int
    mempool: int
    peers: int
    last_commit_age_s: float | None
    healthy: bool


def health_of(index: int, live: Liveness) -> Health:
    age = live.last_commit_age_s()
    peers = live.peers_heard()
    mempool = live.mempool_size
    recent = age is not None and age <= STALE_COMMIT_S
    idle = mempool == 0 and peers >= live.quorum_peers
    return Health(index, live.height, live.round, mempool, peers, age, recent or idle)


class ValidatorMetrics:
    """One validator's series, bound to its label: what its loop calls as things happen."""

    def __init__(self, families: _Families, index: int) -> None:
        label = str(index)
        self._families = families
        self._label = label
        self._commits = families.commits.labels(label)
        self._events = families.events.labels(label)
        self._rounds = families.rounds.labels(label)
        self._append = families.append_seconds.labels(label)
        self._commit = families.commit_seconds.labels(label)
        self._refusals: dict[Code, Any] = {}
        self.live: Liveness | None = None

    def committed(self, events: int, rounds: int, append_s: float, commit_s: float) -> None:
        """A block of ``events`` events decided in ``rounds`` rounds is in the log."""
        self._commits.inc()
        self._events.inc(events)
        self._rounds.observe(rounds)
        self._append.observe(append_s)
        self._commit.observe(commit_s)

    def refused(self, code: Code) -> None:
        """A participant's event was refused at intake with ``code``."""
        counter = self._refusals.get(code)
        if counter is None:
            counter = self._refusals[code] = self._families.refusals.labels(self._label, code.value)
        counter.inc()

    def watch(self, live: Liveness) -> None:
        """Read the levels from ``live`` at each scrape (the loop calls this as it starts)."""
        self.live = live
        f, label = self._families, self._label
        f.height.labels(label).set_function(lambda: live.height)
        f.round.labels(label).set_function(lambda: live.round)
        f.mempool.labels(label).set_function(lambda: live.mempool_size)
        f.peers.labels(label).set_function(live.peers_heard)
        f.last_commit_age.labels(label).set_function(lambda: live.last_commit_age_s() or 0.0)

    def watch_scrubber(self, progress: Callable[[], ScrubberCounts | None]) -> None:
        """Export a scrubber's progress, read by ``progress()`` at each scrape (None: no
        scrubber running). The hook for ``ledger.scrubber``: pass a callable that returns
        its latest ``ScrubberProgress`` snapshot."""
        self._families.scrubbers[self._label] = progress


class _Families:
    """The metric families of one registry, each with a ``validator`` label."""

    def __init__(self, prometheus: Any, registry: Any) -> None:
        def counter(name: str, doc: str, *labels: str) -> Any:
            return prometheus.Counter(name, doc, ("validator", *labels), registry=registry)

        def gauge(name: str, doc: str) -> Any:
            return prometheus.Gauge(name, doc, ("validator",), registry=registry)

        def histogram(name: str, doc: str, buckets: Iterable[float]) -> Any:
            return prometheus.Histogram(
                name, doc, ("validator",), buckets=tuple(buckets), registry=registry
            )

        self.commits = counter("consortium_blocks_committed", "Blocks committed")
        self.events = counter("consortium_events_committed", "Events committed in blocks")
        self.refusals = counter(
            "consortium_intake_refusals", "Participants' events refused at intake", "code"
        )
        self.rounds = histogram(
            "consortium_rounds_per_height", "Rounds a committed height took", _ROUND_BUCKETS
        )
        self.append_seconds = histogram(
            "consortium_log_append_seconds",
            "Writing a committed block to the log, its fsync included when durable",
            _APPEND_BUCKETS,
        )
        self.commit_seconds = histogram(
            "consortium_commit_seconds",
            "From the message that decided a block to the block applied (or from the previous "
            "block of a catch-up batch)",
            _APPEND_BUCKETS,
        )
        self.height = gauge("consortium_height", "Height of the last committed block")
        self.round = gauge("consortium_round", "Round of the height being decided")
        self.mempool = gauge("consortium_mempool_events", "Events waiting for a block")
        self.peers = gauge("consortium_peers_heard", "Peers heard from in the last few seconds")
        self.last_commit_age = gauge(
            "consortium_last_commit_age_seconds",
            "Seconds since the last commit of this run (0 before the first)",
        )
        self.scrubbers: dict[str, Callable[[], ScrubberCounts | None]] = {}
        registry.register(_ScrubberCollector(self.scrubbers))


class _ScrubberCollector:
    """Scrubber progress, read from each validator's snapshot callable at scrape time."""

    _FIELDS = (
        ("rows_scrubbed", "State rows the scrubber has re-read and hashed"),
        ("blocks_scrubbed", "Block records the scrubber has re-read"),
        ("passes_completed", "Complete scrubber passes over the log"),
        ("damage_found", "Damaged records the scrubber has found"),
    )

    def __init__(self, sources: dict[str, Callable[[], ScrubberCounts | None]]) -> None:
        from prometheus_client.core import CounterMetricFamily

        self._family = CounterMetricFamily
        self._sources = sources

    def collect(self) -> Iterator[Any]:
        snapshots = [(label, read()) for label, read in list(self._sources.items())]
        for field, doc in self._FIELDS:
            family = self._family(f"consortium_scrubber_{field}", doc, labels=("validator",))
            for label, snapshot in snapshots:
                if snapshot is not None:
                    family.add_metric((label,), getattr(snapshot, field))
            yield family

    def describe(self) -> Iterator[Any]:
        return iter(())


class ConsortiumMetrics:
    """The registry of one process's validators and, once ``serve``d, its HTTP endpoint."""

    def __init__(self) -> None:
        prometheus = require_prometheus()
        self._prometheus = prometheus
        self.registry = prometheus.CollectorRegistry()
        self._families = _Families(prometheus, self.registry)
        self._validators: dict[int, ValidatorMetrics] = {}
        self._server: Any = None

    def validator(self, index: int) -> ValidatorMetrics:
        """Validator ``index``'s series (the same ones again when it restarts)."""
        if index not in self._validators:
            self._validators[index] = ValidatorMetrics(self._families, index)
        return self._validators[index]

    def health(self) -> list[Health]:
        return [
            health_of(index, metrics.live)
            for index, metrics in sorted(self._validators.items())
            if metrics.live is not None
        ]

    def exposition(self) -> bytes:
        """The current figures in Prometheus' text format."""
        return bytes(self._prometheus.generate_latest(self.registry))

    def serve(self, address: str) -> str:
        """Serve ``/metrics`` (any path but ``/health``) and ``/health`` on ``HOST:PORT``;
        returns the address bound (a port 0 resolved)."""
        host, port = parse_address(address)
        try:
            server = _make_server(host, port, self._app)
        except OSError as exc:
            raise ConsortiumError(
                f"cannot serve metrics on {address}: {exc.strerror}; choose another port"
            ) from None
        self._server = server
        threading.Thread(
            target=server.serve_forever, name="consortium-metrics", daemon=True
        ).start()
        return f"{host}:{server.server_port}"

    def close(self) -> None:
        """Stop serving; safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def _app(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        if environ.get("PATH_INFO") == "/health":
            import json

            report = self.health()
            healthy = bool(report) and all(h.healthy for h in report)
            body = json.dumps(
                {
                    "status": "ok" if healthy else "unhealthy",
                    "validators": [_as_json(h) for h in report],
                }
            ).encode()
            status = "200 OK" if healthy else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json")])
            return [body]
        start_response("200 OK", [("Content-Type", self._prometheus.CONTENT_TYPE_LATEST)])
        return [self.exposition()]


def _as_json(health: Health) -> dict[str, Any]:
    age = health.last_commit_age_s
    return {
        "validator": health.validator,
        "height": health.height,
        "round": health.round,
        "mempool": health.mempool,
        "peers": health.peers,
        "last_commit_age_s": None if age is None else round(age, 3),
        "healthy": health.healthy,
    }


def _make_server(host: str, port: int, app: Any) -> Any:
    """A WSGI server answering each request on a thread of its own (a slow scraper never
    holds up another), without an access-log line per scrape. ``wsgiref`` is imported here:
    it costs more to import than the rest of this module."""
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            log.debug("metrics: " + format, *args)

    return make_server(host, port, app, server_class=Server, handler_class=QuietHandler)
