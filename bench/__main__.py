"""``python -m consortium.bench``: throughput, latency and replay speed beside the raw limits.

Examples (``python -m consortium.bench`` is abbreviated to ``bench``):
  bench                                       # 4 validators, 20,000 payments, durable
  bench --validators 4 7 10 --events 50000 --json results.json
  bench --rates 1000 3000                     # latency at offered loads (open loop)
  bench --compare --plot bench.png            # against the eventsourcing library; a plot
  bench --multiprocess --no-fsync             # also one node process per validator
  bench --workload insurance rebate mixed     # other business processes
  bench --rates 1000 --repeat 5               # medians of 5 runs, with their spread
  bench --block-events 500 --block-time 20    # block size and block time bounds
  bench --overload 60                         # host threads submitting flat out
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from consortium.bench import limits
from consortium.bench.compare import compare
from consortium.bench.multiprocess import run_workload_multiprocess
from consortium.bench.overload import OverloadResult, overload
from consortium.bench.plot import plot
from consortium.bench.report import report_lines
from consortium.bench.scenarios import SCENARIOS
from consortium.bench.soak import soak
from consortium.bench.workload import (
    DEFAULT_BOUNDS,
    SHARING_LEVELS,
    BlockBounds,
    WorkloadResult,
    median_of,
    run_workload,
    sharing_config,
)
from consortium.commands import output_file, positive_float, positive_int


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m consortium.bench",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--validators",
        type=positive_int,
        nargs="+",
        default=[4],
        help="consortium sizes to run (default: 4)",
    )
    parser.add_argument(
        "--events", type=positive_int, default=20_000, help="events per run (default: %(default)s)"
    )
    parser.add_argument(
        "--workload",
        nargs="+",
        choices=sorted(SCENARIOS),
        default=["payments"],
        help="business processes to drive (default: payments); 'mixed' runs all five in turn",
    )
    parser.add_argument(
        "--rates",
        type=positive_float,
        nargs="*",
        default=[],
        help="also run at these offered loads, events/s, to read latency",
    )
    parser.add_argument("--no-fsync", action="store_true", help="do not fsync each committed block")
    parser.add_argument(
        "--block-events",
        type=int,
        default=DEFAULT_BOUNDS.max_block_events,
        metavar="N",
        help="block size bound: at most N events per block (default: %(default)s)",
    )
    parser.add_argument(
        "--block-time",
        type=int,
        default=DEFAULT_BOUNDS.block_time_ms,
        metavar="MS",
        help="block time bound: a proposer waits up to MS after its height began for a full "
        "block, then proposes what is waiting (default: %(default)s, propose at once; must be "
        "at most 500, half the propose timeout)",
    )
    parser.add_argument(
        "--sharing",
        choices=SHARING_LEVELS,
        default="none",
        help="what in-process validators share: none (full replicas, the setting of C), verify "
        "(one signature check per process, the embedded default), verify+exec (one execution per "
        "block too); default none",
    )
    parser.add_argument(
        "--shared",
        action="store_true",
        help="also run each saturation test at the other sharing levels (one process, one trust "
        "domain: compare with C1)",
    )
    parser.add_argument(
        "--multiprocess",
        action="store_true",
        help="also run each test with one 'consortium node' process per validator over ZeroMQ "
        "(CurveZMQ on 127.0.0.1), the host submitting remotely",
    )
    parser.add_argument(
        "--repeat",
        type=positive_int,
        default=1,
        metavar="N",
        help="run each test N times and report each figure's median, with the spread of "
        "throughput and latency (default: %(default)s)",
    )
    parser.add_argument("--json", type=output_file, help="write machine-readable results here")
    parser.add_argument("--plot", type=output_file, help="draw throughput and latency to this PNG")
    parser.add_argument(
        "--soak",
        type=positive_float,
        metavar="SECONDS",
        help="instead of the throughput runs: a steady load for SECONDS, sampling memory",
    )
    parser.add_argument(
        "--soak-rate",
        type=positive_float,
        default=1000,
        help="offered events/s during --soak (1000)",
    )
    parser.add_argument(
        "--overload",
        type=positive_float,
        metavar="SECONDS",
        help="instead of the throughput runs: host threads submitting flat out for SECONDS; "
        "memory, refusals by code, unanswered submissions, and whether the chain is live after",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also run the same append and replay jobs on the eventsourcing library (SQLite)",
    )
    return parser


def _report_overload(result: OverloadResult, json_path: Path | None) -> int:
    first = result.samples[0]
    print(
        f"overload: {result.submitted:,} submissions in {result.seconds:.0f} s; answers "
        f"{', '.join(f'{code} {n:,}' for code, n in sorted(result.codes.items()))}; "
        f"unanswered {result.unanswered}; resident memory {first.rss_mb:.0f} MB at the start, "
        f"{result.peak_rss_mb:.0f} MB at the peak (heap {first.anon_mb:.0f} -> "
        f"{max(s.anon_mb for s in result.samples):.0f}); chain live after: {result.live_after}"
    )
    if json_path:
        json_path.write_text(json.dumps(result.as_dict(), indent=2))
    return 0 if result.unanswered == 0 and result.live_after else 1


def _say(text: str) -> None:
    """Progress goes to stderr, so stdout holds only the report."""
    print(text, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    durable = not args.no_fsync
    bounds = BlockBounds(args.block_events, args.block_time)
    try:
        sharing_config(args.sharing, durable, bounds)
    except ValueError as exc:
        _parser().error(f"{exc}; choose other --block-events or --block-time")
    if args.overload:
        return _report_overload(overload(args.overload, _say), args.json)
    if args.soak:
        result = soak(args.soak, args.soak_rate, _say)
        print(
            f"soak: {result.events} events in {result.seconds:.0f} s at "
            f"{result.offered_per_s:.0f}/s offered; resident memory MB "
            f"{' '.join(f'{m:.0f}' for m in result.rss_mb_samples)}; "
            f"growth after warm-up {result.growth_after_warmup_mb:+.1f} MB (heap "
            f"{result.heap_bytes_per_event:,.0f} B/event, mapped log "
            f"{result.mapped_bytes_per_event:,.0f} B/event); at the end "
            f"{result.state_rows:,} table rows across the validators"
        )
        if args.json:
            args.json.write_text(json.dumps(result.as_dict(), indent=2))
        return 0
    _say("measuring raw limits of this machine …")
    raw = limits.measure()
    runs = []

    def repeated(run: Callable[[], WorkloadResult]) -> WorkloadResult:
        results = []
        for k in range(args.repeat):
            if args.repeat > 1:
                _say(f"  run {k + 1} of {args.repeat}")
            results.append(run())
        return median_of(results)

    for workload in args.workload:
        for n in args.validators:
            for rate in [None, *args.rates]:
                label = "saturation" if rate is None else f"{rate:g} events/s offered"
                _say(f"running {workload} on {n} validators, {args.events} events, {label} …")
                levels = [args.sharing]
                if args.shared and rate is None:
                    levels += [s for s in SHARING_LEVELS if s != args.sharing]
                for sharing in levels:
                    if sharing != args.sharing:
                        _say(f"  … again with validators sharing: {sharing}")
                    run = partial(
                        run_workload, n, args.events, durable, rate, _say, sharing, workload, bounds
                    )
                    runs.append(repeated(run))
                if args.multiprocess:
                    _say(f"  … again with {n} node processes over ZeroMQ")
                    run = partial(
                        run_workload_multiprocess,
                        n,
                        args.events,
                        durable,
                        rate,
                        _say,
                        workload,
                        bounds,
                    )
                    runs.append(repeated(run))
    comparison = None
    if args.compare:
        _say("appending and replaying with the eventsourcing library and with Consortium …")
        comparison = compare(min(args.events, 20_000))
    for line in report_lines(raw, runs, comparison):
        print(line)
    if args.json:
        results = {
            "raw_limits": raw.as_dict(),
            "runs": [r.as_dict() for r in runs],
            "comparison": comparison.as_dict() if comparison else None,
        }
        args.json.write_text(json.dumps(results, indent=2))
        _say(f"wrote {args.json}")
    if args.plot:
        plot(runs, raw, args.plot)
        _say(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
