"""``python -m tests.sim.cost``: what consensus costs per committed height as the consortium grows.

A healthy run (no fault drawn: no loss, delay, partition, crash or Byzantine validator) of the
simulator, which drives the production ``ValidatorLoop`` of every validator over a simulated
network, counts every message sent by kind (votes split into prevotes and precommits) and its
bytes. The counts are a function of the seed, the validator count and the workload alone, so they
read the same on any machine: the cost of a large consortium without its machines. Only the CPU
seconds per committed event depend on the machine; they are reported, never asserted.

Status gossip runs on a timer, not per height, so it is also given per validator per second of
virtual time: an idle consortium pays it and nothing else.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from consortium.events.wire import SignedVote, VoteKind, decode_peer_message, decode_vote
from tests.sim.faults import Fault
from tests.sim.run import START_MS, RunConfig, Simulation
from tests.sim.scheduler import Endpoint

SIZES = (4, 7, 10, 16, 31)
KINDS = ("proposal", "prevote", "precommit", "gossip", "status", "sync_request", "sync_response")


class HealthySimulation(Simulation):
    """A run with no fault drawn: the network delivers every message once, within its latency.

    It ends at the first convergence after the workload has closed (5 s after the healing at
    ``fault_ms``), not at the first moment every client happens to be idle, so the load, and
    with it the heights committed, is the same for every n."""

    def _plan_faults(self) -> None:
        self._after(self.config.fault_ms, Fault.HEAL, self._heal)

    def _check_convergence(self) -> None:
        if not self.workload.open:
            super()._check_convergence()


def message_kind(payload: bytes) -> str:
    """The peer message's tag, with votes told apart by their kind."""
    message = decode_peer_message(payload)
    if isinstance(message, SignedVote):
        return "prevote" if decode_vote(message.body).kind is VoteKind.PREVOTE else "precommit"
    return type(message).__struct_config__.tag  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Cost:
    """One healthy run's traffic: every message counted once, as sent to one recipient."""

    n: int
    heights: int
    events: int
    virtual_s: float
    cpu_s: float
    messages: Counter[str]
    bytes: Counter[str]

    def per_height_per_validator(self, counts: Counter[str], kind: str) -> float:
        """Of ``kind``, what one validator receives per committed height (on average)."""
        return counts[kind] / (self.n * max(1, self.heights))

    @property
    def status_per_validator_s(self) -> float:
        """Status messages one validator receives per second: the timer's cost, idle or not."""
        return self.messages["status"] / (self.n * self.virtual_s)

    @property
    def cpu_ms_per_event(self) -> float:
        """Process CPU per committed event, all n validators together (they share a process)."""
        return 1000 * self.cpu_s / max(1, self.events)

    @property
    def cpu_ms_per_height_per_validator(self) -> float:
        """What one validator's process would spend on a height, if the n shared the work alike."""
        return 1000 * self.cpu_s / (self.n * max(1, self.heights))


def measure(n: int, seed: int = 1, users: int = 8, load_ms: int = 1_000) -> Cost:
    """A healthy run of ``n`` validators: ``users`` clients and the issuer submit for
    ``load_ms`` plus the 5 s the simulator keeps its workload open after healing, one event in
    flight each; the run ends once all validators hold one log and one state."""
    config = RunConfig(seed, n, "network", fault_ms=load_ms, settle_ms=30_000, users=users)
    messages: Counter[str] = Counter()
    sizes: Counter[str] = Counter()

    counting_s = 0.0  # CPU spent decoding messages to count them, not part of the run's cost

    def count(sender: Endpoint, recipient: int, payload: bytes) -> None:
        nonlocal counting_s
        began = time.process_time()
        kind = message_kind(payload)
        messages[kind] += 1
        sizes[kind] += len(payload)
        counting_s += time.process_time() - began

    with tempfile.TemporaryDirectory(prefix=f"sim-cost-{n}-") as root:
        simulation = HealthySimulation(config, Path(root))
        simulation.network.observers.append(count)
        began = time.process_time()
        result = simulation.run()
        cpu_s = time.process_time() - began - counting_s
    if not result.ok:
        raise RuntimeError(f"healthy run of {n} validators broke: {result.violations[0].detail}")
    virtual_s = (simulation.scheduler.now - START_MS) / 1000
    events = simulation.checker.chain[result.height].header.log_size if result.height else 0
    return Cost(n, result.height, events, virtual_s, cpu_s, messages, sizes)


def table(costs: Sequence[Cost]) -> list[str]:
    """Messages and bytes one validator receives per committed height, by kind, for each n."""
    head = f"{'n':>3} {'heights':>7} {'events':>6} " + " ".join(f"{k:>13}" for k in KINDS)
    lines = ["messages per committed height per validator", head]
    for counts in ("messages", "bytes"):
        if counts == "bytes":
            lines += ["bytes per committed height per validator", head]
        for c in costs:
            values = getattr(c, counts)
            cells = " ".join(f"{c.per_height_per_validator(values, k):>13,.1f}" for k in KINDS)
            lines.append(f"{c.n:>3} {c.heights:>7} {c.events:>6} {cells}")
    lines.append(
        "per validator: status msgs/s; msgs, KB and CPU ms per height; CPU ms/event (all n)"
    )
    for c in costs:
        total = sum(c.messages.values()) / (c.n * max(1, c.heights))
        kb = sum(c.bytes.values()) / (c.n * max(1, c.heights)) / 1024
        lines.append(
            f"{c.n:>3} status/s {c.status_per_validator_s:>6.2f}  msgs/height {total:>8.1f}  "
            f"KB/height {kb:>6.1f}  CPU ms/height {c.cpu_ms_per_height_per_validator:>5.2f}  "
            f"CPU ms/event {c.cpu_ms_per_event:.2f} "
            f"({c.cpu_s:.1f} s, {c.virtual_s:.1f} s virtual)"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.sim.cost", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--validators", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--users", type=int, default=8, help="clients, one event in flight each")
    parser.add_argument("--load-ms", type=int, default=1_000, help="virtual ms before healing")
    args = parser.parse_args(argv)
    if min(args.validators) < 4:
        parser.error("give validator counts of 4 or more (n = 3f + 1 with f >= 1)")
    costs = []
    for n in args.validators:
        print(f"running {n} validators …", file=sys.stderr, flush=True)
        costs.append(measure(n, args.seed, args.users, args.load_ms))
    print("\n".join(table(costs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
