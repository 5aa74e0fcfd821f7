"""Benchmark (not a test): `judgeflow validate` as a whole process, start-up included, on a 60 MB
file, next to an orjson parse-only loop over the same file in this process (target >= 0.4x).
Also prints `judgeflow --help` start-up. The command runs as an installed package does: with
its bytecode cached (one untimed run first, PYTHONDONTWRITEBYTECODE cleared for it).

    .venv/bin/python benchmarks/bench_cli_validate.py [--mb 60] [--runs 5] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: its sibling benchmark
from bench_validation import generate, parse_only, timed  # noqa: E402

JUDGEFLOW = Path(sys.executable).with_name("judgeflow")


ENVIRONMENT = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed_process(command: list[str]) -> float:
    return timed(lambda: subprocess.run(command, check=True, capture_output=True, env=ENVIRONMENT))[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=60)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--dir", default=os.environ.get("TMPDIR", "/tmp"))
    args = parser.parse_args()
    path = Path(args.dir) / f"judgeflow-bench-{args.mb}mb.jsonl"
    generate(path, args.mb)
    size_mb = path.stat().st_size / 1e6
    validate, show_help = [str(JUDGEFLOW), "validate", str(path)], [str(JUDGEFLOW), "--help"]
    timed_process(validate)  # once untimed: the bytecode is cached from then on, as after an install
    # Interleaved, so that a slow spell of a shared machine weighs on both sides alike.
    runs = [(timed(lambda: parse_only(path))[0], timed_process(validate), timed_process(show_help))
            for _ in range(args.runs)]
    parse, cli, help_seconds = (statistics.median(column) for column in zip(*runs))
    print(f"file: {size_mb:.0f} MB; medians of {args.runs} interleaved runs")
    print(f"orjson parse-only loop (in process):      {parse:6.2f} s  {size_mb / parse:7.1f} MB/s")
    print(f"judgeflow validate (whole process):       {cli:6.2f} s  {size_mb / cli:7.1f} MB/s  "
          f"-> {parse / cli:.2f}x the parse-only loop (target >= 0.4x)")
    print(f"judgeflow --help (whole process):          {help_seconds:6.2f} s")


if __name__ == "__main__":
    main()
