"""The state each validator keeps in its log: read on restart, rebuilt when it cannot be trusted."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import lmdb
import pytest

from consortium.demo import demo_genesis
from consortium.events.block import state_digest
from consortium.events.payments import Transfer
from consortium.ledger.node_state import open_state
from consortium.rules.rulebook import RULESET
from consortium.rules.tables import account_key
from consortium.storage.key_filter import KeyFilter
from consortium.storage.log import EventLog
from consortium.storage.state_rows import row_key
from tests.consortium_fixtures import FAST, funded_users, start, wait_until


def _run_transfers(path: Path, transfers: int) -> tuple[list[bytes], bytes, int]:
    """State digests of the four validators, alice's key and her balance after the transfers."""
    c = start(path)
    try:
        alice, bob = funded_users(c, 2)
        for _ in range(transfers):
            alice.submit(Transfer(token="NORTH", to=bob.public_key, amount=3)).result(10)
        assert wait_until(lambda: len({c.height(i) for i in range(4)}) == 1)
        balance = c.balance(alice.public_key, "NORTH")
        return [c.state_digest(i) for i in range(4)], alice.public_key, balance
    finally:
        c.stop()


def _edit(path: Path, db: bytes, key: bytes, edit: Callable[[bytes], bytes]) -> None:
    env = lmdb.open(str(path), max_dbs=16)
    with env.begin(write=True, db=env.open_db(db)) as txn:
        value = txn.get(key)
        assert value is not None
        txn.put(key, edit(bytes(value)))
    env.close()


def test_a_restart_reads_the_stored_state_without_replaying(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digests, alice, balance = _run_transfers(tmp_path, 5)

    def no_replay(*_: object) -> None:
        raise AssertionError("the state was rebuilt by replay")

    monkeypatch.setattr("consortium.ledger.node_state.rebuild_state", no_replay)
    c = start(tmp_path)
    try:
        assert [c.state_digest(i) for i in range(4)] == digests
        assert c.balance(alice, "NORTH") == balance
    finally:
        c.stop()


@pytest.mark.parametrize(
    ("validator", "db", "key", "edit"),
    [
        # table hashes that do not match the head's header
        (1, b"tables", b"accounts", lambda lanes: bytes([lanes[0] ^ 1]) + lanes[1:]),
        # a stored state behind the head
        (2, b"meta", b"state_height", lambda _: (1).to_bytes(8, "big")),
    ],
    ids=["hashes-not-matching-the-head", "state-behind-the-head"],
)
def test_a_stored_state_that_cannot_be_trusted_is_rebuilt(
    tmp_path: Path, validator: int, db: bytes, key: bytes, edit: Callable[[bytes], bytes]
) -> None:
    digests, _, _ = _run_transfers(tmp_path, 3)
    _edit(tmp_path / f"validator-{validator}", db, key, edit)
    c = start(tmp_path)
    try:
        assert c.state_digest(validator) == digests[validator]
    finally:
        c.stop()


def test_a_corrupt_row_is_found_on_open_and_the_state_rebuilt(tmp_path: Path) -> None:
    digests, alice, balance = _run_transfers(tmp_path, 3)
    path = tmp_path / "validator-3"
    key = account_key(alice, "NORTH")
    _edit(path, b"state", row_key("accounts", key), lambda row: row[:-1] + bytes([row[-1] ^ 1]))
    genesis, _ = demo_genesis()
    with EventLog(path, genesis) as event_log:
        state, _ = open_state(genesis, RULESET, event_log, cache_rows=16)
        assert state.get("accounts", key).balance == balance
        assert state_digest(state.table_digests()) == digests[3]


def test_the_row_cache_stays_within_its_bound(tmp_path: Path) -> None:
    digests, _, _ = _run_transfers(tmp_path, 2)
    genesis, _ = demo_genesis()
    with EventLog(tmp_path / "validator-0", genesis) as event_log:
        state, _ = open_state(genesis, RULESET, event_log, cache_rows=16)
        assert state_digest(state.table_digests()) == digests[0]
        rows = event_log.state_rows(RULESET.schema, cache_rows=4)
        participants = dict(rows.rows("participants"))
        assert len(participants) > 4
        for _ in range(3):
            for key, participant in participants.items():
                assert rows.get("participants", key) == participant
                assert rows.cached() <= 4
        rows.close()


def test_rows_read_through_a_tiny_cache_follow_every_commit(tmp_path: Path) -> None:
    c = start(tmp_path, dataclasses.replace(FAST, state_cache_rows=2))
    try:
        alice, bob = funded_users(c, 2)
        for n in range(1, 6):
            alice.submit(Transfer(token="NORTH", to=bob.public_key, amount=3)).result(10)
            assert wait_until(lambda: len({c.height(i) for i in range(4)}) == 1)
            assert c.balance(alice.public_key, "NORTH") == 1_000_000 - 3 * n
            assert c.balance(bob.public_key, "NORTH") == 1_000_000 + 3 * n
        assert len({c.state_digest(i) for i in range(4)}) == 1
    finally:
        c.stop()


def test_the_key_filter_never_hides_a_stored_key() -> None:
    keys = [("orders", i.to_bytes(8, "big")) for i in range(500)]
    absent = [("orders", i.to_bytes(9, "big")) for i in range(500)]
    roomy = KeyFilter()
    for key in keys:
        roomy.add(key)
    assert all(roomy.may_contain(key) for key in keys)
    assert sum(roomy.may_contain(key) for key in absent) < 5
    small = KeyFilter(bits=1024)  # 128 keys at most: past that, it filters nothing
    for key in keys[:128]:
        small.add(key)
    assert not small.saturated and all(small.may_contain(key) for key in keys[:128])
    small.add(keys[128])
    assert small.saturated and all(small.may_contain(key) for key in absent)


def test_a_filter_of_more_keys_than_it_holds_filters_nothing_and_reads_none() -> None:
    def unread() -> Iterator[object]:
        raise AssertionError("a saturated filter must not scan the store's keys")
        yield

    holding_too_many = KeyFilter.holding(129, unread(), bits=1024)
    assert holding_too_many.saturated and holding_too_many.may_contain(("orders", b"any"))
    assert KeyFilter.answering_maybe().may_contain(b"anything")
    holding_few = KeyFilter.holding(2, iter([b"a", b"b"]), bits=1024)
    assert holding_few.may_contain(b"a") and holding_few.may_contain(b"b")


def test_a_reader_opened_on_a_full_state_finds_every_row(tmp_path: Path) -> None:
    """The filter is filled by a scan on open; with a filter too small for the state it gives
    up filtering rather than hiding rows."""
    _run_transfers(tmp_path, 2)
    genesis, _ = demo_genesis()
    with EventLog(tmp_path / "validator-0", genesis) as event_log:
        for bits in (1 << 24, 8):
            rows = event_log.state_rows(RULESET.schema, cache_rows=4, filter_bits=bits)
            participants = dict(rows.rows("participants"))
            assert participants and all(
                rows.get("participants", k) == v for k, v in participants.items()
            )
            assert rows.get("participants", b"absent" * 5) is None
            rows.close()
