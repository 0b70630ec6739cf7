"""A remote host that lists several validators moves to the next when its validator stops.

Queries that time out are asked of the next validator; submissions without a receipt are sent
to it again, the same envelopes, so each transfer is paid once however the failover fell.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from consortium.key_file import read_secret_key
from consortium.local_cluster import ClusterFiles, wait_for
from consortium.network_node import NetworkedConsortium
from consortium.node_config import ClientConfig, ConfigError, load_config
from consortium.remote import RemoteConsortium
from tests.network_fixtures import answers
from tests.test_remote_recovery import _payer_and_payee, cluster, nodes, pay_each_once_across

__all__ = ["cluster", "nodes"]  # fixtures shared with test_remote_recovery


def _host(cluster: ClusterFiles) -> RemoteConsortium:
    key = read_secret_key(cluster.directory / "keys" / "host.key")
    return RemoteConsortium(
        cluster.genesis,
        key,
        0,
        cluster.addresses[0],
        fallbacks=[(1, cluster.addresses[1])],
        query_timeout_s=3,
        failover_after_s=3,
    )


def test_a_host_moves_to_its_fallback_and_pays_each_transfer_once(
    cluster: ClusterFiles, nodes: list[NetworkedConsortium]
) -> None:
    host = _host(cluster)
    try:
        assert wait_for(lambda: answers(host), 30)
        payer, payee = _payer_and_payee(host, cluster)
        # nodes[0] stops for good: only the fallback can answer from here on.
        pay_each_once_across(host, payer, payee, 50, nodes[0].stop)
        assert host.height() > 0  # a query, answered by the fallback
        assert host.validator == 1
    finally:
        host.stop()


def _client_file(cluster: ClusterFiles, tmp_path: Path, fallbacks: str) -> Path:
    path = tmp_path / "client-with-fallbacks.toml"
    path.write_text(
        "[client]\n"
        f'genesis = "{cluster.directory / "genesis.toml"}"\n'
        f'key_file = "{cluster.directory / "keys" / "host.key"}"\n'
        f'validator = 0\naddress = "{cluster.addresses[0]}"\n'
        f"fallbacks = [{fallbacks}]\n",
        "utf-8",
    )
    return path


def test_a_client_config_lists_fallbacks_and_check_validates_them(
    cluster: ClusterFiles, tmp_path: Path
) -> None:
    from consortium.commands.check import check_config

    second = f'{{ validator = 2, address = "{cluster.addresses[2]}" }}'
    good = _client_file(cluster, tmp_path, second)
    config = load_config(good)
    assert isinstance(config, ClientConfig)
    assert config.fallbacks == ((2, cluster.addresses[2]),)
    assert "then 2 at" in check_config(good)
    for bad in ('{ validator = 0, address = "tcp://x:1" }', '{ validator = 9, address = "a" }'):
        with pytest.raises(ConfigError, match=r"client\.fallbacks\[0\]\.validator"):
            check_config(_client_file(cluster, tmp_path, bad))
