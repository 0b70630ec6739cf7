"""The simulated network: latency, loss, duplication, long delays, partitions and Twins sides.

Every send draws its fate from the run's network random stream, in send order, so the same seed
delivers the same bytes at the same virtual times. Links are directed: a partition may cut
``a -> b`` and leave ``b -> a`` open.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

from tests.sim.faults import Fault
from tests.sim.scheduler import Deliver, Endpoint, Scheduler

Observer = Callable[[Endpoint, int, bytes], None]
"""Sees every payload as it is sent (sender, recipient index, bytes), before any fault."""


class Network:
    def __init__(
        self, scheduler: Scheduler, rng: random.Random, faults: Counter[str], n: int
    ) -> None:
        self._scheduler = scheduler
        self._rng = rng
        self._faults = faults
        self.n = n
        self.endpoints: dict[int, list[Endpoint]] = {i: [Endpoint(i)] for i in range(n)}
        self.latency_ms = (2, 40)
        self.loss = 0.0
        self.duplicate = 0.0
        self.delay = 0.0
        self.cut: frozenset[tuple[int, int]] = frozenset()
        self.sides: dict[Endpoint, int] = {}
        self.split_honest = False
        self.observers: list[Observer] = []

    # ------------------------------------------------------------------ sending

    def broadcast(self, sender: Endpoint, payload: bytes) -> None:
        for index in range(self.n):
            if index != sender.index:
                self.send(sender, index, payload)

    def send(self, sender: Endpoint, recipient: int, payload: bytes) -> None:
        for observe in self.observers:
            observe(sender, recipient, payload)
        for target in self.endpoints[recipient]:
            if self.linked(sender, target):
                self._transmit(sender, target, payload)

    def _transmit(self, sender: Endpoint, target: Endpoint, payload: bytes) -> None:
        rng = self._rng
        if rng.random() < self.loss:
            self._faults[Fault.LOSS] += 1
            return
        copies = 1
        if rng.random() < self.duplicate:
            self._faults[Fault.DUPLICATE] += 1
            copies = 2
        for _ in range(copies):
            latency = rng.randint(*self.latency_ms)
            if rng.random() < self.delay:
                self._faults[Fault.DELAY] += 1
                latency += rng.randint(500, 5_000)
            self._scheduler.after(latency, Deliver(sender, target, payload))

    # ------------------------------------------------------------------- links

    def linked(self, a: Endpoint, b: Endpoint) -> bool:
        if (a.index, b.index) in self.cut:
            return False
        side_a, side_b = self.sides.get(a), self.sides.get(b)
        if side_a is None or side_b is None or side_a == side_b:
            return True
        involves_twin = len(self.endpoints[a.index]) > 1 or len(self.endpoints[b.index]) > 1
        return not involves_twin and not self.split_honest

    def heal(self) -> None:
        self.cut = frozenset()
        self.loss = 0.0
        self.delay = 0.0
