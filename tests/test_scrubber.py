"""The scrubber: passes over a validator's log find damaged rows and blocks, at a bounded rate,
and a running validator whose stored state is damaged rebuilds it from its log."""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import lmdb
import msgspec
import pytest

from consortium.actors.messages import ReadScrubberProgress
from consortium.api import Consortium
from consortium.demo import demo_genesis
from consortium.demo.common import identity
from consortium.events.block import Block
from consortium.events.codec import encode
from consortium.events.identity import Identity
from consortium.events.payments import Transfer
from consortium.ledger.scrubber import (
    Damage,
    Scrubber,
    ScrubberConfig,
    ScrubberProgress,
    certified_digests,
)
from consortium.node_config import ConfigError, NodeConfig, load_config
from consortium.rules.engine import genesis_state
from consortium.rules.rulebook import RULESET
from consortium.rules.tables import Account
from consortium.storage.log import EventLog
from consortium.storage.records import BLOCK_DECODER, frame, unframe
from consortium.storage.state_rows import row_key, stored_rows
from tests.consortium_fixtures import FAST, funded_users, start, wait_until

USERS = 4
FUNDS = 1_000_000


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stopped 4-validator consortium's data directory: funded users and a few transfers."""
    path = tmp_path_factory.mktemp("ledger")
    c = start(path)
    try:
        users = funded_users(c, USERS, FUNDS)
        for i in range(8):
            to = users[(i + 1) % USERS].public_key
            transfer = Transfer(token="NORTH", to=to, amount=i + 1)
            assert users[i % USERS].submit(transfer).result(10).accepted
        assert wait_until(lambda: len({c.height(v) for v in range(4)}) == 1)
    finally:
        c.stop()
    return path


def _copy(ledger: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(ledger, target)
    return target


def _user_account(validator_dir: Path) -> tuple[bytes, Account, Identity]:
    """A funded user's stored account row: its key, the row, the user."""
    users = {u.public_key: u for u in (identity(f"test-user-{i}") for i in range(USERS))}
    with EventLog(validator_dir) as event_log:
        rows = event_log.state_rows(RULESET.schema, cache_rows=0)
        found = [(k, a, users[a.owner]) for k, a in rows.rows("accounts") if a.owner in users]
        rows.close()
    return found[0]


def _rewrite_row(validator_dir: Path, table: str, key: bytes, row: object) -> None:
    """Store ``row`` under ``key`` in place of what is there, framed as the log frames it: a
    record that passes its checksum and says something the certified digest does not."""
    ((_, stored_key, record),) = stored_rows({table: {key: encode(row)}})
    assert stored_key == row_key(table, key) and record is not None
    env = lmdb.open(str(validator_dir), max_dbs=16)
    try:
        with env.begin(write=True, db=env.open_db(b"state")) as txn:
            assert txn.get(stored_key) is not None
            txn.put(stored_key, record)
    finally:
        env.close()


def _rewrite_block(validator_dir: Path, height: int, change: Callable[[Block], Block]) -> None:
    """Replace the record of block ``height`` by a correctly framed one holding ``change`` of
    its block: its checksum passes, so only a check of its content can find it."""
    env = lmdb.open(str(validator_dir), max_dbs=16)
    key = height.to_bytes(8, "big")
    try:
        db = env.open_db(b"blocks")
        with env.begin(write=True, db=db) as txn:
            record = txn.get(key)
            payload = None if record is None else unframe(b"blocks", key, record)
            assert payload is not None
            stored = BLOCK_DECODER.decode(payload)
            block = change(stored.committed.block)
            committed = msgspec.structs.replace(stored.committed, block=block)
            changed = msgspec.structs.replace(stored, committed=committed)
            txn.put(key, frame(b"blocks", key, encode(changed)))
    finally:
        env.close()


def _scrub(validator_dir: Path, config: ScrubberConfig) -> tuple[list[Damage], list[int], Scrubber]:
    """One pass over a stopped validator's log: the damage found, the units of each step."""
    genesis, _ = demo_genesis()
    paced: list[int] = []
    found: list[Damage] = []
    with EventLog(validator_dir, genesis, durable=False) as event_log:
        at_genesis = genesis_state(genesis, RULESET).table_digests()
        scrubber = Scrubber(
            event_log,
            RULESET.schema,
            certified_digests(event_log, at_genesis),
            config,
            threading.Lock(),
            found.append,
            paced.append,
        )
        assert scrubber.run_pass() == found
        scrubber.close()
    return found, paced, scrubber


def test_a_pass_over_an_intact_log_finds_nothing_and_reads_everything(
    ledger: Path, tmp_path: Path
) -> None:
    path = _copy(ledger, tmp_path) / "validator-1"
    with EventLog(path) as event_log:
        head = event_log.head_height
        events = sum(len(s.committed.block.events) for s in event_log.stored_blocks())
        rows = event_log.state_rows(RULESET.schema, cache_rows=0)
        row_count = rows.count()
        rows.close()
    found, paced, scrubber = _scrub(path, ScrubberConfig(step_units=32))
    assert found == []
    progress = scrubber.progress()
    assert (progress.rows_scrubbed, progress.blocks_scrubbed) == (row_count, head)
    assert progress.passes_completed == 1 and progress.damage_found == 0
    assert progress.last_pass_s is not None
    # Every unit of work was paced: each row, each block record and each of its events.
    assert sum(paced) == row_count + head + events


def test_each_step_does_at_most_the_configured_work(ledger: Path, tmp_path: Path) -> None:
    path = _copy(ledger, tmp_path) / "validator-2"
    with EventLog(path) as event_log:
        largest_block = max(1 + len(s.committed.block.events) for s in event_log.stored_blocks())
    step = max(largest_block, 5)
    _, paced, _ = _scrub(path, ScrubberConfig(step_units=step))
    assert paced and max(paced) <= step
    _, small_steps, _ = _scrub(path, ScrubberConfig(step_units=1))
    # Steps of one unit: each row alone, each block alone (with its events) however large.
    assert sum(small_steps) == sum(paced) and len(small_steps) > len(paced)
    assert max(small_steps) == largest_block


def test_a_rewritten_row_with_a_valid_checksum_is_found(ledger: Path, tmp_path: Path) -> None:
    path = _copy(ledger, tmp_path) / "validator-3"
    key, account, _ = _user_account(path)
    _rewrite_row(
        path, "accounts", key, msgspec.structs.replace(account, balance=account.balance + 1)
    )
    found, _, scrubber = _scrub(path, ScrubberConfig())
    assert len(found) == 1
    damage = found[0]
    assert damage.table == "accounts" and damage.in_state
    assert damage.first_key is not None and damage.last_key is not None
    assert damage.first_key <= key <= damage.last_key
    assert scrubber.progress().last_damage == damage


def test_a_row_that_does_not_decode_is_found(ledger: Path, tmp_path: Path) -> None:
    path = _copy(ledger, tmp_path) / "validator-3"
    key, _, _ = _user_account(path)
    _rewrite_row(path, "accounts", key, ["not", "an", "account"])
    found, _, _ = _scrub(path, ScrubberConfig())
    assert [(d.table, "cannot be read" in d.what) for d in found] == [("accounts", True)]


def test_a_row_failing_its_checksum_is_found(ledger: Path, tmp_path: Path) -> None:
    path = _copy(ledger, tmp_path) / "validator-3"
    key, _, _ = _user_account(path)
    env = lmdb.open(str(path), max_dbs=16)
    with env.begin(write=True, db=env.open_db(b"state")) as txn:
        stored = txn.get(row_key("accounts", key))
        assert stored is not None
        record = bytearray(stored)
        record[-1] ^= 0x01
        txn.put(row_key("accounts", key), bytes(record))
    env.close()
    found, _, _ = _scrub(path, ScrubberConfig())
    assert [(d.table, "checksum" in d.what) for d in found] == [("accounts", True)]


def test_a_block_whose_events_do_not_match_its_header_is_found(
    ledger: Path, tmp_path: Path
) -> None:
    path = _copy(ledger, tmp_path) / "validator-0"
    _rewrite_block(path, 1, lambda block: msgspec.structs.replace(block, events=()))
    found, _, _ = _scrub(path, ScrubberConfig())
    assert [(d.height, d.table) for d in found] == [(1, None)]
    assert "events root" in found[0].what


def _progress_of(c: Consortium, validator: int) -> ScrubberProgress:
    progress = c._validators[validator].ask(ReadScrubberProgress(), timeout=10)
    assert isinstance(progress, ScrubberProgress)
    return progress


def test_a_running_validator_repairs_a_damaged_row_and_agrees_with_its_peers(
    ledger: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Validator 3's stored row of an account says a balance its peers never committed, under
    a valid checksum: it opens fine and would answer that balance; its scrubber finds the row,
    and it rebuilds its state from its log."""
    path = _copy(ledger, tmp_path)
    key, account, user = _user_account(path / "validator-3")
    assert account.balance > 0
    _rewrite_row(path / "validator-3", "accounts", key, msgspec.structs.replace(account, balance=0))
    genesis, validators = demo_genesis()
    config = replace(FAST, scrubbing=ScrubberConfig(pass_pause_s=0.2))
    caplog.set_level(logging.WARNING, logger="consortium")
    with Consortium(genesis, path, validators, config) as c:
        assert wait_until(lambda: _progress_of(c, 3).damage_found >= 1, timeout_s=10)
        assert c.balance(account.owner, account.token, validator=3) == account.balance
        assert c.state_digest(3) == c.state_digest(0)
        damage = _progress_of(c, 3).last_damage
        assert isinstance(damage, Damage) and damage.table == "accounts"
        # Repaired, it goes on with its peers: a transfer from the damaged account commits.
        to = identity("test-user-0" if user.name != "test-user-0" else "test-user-1")
        transfer = Transfer(token=account.token, to=to.public_key, amount=5)
        assert c.participant(user, validator=3).submit(transfer).result(10).accepted
        assert wait_until(lambda: len({c.state_digest(v) for v in range(4)}) == 1)
        balances = {c.balance(account.owner, account.token, validator=v) for v in range(4)}
        assert len(balances) == 1
        for v in range(3):
            assert _progress_of(c, v).damage_found == 0
        # The damaged state's reader was released: the new state's and the scrubber's remain.
        readers = c.inspect(lambda node: list(node.log._state_readers), 3)
        assert len(readers) == 2
        assert c.inspect(lambda node: node.state.committed_rows in node.log._state_readers, 3)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("table accounts" in m and "height" in m for m in warnings), warnings
    assert any("rebuilt" in m and f"1 row(s) of accounts ({key.hex()})" in m for m in warnings)


def test_a_node_file_sets_the_scrubbing_and_refuses_bad_settings(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    node = (
        '[node]\ngenesis = "g.toml"\nkey_file = "k.key"\ndata_dir = "d"\n'
        'listen = "tcp://127.0.0.1:1"\n[ledger.scrubbing]\n'
    )
    path.write_text(node + "units_per_second = 500\npass_pause_s = 5\n")
    config = load_config(path)
    assert isinstance(config, NodeConfig)
    assert config.ledger.scrubbing == ScrubberConfig(units_per_second=500, pass_pause_s=5.0)
    for bad, named in (("units_per_second = 0", "positive"), ("unit_per_second = 5", "unit_")):
        path.write_text(node + bad + "\n")
        with pytest.raises(ConfigError, match=named):
            load_config(path)


def test_passes_during_commits_find_no_damage(tmp_path: Path) -> None:
    """Scrubbing without rest while blocks commit: each table is read from one snapshot and
    held against the digest at that snapshot's height, so commits never look like damage."""
    busy = ScrubberConfig(units_per_second=10_000_000, step_units=16, pass_pause_s=0)
    with start(tmp_path, replace(FAST, scrubbing=busy)) as c:
        users = funded_users(c, 4)
        receipts = [
            users[i % 4].submit(Transfer(token="NORTH", to=users[(i + 1) % 4].public_key, amount=1))
            for i in range(300)
        ]
        assert all(r.result(20).accepted for r in receipts)
        assert wait_until(lambda: min(_progress_of(c, v).passes_completed for v in range(4)) > 2)
        assert [_progress_of(c, v).damage_found for v in range(4)] == [0, 0, 0, 0]
