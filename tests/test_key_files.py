"""Key files sealed under a passphrase: written by keygen, opened only with the passphrase."""

from __future__ import annotations

from pathlib import Path

import pytest

import consortium
from consortium.cli import main
from consortium.key_file import KeyFileError, read_public_key, read_secret_key, write_key_pair


def test_a_sealed_key_opens_with_its_passphrase_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONSORTIUM_KEY_PASSPHRASE", raising=False)
    path = tmp_path / "k.key"
    _, identity = write_key_pair(path, "k", "host", "org", passphrase="correct horse")
    text = path.read_text()
    assert bytes(identity.signing_key).hex() not in text and "\nseed = " not in text
    assert read_secret_key(path, "correct horse").public_key == identity.public_key
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        read_secret_key(path, "wrong")
    with pytest.raises(KeyFileError, match="CONSORTIUM_KEY_PASSPHRASE"):
        read_secret_key(path)
    monkeypatch.setenv("CONSORTIUM_KEY_PASSPHRASE", "correct horse")
    assert consortium.read_secret_key(str(path)).public_key == identity.public_key
    assert read_public_key(tmp_path / "k.pub").public_key == identity.public_key
    with pytest.raises(KeyFileError, match="SECRET"):
        read_public_key(path, secret_allowed=False)


def test_keygen_seals_under_the_variable_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["keygen", "--name", "n", "--role", "validator", "--org", "o"]
    monkeypatch.setenv("MY_PASS", "s3cret")
    assert main([*argv, "--out", str(tmp_path / "a.key"), "--passphrase-env", "MY_PASS"]) == 0
    assert read_secret_key(tmp_path / "a.key", "s3cret").name == "n"
    assert main([*argv, "--out", str(tmp_path / "b.key"), "--passphrase-env", "UNSET_VAR"]) == 2
    assert "unset" in capsys.readouterr().err and not (tmp_path / "b.key").exists()
