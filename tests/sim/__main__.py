"""``python -m tests.sim``: sweep seeds across fault mixes and print what happened.

Examples::

    python -m tests.sim --seeds 10000                  # the long sweep, n = 4 and n = 7
    python -m tests.sim --seed 42 --validators 4 --mix chaos   # replay one seed
    python -m tests.sim --seeds 9 --validators 13 --fault-ms 300000   # n = 13, long runs

Exit status 1 when any run broke an invariant (or a canary run did not), with the seed and the
command that replays it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Iterator

from tests.sim.faults import MIXES, SWEEP_MIXES
from tests.sim.run import FAULT_MS, RunConfig, RunResult, run_seed

VALIDATOR_COUNTS = (4, 7, 10, 13)
"""n = 3f + 1 for f = 1 to 4; sweeps default to the two smallest, the cheapest per seed."""

BLOCK_TIMES_MS = (0, 40, 0, 250)
"""Proposers propose at once in half the runs and let blocks fill in the others, for a short
wait and for one a quarter of the propose timeout."""


def plan(
    seeds: int,
    start: int,
    validators: list[int],
    mixes: list[str],
    fault_ms: int = FAULT_MS,
) -> Iterator[RunConfig]:
    """Seed s runs every (n, mix) in turn, so a short sweep still covers every combination, and
    each combination in turn with every block time."""
    combos = [(n, mix) for n in validators for mix in mixes]
    for i in range(seeds):
        n, mix = combos[i % len(combos)]
        block_time_ms = BLOCK_TIMES_MS[i // len(combos) % len(BLOCK_TIMES_MS)]
        yield RunConfig(start + i, n, mix, fault_ms=fault_ms, block_time_ms=block_time_ms)


def failed(result: RunResult) -> bool:
    """A normal run fails on any violation; a canary run fails when the checker saw nothing."""
    return result.ok == MIXES[result.config.mix].expect_violation


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.sim", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=200, help="how many runs (default 200)")
    parser.add_argument("--start", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--seed", type=int, help="replay this one seed (use with --mix)")
    parser.add_argument(
        "--validators",
        type=int,
        action="append",
        choices=VALIDATOR_COUNTS,
        help="n; default 4 and 7",
    )
    parser.add_argument(
        "--mix", action="append", choices=sorted(MIXES), help="fault mix; default all but canary"
    )
    parser.add_argument(
        "--block-time",
        type=int,
        default=0,
        help="with --seed: ms proposers let a block fill (default 0); sweeps vary it",
    )
    parser.add_argument(
        "--fault-ms",
        type=int,
        default=FAULT_MS,
        help=f"virtual ms of faults and traffic before healing (default {FAULT_MS}); "
        "600000 gives thousands of heights, past signing-record pruning and the digest interval",
    )
    args = parser.parse_args(argv)
    if args.fault_ms < 1_000:
        parser.error("--fault-ms must be at least 1000 (faults are drawn after the first 500 ms)")
    validators = args.validators or [4, 7]
    mixes = args.mix or list(SWEEP_MIXES)
    if args.seed is not None:
        configs = [
            RunConfig(
                args.seed,
                validators[0],
                mixes[0],
                fault_ms=args.fault_ms,
                block_time_ms=args.block_time,
            )
        ]
    else:
        configs = list(plan(args.seeds, args.start, validators, mixes, args.fault_ms))
    return report(configs)


def report(configs: list[RunConfig]) -> int:
    faults: Counter[str] = Counter()
    observed: Counter[str] = Counter()
    failures: list[RunResult] = []
    commits = 0
    began = time.perf_counter()
    for done, config in enumerate(configs, 1):
        result = run_seed(config)
        faults.update(result.faults)
        observed.update(result.observed)
        commits += result.height
        if failed(result):
            failures.append(result)
            what = result.violations[0].detail if result.violations else "no violation seen"
            print(f"FAIL seed {config.seed} n={config.n} {config.mix}: {what}", file=sys.stderr)
            print(f"     replay: {config.replay_command}", file=sys.stderr)
        if len(configs) == 1:
            print(f"trace {result.trace_hash}")
            for violation in result.violations:
                print(f"  {violation.kind}: {violation.detail}")
        if done % 25 == 0 or done == len(configs):
            elapsed = time.perf_counter() - began
            print(f"  {done}/{len(configs)} runs, {done / elapsed:.1f} runs/s", file=sys.stderr)
    elapsed = time.perf_counter() - began
    print(f"seeds run:   {len(configs)} in {elapsed:.1f} s ({len(configs) / elapsed:.1f}/s)")
    print(f"heights committed: {commits}")
    print("faults injected:")
    for kind, count in sorted(faults.items()):
        print(f"  {kind:<26} {count}")
    print("observed:")
    for kind, count in sorted(observed.items()):
        print(f"  {kind:<26} {count}")
    print(f"violations:  {len(failures)}")
    for result in failures:
        print(f"  seed {result.config.seed}: {result.config.replay_command}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
