"""The process's timer thread: timers fire in deadline order, and stale ones are dropped unseen.

Delays here are tens of milliseconds and every wait polls up to a generous deadline, so a slow
machine makes the tests slower, never wrong.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from consortium.actors.timers import TimerService
from consortium.consensus.actions import Step, Timeout
from tests.consortium_fixtures import wait_until
from tests.core_harness import MemoryNetwork

PATIENCE_S = 10.0


@pytest.fixture
def timers() -> Iterator[TimerService]:
    service = TimerService()
    yield service
    service.stop()


def test_timers_fire_in_deadline_order(timers: TimerService) -> None:
    fired: list[int] = []
    done = threading.Event()
    for delay in (60, 20, 40):
        timers.call_later(delay, lambda delay=delay: fired.append(delay))
    timers.call_later(80, done.set)
    assert done.wait(PATIENCE_S)
    assert fired == [20, 40, 60]


def test_a_timer_that_went_stale_never_fires(timers: TimerService) -> None:
    fired: list[str] = []
    done = threading.Event()
    current = {"height": 1}
    timers.call_later(20, lambda: fired.append("stale"), lambda: current["height"] <= 1)
    timers.call_later(40, lambda: fired.append("wanted"), lambda: current["height"] <= 2)
    current["height"] = 2
    timers.call_later(60, done.set)
    assert done.wait(PATIENCE_S)
    assert fired == ["wanted"]


def test_stale_timers_go_in_one_pass_when_the_earliest_is_stale(timers: TimerService) -> None:
    """A hundred heights' timers, all stale: the heap empties at the first stale deadline,
    not one deadline at a time (which would wake the thread a hundred times)."""
    current = {"height": 0}
    fired: list[int] = []
    for height in range(100):
        timers.call_later(
            30 + 50 * height,  # the last one is due five seconds from now
            lambda height=height: fired.append(height),
            lambda height=height: current["height"] <= height,
        )
    later = threading.Event()
    timers.call_later(60_000, later.set)  # wanted, and far off
    current["height"] = 100
    assert wait_until(lambda: timers.pending() == 1, PATIENCE_S)
    assert fired == []
    assert not later.is_set()


def test_a_stale_verdict_is_taken_once_the_earliest_deadline_passes(
    timers: TimerService,
) -> None:
    """Stale timers behind a wanted earliest one wait for it: they are dropped, not fired."""
    current = {"height": 0}
    fired: list[str] = []
    timers.call_later(30, lambda: fired.append("first"))
    timers.call_later(5_000, lambda: fired.append("stale"), lambda: current["height"] == 0)
    current["height"] = 1
    assert wait_until(lambda: fired == ["first"], PATIENCE_S)
    assert wait_until(lambda: timers.pending() == 0, PATIENCE_S)
    assert fired == ["first"]


@pytest.mark.parametrize("step", [s for s in Step if s is not Step.STATUS])
def test_the_core_may_not_act_on_a_left_height_and_ignores_it(step: Step) -> None:
    """What ``may_act_on`` calls stale, ``on_timeout`` ignores: the rule the timer thread
    relies on, checked again on every timeout the core harness delivers."""
    network = MemoryNetwork(4)
    network.submit(b"one event")
    assert network.run_until(lambda: all(core.height >= 2 for core in network.cores))
    core = network.cores[0]
    left = Timeout(step, core.height - 1, 0)
    assert not core.may_act_on(left)
    assert core.on_timeout(left, network.now) == []
    assert core.may_act_on(Timeout(step, core.height, 0))
    assert core.may_act_on(Timeout(Step.STATUS, 0, 0))
