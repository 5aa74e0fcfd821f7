"""Benchmark (not a test): `judgeflow validate` as a whole process, start-up included, on a 60 MB
file, next to an orjson parse-only loop over the same file in this process (target >= 0.4x).
Also prints `judgeflow --help` start-up.

    .venv/bin/python benchmarks/bench_cli_validate.py [--mb 60] [--runs 5] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.bench_validation import generate, parse_only

JUDGEFLOW = Path(sys.executable).with_name("judgeflow")


def timed_process(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=60)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", default=os.environ.get("TMPDIR", "/tmp"))
    args = parser.parse_args()
    path = Path(args.dir) / f"judgeflow-bench-{args.mb}mb.jsonl"
    generate(path, args.mb)
    size_mb = path.stat().st_size / 1e6
    parse = statistics.median(_timed(lambda: parse_only(path)) for _ in range(args.runs))
    cli = timed_process([str(JUDGEFLOW), "validate", str(path)], args.runs)
    help_seconds = timed_process([str(JUDGEFLOW), "--help"], args.runs)
    print(f"file: {size_mb:.0f} MB; medians of {args.runs} runs")
    print(f"orjson parse-only loop (in process):      {parse:6.2f} s  {size_mb / parse:7.1f} MB/s")
    print(f"judgeflow validate (whole process):       {cli:6.2f} s  {size_mb / cli:7.1f} MB/s  "
          f"-> {parse / cli:.2f}x the parse-only loop (target >= 0.4x)")
    print(f"judgeflow --help (whole process):          {help_seconds:6.2f} s")


def _timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
