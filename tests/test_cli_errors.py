"""Every bad input an operator was seen to give gets a one-line reason and a non-zero exit,
never a traceback (issue 25)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from consortium.cli import main
from consortium.local_cluster import ClusterFiles, write_cluster
from consortium.log_format import JsonFormatter


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse refusals
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.err


def keygen(directory: Path, name: str, role: str = "validator") -> list[str]:
    return [
        "keygen",
        "--name",
        name,
        "--role",
        role,
        "--org",
        name,
        "--out",
        str(directory / f"{name}.key"),
    ]


def test_unknown_role_lists_the_valid_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run(keygen(tmp_path, "a", role="valdator"), capsys)
    assert (
        code != 0
        and "'valdator' is not a role" in err
        and "validator" in err
        and "org_admin" in err
    )
    assert not (tmp_path / "a.key").exists()


@pytest.mark.parametrize("field", ["--name", "--org"])
def test_empty_names_are_refused(
    field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = keygen(tmp_path, "a")
    argv[argv.index(field) + 1] = " "
    code, err = run(argv, capsys)
    assert code != 0 and "empty" in err


@pytest.fixture()
def pubs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[Path]:
    for i in range(4):
        assert run(keygen(tmp_path, f"v{i}"), capsys)[0] == 0
    return [tmp_path / f"v{i}.pub" for i in range(4)]


def genesis_argv(tmp_path: Path, keys: list[Path], *extra: str) -> list[str]:
    out = str(tmp_path / "genesis.toml")
    return ["genesis", "--chain-id", "c", "--out", out, *extra, *map(str, keys)]


@pytest.mark.parametrize("count", [1, 2, 3])
def test_a_genesis_of_fewer_than_4_validators_needs_the_flag(
    count: int, pubs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run(genesis_argv(tmp_path, pubs[:count]), capsys)
    assert code != 0 and "--allow-fewer-than-4" in err
    assert not (tmp_path / "genesis.toml").exists()
    assert run(genesis_argv(tmp_path, pubs[:count], "--allow-fewer-than-4"), capsys)[0] == 0


def test_an_empty_chain_id_is_refused(
    pubs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = genesis_argv(tmp_path, pubs)
    argv[argv.index("--chain-id") + 1] = ""
    code, err = run(argv, capsys)
    assert code != 0 and "chain id is empty" in err


def test_a_secret_key_file_is_refused_by_genesis(
    pubs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = [pubs[0].with_suffix(".key"), *pubs[1:]]
    code, err = run(genesis_argv(tmp_path, keys), capsys)
    assert code != 0 and "SECRET" in err and "v0.pub" in err
    assert not (tmp_path / "genesis.toml").exists()


def test_demo_refuses_negative_events_and_a_file_as_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run(["demo", "--events", "-3", "--data", str(tmp_path)], capsys)
    assert code != 0 and "--events" in err
    readme = tmp_path / "README.md"
    readme.write_text("not a directory")
    code, err = run(["demo", "--data", str(readme)], capsys)
    assert code != 0 and "is a file" in err


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> ClusterFiles:
    return write_cluster(str(tmp_path_factory.mktemp("cluster")), 4)  # a str path is accepted


def bad_node_config(cluster: ClusterFiles, tmp_path: Path, old: str, new: str) -> str:
    text = cluster.node_config(0).read_text()
    assert old in text
    path = cluster.directory / f"bad-{tmp_path.name}.toml"
    path.write_text(text.replace(old, new))
    return str(path)


def node_error(
    cluster: ClusterFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str
) -> str:
    code, err = run(["node", "--config", bad_node_config(cluster, tmp_path, old, new)], capsys)
    assert code != 0
    return err


def test_a_node_config_missing_a_peer(
    cluster: ClusterFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = node_error(cluster, tmp_path, capsys, f'3 = "{cluster.addresses[3]}"', "")
    assert "no address for validator(s) [3]" in err


def test_a_peer_index_out_of_range(
    cluster: ClusterFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = node_error(cluster, tmp_path, capsys, "3 = ", "7 = ")
    assert "peers.7" in err and "0..3" in err


def test_a_public_key_file_as_key_file_is_not_told_to_chmod(
    cluster: ClusterFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = node_error(cluster, tmp_path, capsys, "validator-0.key", "validator-0.pub")
    assert "public key file" in err and "chmod" not in err


def test_a_negative_timeout_is_named(
    cluster: ClusterFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = node_error(
        cluster, tmp_path, capsys, "\n[peers]\n", "\n[ledger]\ntimeout_propose_ms = -5\n\n[peers]\n"
    )
    assert "ledger.timeout_propose_ms" in err and "block_time_ms" not in err


def test_bad_hex_in_client_keys_names_the_field(
    cluster: ClusterFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = node_error(cluster, tmp_path, capsys, 'client_keys = ["', 'client_keys = ["zz')
    assert "node.client_keys[0]" in err


def test_verbose_and_log_format_are_accepted_after_the_subcommand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = keygen(tmp_path, "h", role="host")
    assert run(["-v", *argv[:1], "--log-format", "json", *argv[1:], "-v"], capsys)[0] == 0


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("consortium ")


def test_json_log_lines_carry_the_validator_fields() -> None:
    record = logging.LogRecord("consortium.x", logging.INFO, "f", 1, "committed %d", (5,), None)
    record.validator = 2
    record.height = 5
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "committed 5" and line["validator"] == 2 and line["height"] == 5


def test_logging_options_given_before_the_subcommand_are_not_reset_after_it() -> None:
    from consortium.cli import _parser

    tail = ["--name", "a", "--role", "host", "--org", "o", "--out", "x.key"]
    before = _parser().parse_args(["-v", "--log-format", "json", "keygen", *tail])
    after = _parser().parse_args(["keygen", *tail, "-v", "--log-format", "json"])
    neither = _parser().parse_args(["keygen", *tail])
    assert (
        (before.verbose, before.log_format) == (after.verbose, after.log_format) == (True, "json")
    )
    assert (neither.verbose, neither.log_format) == (False, "text")
