"""The files operators exchange (key files, TOML genesis, node configs) and the network's
authorisation decisions, without starting a process."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import msgspec
import pytest

from consortium.actors.net.claims import claim_matches
from consortium.actors.net.curve import raw_curve_public_key
from consortium.actors.net.zap import ZAP_VERSION, zap_reply
from consortium.cli import main
from consortium.demo import demo_genesis
from consortium.events.codec import encode
from consortium.events.identity import Identity
from consortium.events.signing import Domain
from consortium.events.wire import SignedVote, Status, SyncRequest, Vote, VoteKind
from consortium.genesis_file import genesis_toml, parse_genesis, read_genesis
from consortium.key_file import KeyFileError, read_public_key, read_secret_key
from consortium.node_config import ConfigError, NodeConfig, load_config
from consortium.rules.restitution import RESTITUTION_WORKFLOWS


def _keygen(path: Path, name: str, role: str, org: str) -> int:
    return main(["keygen", "--name", name, "--role", role, "--org", org, "--out", str(path)])


def test_keygen_writes_a_0600_secret_and_a_public_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "keys" / "north.key"
    assert _keygen(secret, "north", "validator", "north-bank") == 0
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    identity = read_secret_key(secret)
    public = read_public_key(tmp_path / "keys" / "north.pub")
    assert (public.name, public.organisation, public.role) == ("north", "north-bank", "validator")
    assert public.public_key == identity.public_key
    printed = capsys.readouterr()
    seed = bytes(identity.signing_key).hex()
    assert seed not in printed.out + printed.err
    assert seed not in (tmp_path / "keys" / "north.pub").read_text()
    # Never overwritten; the error says what to do.
    assert _keygen(secret, "north", "validator", "north-bank") == 2
    assert "choose another --out" in capsys.readouterr().err


def test_a_secret_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "k.key"
    assert _keygen(secret, "k", "host", "org") == 0
    os.chmod(secret, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        read_secret_key(secret)


def test_genesis_command_builds_validators_in_order_and_participants(tmp_path: Path) -> None:
    for i in range(4):
        assert _keygen(tmp_path / f"v{i}.key", f"v{i}", "validator", f"org-{i}") == 0
    assert _keygen(tmp_path / "admin.key", "admin", "org_admin", "org-0") == 0
    assert _keygen(tmp_path / "host.key", "host", "host", "org-0") == 0
    out = tmp_path / "genesis.toml"
    keys = [str(tmp_path / f"{n}.pub") for n in ("v2", "v0", "v1", "v3", "admin", "host")]
    code = main(["genesis", "--chain-id", "c1", "--token", "EUR:org-0", "--out", str(out), *keys])
    assert code == 0
    genesis = read_genesis(out)
    assert [v.name for v in genesis.validators] == ["v2", "v0", "v1", "v3"]
    assert [(p.name, p.role) for p in genesis.participants] == [("admin", "org_admin")]
    assert genesis.tokens[0].symbol == "EUR"
    assert main(["genesis", "--chain-id", "c1", "--out", str(tmp_path / "g2.toml"), keys[4]]) == 2


def test_toml_genesis_reads_back_to_the_same_hash_with_workflows() -> None:
    genesis, _ = demo_genesis()
    genesis = msgspec.structs.replace(genesis, workflows=RESTITUTION_WORKFLOWS)
    assert parse_genesis(genesis_toml(genesis)).hash == genesis.hash


def test_node_config_refuses_unknown_settings(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text(
        '[node]\ngenesis = "g.toml"\nkey_file = "k.key"\ndata_dir = "d"\n'
        'listen = "tcp://127.0.0.1:1"\n[ledger]\ndurabel = false\n'
    )
    with pytest.raises(ConfigError, match="durabel"):
        load_config(path)


def test_node_config_reads_the_block_bounds_and_refuses_impossible_ones(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    node = (
        '[node]\ngenesis = "g.toml"\nkey_file = "k.key"\ndata_dir = "d"\n'
        'listen = "tcp://127.0.0.1:1"\n[ledger]\nmax_block_events = 300\n'
    )
    path.write_text(node + "block_time_ms = 50\n")
    config = load_config(path)
    assert isinstance(config, NodeConfig)
    assert (config.ledger.max_block_events, config.ledger.block_time_ms) == (300, 50)
    path.write_text(node + "block_time_ms = 501\n")
    with pytest.raises(ConfigError, match="half of timeout_propose_ms"):
        load_config(path)


def test_zap_admits_only_known_curve_keys() -> None:
    known = Identity.generate("v0").public_key
    users = {raw_curve_public_key(known): "validator:0"}
    stranger = raw_curve_public_key(Identity.generate("x").public_key)

    def request(key: bytes) -> list[bytes]:
        return [ZAP_VERSION, b"1", b"consortium", b"127.0.0.1", b"", b"CURVE", key]

    assert zap_reply(request(raw_curve_public_key(known)), users.get) == (
        [ZAP_VERSION, b"1", b"200", b"OK", b"validator:0", b""],
        "validator:0",
    )
    reply, user = zap_reply(request(stranger), users.get)
    assert user is None and reply[2] == b"400"
    assert zap_reply([*request(stranger)[:5], b"NULL"], users.get)[1] is None


def test_a_message_claiming_another_sender_is_refused() -> None:
    assert claim_matches(1, encode(Status(1, 5)))
    assert not claim_matches(2, encode(Status(1, 5)))
    assert not claim_matches(2, encode(SyncRequest(1, 5)))
    vote = encode(Vote(VoteKind.PREVOTE, 3, 0, b"h" * 32, 1))
    signed = encode(SignedVote(vote, Identity.generate("v").sign(Domain.PREVOTE, "c", vote)))
    assert claim_matches(1, signed)
    assert not claim_matches(0, signed)
    assert not claim_matches(0, b"\xc1junk")
    deep = b"\x92\xa1x" + b"\x91" * 100_000 + b"\xc0"  # was a RecursionError from msgspec
    assert not claim_matches(0, deep)
