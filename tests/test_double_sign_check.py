"""The double-sign check after log loss (docs/consensus.md, rule 11): a validator started
without its signing record signs nothing until blocks proposed after its start are committed
without it, on the pure core harness."""

from __future__ import annotations

from consortium.events.signing import Domain
from consortium.events.wire import decode_proposal, decode_vote
from tests.core_harness import MemoryNetwork

WATCHER = 3
PRECISION = {"max_clock_drift_ms": 50}


def _signed_heights(net: MemoryNetwork, i: int, since: int) -> list[int]:
    """The heights of what validator ``i`` signed after its first ``since`` signatures."""
    return [
        decode_proposal(body).height if domain is Domain.PROPOSAL else decode_vote(body).height
        for domain, body in net.signed[i][since:]
    ]


def test_a_validator_without_its_signing_record_signs_only_after_two_heights() -> None:
    net = MemoryNetwork(4, timeouts=PRECISION)
    net.commit_in_turn(3)
    net.advance_to(net.now + 10_000)  # its new log is younger than block 1: it replaced one
    net.crash(WATCHER)
    net.restart(WATCHER, lost_record=True)
    since = len(net.signed[WATCHER])
    net.commit_in_turn(1)  # height 4, proposed within the precision of the restart: does not count
    net.advance_to(net.now + 100)
    net.commit_in_turn(2)  # heights 5 and 6 count
    assert _signed_heights(net, WATCHER, since) == []
    assert not net.cores[WATCHER].watching
    net.commit_in_turn(1)
    assert set(_signed_heights(net, WATCHER, since)) == {7}


def test_a_validator_with_its_record_signs_at_once() -> None:
    """The control: the same run without the watch signs at the very next height."""
    net = MemoryNetwork(4, timeouts=PRECISION)
    net.commit_in_turn(3)
    net.crash(WATCHER)
    net.restart(WATCHER)
    since = len(net.signed[WATCHER])
    net.commit_in_turn(1)
    assert set(_signed_heights(net, WATCHER, since)) == {4}


def test_a_validator_that_lost_its_whole_log_catches_up_before_it_signs() -> None:
    net = MemoryNetwork(4, timeouts=PRECISION)
    net.commit_in_turn(5)
    net.advance_to(net.now + 10_000)  # block 1 is older than any timely block: an old chain
    net.crash(WATCHER)
    net.restart(WATCHER, lost_record=True, wipe=True)
    since = len(net.signed[WATCHER])
    assert net.run_until(lambda: net.heights()[WATCHER] == 5)
    assert net.cores[WATCHER].watching
    net.advance_to(net.now + 100)
    net.commit_in_turn(2)
    # Height 1 is never held back (a new chain looks the same); no peer decides it any more.
    assert [h for h in _signed_heights(net, WATCHER, since) if h > 1] == []
    net.commit_in_turn(1)
    assert {h for h in _signed_heights(net, WATCHER, since) if h > 1} == {8}


def test_a_validator_back_on_the_empty_log_it_started_the_chain_with_does_not_watch() -> None:
    """It crashed before block 1 reached it, so its log is empty and holds no signing record,
    but the log is as old as the chain: it never signed anything it forgot. Held against its
    restart instead, block 1 looked old and it watched; with another validator down nothing
    would commit again (the simulator's process seed 1917)."""
    net = MemoryNetwork(4, timeouts=PRECISION)
    started = net.now
    net.crash(WATCHER)
    net.commit_in_turn(5, among=(0, 1, 2))
    net.advance_to(net.now + 10_000)
    net.restart(WATCHER, lost_record=True, log_created_ms=started)
    assert net.run_until(lambda: net.heights()[WATCHER] == 5)
    assert not net.cores[WATCHER].watching
    since = len(net.signed[WATCHER])
    net.commit_in_turn(1)
    assert set(_signed_heights(net, WATCHER, since)) == {6}


def test_a_validator_on_its_original_log_without_a_record_never_signed_and_does_not_watch() -> None:
    """Its log is as old as the chain and records every signature before it leaves: no
    record means it signed nothing (it lagged, or crashed before its first vote). Watching
    then, beside one validator that did lose its log, stalled the chain (the simulator's chaos
    seed 1400)."""
    net = MemoryNetwork(4, timeouts=PRECISION)
    started = net.now
    net.commit_in_turn(3)
    net.advance_to(net.now + 10_000)
    net.crash(WATCHER)
    net.restart(WATCHER, lost_record=True, log_created_ms=started)
    assert not net.cores[WATCHER].watching
    since = len(net.signed[WATCHER])
    net.commit_in_turn(1)
    assert set(_signed_heights(net, WATCHER, since)) == {4}


def test_a_new_chain_of_validators_without_records_still_commits() -> None:
    """Every validator of a new chain has an empty log: height 1 is not held back, and a
    block 1 as recent as a timely one ends the watch, or nobody would ever sign."""
    net = MemoryNetwork(4, timeouts=PRECISION)
    for i in range(4):
        net.restart(i, lost_record=True)
    net.commit_in_turn(2)
    assert not any(core.watching for core in net.cores)


def test_the_check_can_be_turned_off() -> None:
    net = MemoryNetwork(4, timeouts={**PRECISION, "double_sign_check_heights": 0})
    net.commit_in_turn(3)
    net.advance_to(net.now + 10_000)
    net.crash(WATCHER)
    net.restart(WATCHER, lost_record=True)
    assert not net.cores[WATCHER].watching
