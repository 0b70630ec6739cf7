"""The benchmark harness runs end to end at a tiny size, so it cannot rot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from consortium.bench.__main__ import main


def test_bench_runs_and_writes_json(tmp_path: Path, capsys) -> None:
    out = tmp_path / "results.json"
    png = tmp_path / "bench.png"
    args = [
        "--events",
        "300",
        "--no-fsync",
        "--json",
        str(out),
        "--plot",
        str(png),
        "--compare",
        "--shared",
    ]
    assert main(args) == 0
    results = json.loads(out.read_text())
    assert results["raw_limits"]["verify_per_s"] > 0
    run, verify, verify_exec = results["runs"]
    assert [r["sharing"] for r in results["runs"]] == ["none", "verify", "verify+exec"]
    assert verify["accepted"] == verify_exec["accepted"] == 300
    assert run["accepted"] == 300 and run["committed_per_s"] > 0
    assert run["latency_p50_ms"] <= run["latency_p99_ms"]
    assert results["comparison"]["eventsourcing_replay_per_s"] > 0
    assert results["comparison"]["consortium_replay_per_s"] > 0
    assert results["comparison"]["consortium_replay_cpu_per_s"] > 0
    assert len(results["comparison"]["replay_ratios"]) == 5  # replays taken in turn
    assert png.stat().st_size > 1000
    assert "committed/s" in capsys.readouterr().out


def test_bench_multiprocess_reports_node_processes_beside_in_process(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    bounds = ["--block-events", "25", "--block-time", "20"]
    args = ["--events", "300", "--no-fsync", "--multiprocess", "--json", str(out), *bounds]
    assert main(args) == 0
    in_process, processes = json.loads(out.read_text())["runs"]
    assert (in_process["mode"], processes["mode"]) == ("in-process", "processes")
    assert processes["accepted"] == 300 and processes["committed_per_s"] > 0
    assert processes["audit_events_per_s"] > 0 and processes["peak_rss_mb"] > 0
    for run in (in_process, processes):
        assert (run["max_block_events"], run["block_time_ms"]) == (25, 20)
        # Every process's CPU is counted: at least the signatures' own cost, and finite.
        assert 10 < run["cpu_us_per_event"] < 1e6
        assert run["blocks"] >= 300 // 25, "the block size bound must reach every validator"


def test_bench_refuses_a_block_time_peers_would_time_out(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--block-time", "501"])
    assert "half of timeout_propose_ms" in capsys.readouterr().err


def test_every_business_process_has_a_workload_whose_events_are_accepted(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    args = ["--events", "150", "--no-fsync", "--json", str(out), "--workload", "mixed"]
    assert main(args) == 0
    (run,) = json.loads(out.read_text())["runs"]
    assert run["workload"] == "mixed"
    assert run["accepted"] == 150  # 30 each of payments, insurance, restitution, rebate, data


def test_repeated_runs_report_each_figures_median_and_the_spread(tmp_path: Path, capsys) -> None:
    out = tmp_path / "results.json"
    assert main(["--events", "100", "--no-fsync", "--repeat", "3", "--json", str(out)]) == 0
    (run,) = json.loads(out.read_text())["runs"]
    assert len(run["repeats"]) == 3
    for figure in ("committed_per_s", "latency_p50_ms", "latency_p99_ms"):
        values = sorted(r[figure] for r in run["repeats"])
        assert run[figure] == values[1], figure
    assert "Spread of the repeated runs" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--repeat", "0"])


def test_the_plot_draws_latency_only_when_rates_were_given(tmp_path: Path) -> None:
    from consortium.bench.limits import RawLimits
    from consortium.bench.plot import plot
    from consortium.bench.workload import WorkloadResult

    raw = RawLimits(2, 20_000, 20_000, 35_000, 300_000, 1e6, 500)

    def run(offered: float | None) -> WorkloadResult:
        return WorkloadResult(
            *("payments", "none", 4, True, offered, 1000, 1000, 1.0, 900.0, 10.0, 20.0, 40.0),
            *(10, 5e4, 2e4, 300.0, 100.0, 400.0, 2000, 0),
        )

    saturated_only = plot([run(None)], raw, tmp_path / "a.png")
    assert saturated_only == ["Throughput at saturation"]
    both = plot([run(None), run(1000.0)], raw, tmp_path / "b.png")
    assert both == ["Throughput at saturation", "Latency against offered load"]


@pytest.mark.parametrize(
    "arguments",
    [
        ["--events", "-1"],
        ["--events", "0"],
        ["--validators", "0"],
        ["--rates", "-5"],
        ["--rates", "nan"],
        ["--overload", "-5"],
        ["--soak", "0"],
        ["--json", "/nonexistent-directory/results.json"],
        ["--plot", "."],
    ],
)
def test_bad_arguments_are_refused_before_any_run(
    arguments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Each was a traceback, a run that never ended or a run of negative length."""
    with pytest.raises(SystemExit) as exited:
        main(arguments)
    assert exited.value.code == 2
    assert "error: argument" in capsys.readouterr().err
