"""Metrics and health of an embedded consortium; the status query; settings refused by name."""

from __future__ import annotations

import dataclasses
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from consortium.api import Consortium
from consortium.config import ConsortiumConfig
from consortium.consensus.config import ConsensusConfig
from consortium.events.identity import Identity
from consortium.events.payments import Transfer
from consortium.metrics import (
    STALE_COMMIT_S,
    ConsortiumMetrics,
    MetricsUnavailable,
    health_of,
    parse_address,
)
from consortium.node_config import ConfigError, load_node_config
from tests.consortium_fixtures import FAST, start


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(address: str, path: str = "/metrics") -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{address}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def observed(tmp_path: Path) -> Iterator[Consortium]:
    c = start(tmp_path, dataclasses.replace(FAST, metrics="127.0.0.1:0"))
    yield c
    c.stop()


def test_an_embedded_consortium_serves_metrics_and_health(observed: Consortium) -> None:
    assert observed.metrics_address is not None
    stranger = observed.participant(Identity.from_seed("stranger", b"metrics-test"), 0)
    receipt = stranger.submit(Transfer(token="EUR", to=b"\1" * 32, amount=1)).result(30)
    assert receipt.height is not None  # refused by the rules, in a block
    refused = stranger.submit_signed(b"not an envelope").result(30)
    assert refused.height is None and refused.result.code == "malformed"
    figures = samples(scrape(observed.metrics_address)[1])
    zero = (("validator", "0"),)
    assert figures[("consortium_height", zero)] >= receipt.height
    assert figures[("consortium_blocks_committed_total", zero)] >= 1
    assert figures[("consortium_events_committed_total", zero)] >= 1
    assert figures[("consortium_rounds_per_height_count", zero)] >= 1
    assert figures[("consortium_log_append_seconds_count", zero)] >= 1
    assert figures[("consortium_intake_refusals_total", (("code", "malformed"), *zero))] == 1
    assert figures[("consortium_peers_heard", zero)] == 3
    assert {v for (name, v) in figures if name == "consortium_height"} == {
        (("validator", str(i)),) for i in range(4)
    }
    for field in ("rows_scrubbed", "blocks_scrubbed", "passes_completed", "damage_found"):
        assert (f"consortium_scrubber_{field}_total", zero) in figures  # each validator's scrubber
    assert figures[("consortium_scrubber_damage_found_total", zero)] == 0
    code, body = scrape(observed.metrics_address, "/health")
    report = json.loads(body)
    assert code == 200 and report["status"] == "ok"
    assert [v["validator"] for v in report["validators"]] == [0, 1, 2, 3]
    assert report["validators"][0]["height"] >= receipt.height


def test_the_status_query_says_round_mempool_peers_and_last_commit(
    observed: Consortium,
) -> None:
    before = observed.status(1)
    assert before.validator == 1 and before.mempool == 0
    assert before.last_commit_ms is None and before.last_commit_age_s is None
    stranger = observed.participant(Identity.from_seed("stranger", b"status-test"), 1)
    height = stranger.submit(Transfer(token="EUR", to=b"\1" * 32, amount=1)).result(30).height
    after = observed.status(1)
    assert height is not None and after.height >= height
    assert after.round is not None and after.round >= 0
    assert after.last_commit_ms is not None and after.last_commit_age_s is not None
    assert after.peers == 3


class _Live:
    def __init__(self, mempool: int, peers: int, age: float | None) -> None:
        self.height, self.round, self.mempool_size, self.quorum_peers = 5, 0, mempool, 2
        self._peers, self._age = peers, age

    def peers_heard(self) -> int:
        return self._peers

    def last_commit_age_s(self) -> float | None:
        return self._age


@pytest.mark.parametrize(
    ("mempool", "peers", "age", "healthy"),
    [
        (3, 0, 1.0, True),  # committed lately
        (0, 2, None, True),  # idle, with enough peers to go on
        (0, 1, STALE_COMMIT_S * 2, False),  # idle, too few peers to commit anything
        (3, 3, STALE_COMMIT_S * 2, False),  # events waiting, no commit for long
        (3, 3, None, False),  # events waiting, never committed in this run
    ],
)
def test_health_is_recent_commits_or_idle_with_peers(
    mempool: int, peers: int, age: float | None, healthy: bool
) -> None:
    assert health_of(0, _Live(mempool, peers, age)).healthy is healthy


def test_the_registry_is_per_consortium() -> None:
    """Two registries in one process: the same series, counted apart."""
    first, second = ConsortiumMetrics(), ConsortiumMetrics()
    first.validator(0).committed(events=4, rounds=1, append_s=0.001, commit_s=0.002)
    second.validator(0)
    key = ("consortium_events_committed_total", (("validator", "0"),))
    assert samples(first.exposition().decode())[key] == 4
    assert samples(second.exposition().decode())[key] == 0


def test_scrubber_progress_is_read_at_each_scrape() -> None:
    metrics = ConsortiumMetrics()

    @dataclasses.dataclass
    class Progress:
        rows_scrubbed: int = 10
        blocks_scrubbed: int = 3
        passes_completed: int = 1
        damage_found: int = 0

    progress = Progress()
    metrics.validator(2).watch_scrubber(lambda: progress)
    key = ("consortium_scrubber_rows_scrubbed_total", (("validator", "2"),))
    assert samples(metrics.exposition().decode())[key] == 10
    progress.rows_scrubbed = 25
    assert samples(metrics.exposition().decode())[key] == 25


def test_metrics_without_prometheus_client_say_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(MetricsUnavailable, match=r"pip install 'consortium\[metrics\]'"):
        ConsortiumMetrics()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timeout_propose_ms", -5),
        ("timeout_propose_ms", 0),
        ("timeout_vote_ms", -1),
        ("timeout_delta_ms", -1),
        ("max_clock_drift_ms", -1),
        ("mempool_capacity", 0),
        ("max_pending_submissions", 0),
        ("state_cache_rows", -1),
        ("submit_wait_s", -0.5),
        ("submit_wait_s", float("nan")),
    ],
)
def test_a_bad_setting_is_refused_by_its_name(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"^{field} is") as refused:
        ConsortiumConfig(**{field: value})  # type: ignore[arg-type]
    assert "block_time_ms" not in str(refused.value)


@pytest.mark.parametrize(
    "field", ["timeout_propose_ms", "timeout_vote_ms", "sync_retry_ms", "sync_batch_blocks"]
)
def test_consensus_settings_are_refused_by_their_name(field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field} is -1; it must be at least"):
        ConsensusConfig("chain", (b"k" * 32,), **{field: -1})  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["9464x", "host:", ":9464", "h:70000", "h:-1"])
def test_a_bad_metrics_address_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not HOST:PORT"):
        ConsortiumConfig(metrics=text)


def test_metrics_addresses() -> None:
    assert parse_address("9464") == ("127.0.0.1", 9464)
    assert parse_address("0.0.0.0:9464") == ("0.0.0.0", 9464)
    assert parse_address("[::1]:0") == ("::1", 0)


NODE_FILE = """
[node]
genesis = "genesis.toml"
key_file = "v.key"
data_dir = "data"
listen = "tcp://127.0.0.1:1"
{node}
[ledger]
{ledger}
"""


@pytest.mark.parametrize(
    ("node", "ledger", "message"),
    [
        ("", 'metrics = "127.0.0.1:9464"', "ledger.metrics: metrics belongs under [node]"),
        ('metrics = "nine"', "", "node.metrics address 'nine' is not HOST:PORT"),
        ("", "timeout_vote_ms = 0", "ledger.timeout_vote_ms is 0; it must be at least 1"),
        ("", 'timeout_vote_ms = "x"', "`ledger.timeout_vote_ms`"),
    ],
)
def test_a_node_file_names_the_bad_setting(
    tmp_path: Path, node: str, ledger: str, message: str
) -> None:
    path = tmp_path / "node.toml"
    path.write_text(NODE_FILE.format(node=node, ledger=ledger))
    with pytest.raises(ConfigError) as refused:
        load_node_config(path)
    assert message in str(refused.value)


def test_a_node_file_sets_the_metrics_address(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text(NODE_FILE.format(node='metrics = "0.0.0.0:9464"', ledger=""))
    assert load_node_config(path).ledger.metrics == "0.0.0.0:9464"
