"""Running a benchmark from code: the workload of ``python -m consortium.bench``, small and quick.

Run: python examples/run_benchmark.py
"""

from __future__ import annotations

from consortium.bench import limits
from consortium.bench.report import report_lines
from consortium.bench.workload import run_workload


def main() -> None:
    raw = limits.measure(seconds=0.2)
    result = run_workload(validators=4, events=2000, durable=False)
    for line in report_lines(raw, [result]):
        print(line)


if __name__ == "__main__":
    main()
