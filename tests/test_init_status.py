"""``consortium init`` writes a cluster that starts as written; ``check`` accepts its configs,
``status`` follows its heights as events commit and each node's metrics endpoint shows them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from consortium.cli import main
from consortium.events.identity import Identity
from consortium.events.payments import Transfer
from consortium.local_cluster import NodeProcess, free_ports, wait_for
from consortium.node_config import ClientConfig, load_config
from consortium.remote import open_consortium
from tests.test_metrics import samples, scrape


@pytest.fixture
def testnet(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "net"
    assert main(["init", "--validators", "4", "--dir", str(directory)]) == 0
    for i, port in enumerate(free_ports(4)):
        config = directory / f"node-{i}.toml"
        text = config.read_text().replace("[node]\n", f'[node]\nmetrics = "127.0.0.1:{port}"\n')
        config.write_text(text)
    nodes = [
        NodeProcess(directory / f"node-{i}.toml", tmp_path / f"node-{i}.log") for i in range(4)
    ]
    for node in nodes:
        node.start()
    try:
        yield directory
    finally:
        for node in nodes:
            node.terminate()


def heights(directory: Path, capsys: pytest.CaptureFixture[str]) -> list[int]:
    code = main(["status", str(directory)])
    out = capsys.readouterr().out
    assert code == 0, out
    return [int(h) for h in re.findall(r"height (\d+)", out)]


def metrics_addresses(directory: Path) -> list[str]:
    configs = (directory / f"node-{i}.toml" for i in range(4))
    found = [re.search(r'metrics = "(.*)"', p.read_text()) for p in configs]
    return [m.group(1) for m in found if m is not None]


def figure(address: str, name: str, **labels: str) -> float:
    """One sample of a node's metrics; 0 for a labelled series not counted yet."""
    found = samples(scrape(address)[1])
    return sum(
        value
        for (sample, sample_labels), value in found.items()
        if sample == name and set(labels.items()) <= set(sample_labels)
    )


def test_init_check_and_status_of_a_running_cluster(
    testnet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configs = sorted(str(p) for p in testnet.glob("*-*.toml"))
    assert len(configs) == 8  # node-i and client-i
    assert main(["check", *configs]) == 0
    assert capsys.readouterr().out.count(": ok: ") == 8
    assert wait_for(lambda: main(["status", str(testnet)]) == 0, 60)
    capsys.readouterr()
    before = heights(testnet, capsys)
    assert len(before) == 4
    assert main(["status", str(testnet)]) == 0
    out = capsys.readouterr().out
    assert out.count("mempool 0") == 4 and out.count("round ") == 4, out
    addresses = metrics_addresses(testnet)
    assert len(addresses) == 4
    refusals_before = figure(addresses[0], "consortium_intake_refusals_total", code="malformed")
    with open_consortium(testnet / "client-0.toml") as consortium:
        stranger = consortium.participant(Identity.from_seed("stranger", b"init-status-test"))
        receipt = stranger.submit(Transfer(token="EUR", to=b"\1" * 32, amount=1)).result(60)
        refused = stranger.submit_signed(b"not an envelope").result(60)
        assert consortium.status().height >= (receipt.height or 0)
    assert receipt.height is not None  # refused by the rules (unknown author), in a block
    assert refused.result.code == "malformed"
    assert wait_for(lambda: min(heights(testnet, capsys)) > max(before), 60)
    assert wait_for(
        lambda: min(figure(a, "consortium_height") for a in addresses) >= receipt.height, 30
    )
    for address in addresses:
        assert figure(address, "consortium_blocks_committed_total") >= 1
        assert figure(address, "consortium_events_committed_total") >= 1
        code, health = scrape(address, "/health")
        assert code == 200, health
    assert figure(addresses[0], "consortium_intake_refusals_total", code="malformed") == (
        refusals_before + 1
    )
    assert main(["status", str(testnet / "node-2.toml")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("validator 2 (http://") and "mempool 0" in out and "healthy" in out


def test_init_refuses_a_used_directory_and_a_small_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "x").write_text("")
    assert main(["init", "--dir", str(tmp_path)]) == 2
    assert "not an empty directory" in capsys.readouterr().err
    assert main(["init", "--validators", "2", "--dir", str(tmp_path / "small")]) == 2
    assert "--allow-fewer-than-4" in capsys.readouterr().err
    small = tmp_path / "small"
    assert main(["init", "--validators", "1", "--allow-fewer-than-4", "--dir", str(small)]) == 0
    config = load_config(small / "client-0.toml")
    assert isinstance(config, ClientConfig) and config.validator == 0


def test_check_names_a_client_validator_outside_the_genesis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--dir", str(tmp_path / "net")]) == 0
    client = tmp_path / "net" / "client-0.toml"
    client.write_text(client.read_text().replace("validator = 0", "validator = 9"))
    capsys.readouterr()
    assert main(["check", str(client)]) == 2
    assert "client.validator is 9" in capsys.readouterr().err


def test_status_of_a_node_config_needs_its_metrics_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--dir", str(tmp_path / "net")]) == 0
    capsys.readouterr()
    assert main(["status", str(tmp_path / "net" / "node-0.toml")]) == 2
    assert "without a metrics address" in capsys.readouterr().err
