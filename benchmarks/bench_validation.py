"""Benchmark (not a test): streaming validation throughput and memory.

Generates an llm_judge file (default 200 MB) and prints, measured in the same run:
  - judgeflow's validate_stream throughput (MB/s),
  - (a) a loop that only parses each line with orjson, and the ratio (target >= 0.4x),
  - (b) a naive loop calling jsonschema.validate per line, and the ratio (target >= 5x;
    measured on the first 20 MB, it is that slow),
  - peak RSS of a separate process validating a 1 GB file (target < 150 MB, flat in file size:
    compared with the same process on the 200 MB file).

    .venv/bin/python benchmarks/bench_validation.py [--mb 200] [--big-mb 1024] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import orjson

from judgeflow.validation import CHUNK_SIZE, read_file_chunks, task_schema, validate_stream

WORDS = ("model answer question river capital energy protein market theorem orbit language city "
         "history careful reasoning evidence summary detail").split()


def generate(path: Path, megabytes: int, seed: int = 1) -> None:
    if path.exists() and path.stat().st_size >= megabytes * 1_000_000:
        return
    rng = random.Random(seed)
    target = megabytes * 1_000_000
    with path.open("wb") as handle:
        written, index = 0, 0
        while written < target:
            text = lambda n: " ".join(rng.choices(WORDS, k=n))  # noqa: E731
            line = orjson.dumps({"id": index, "category": rng.choice(["a", "b", "c"]), "prompt": text(25),
                                 "response_A": text(rng.randint(40, 120)), "response_B": text(rng.randint(40, 120))})
            handle.write(line + b"\n")
            written += len(line) + 1
            index += 1


def timed(function) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def parse_only(path: Path) -> int:
    count = 0
    with path.open("rb") as handle:
        for line in handle:
            orjson.loads(line)
            count += 1
    return count


def naive(path: Path, limit_bytes: int) -> int:
    schema = task_schema("llm_judge")
    read = 0
    with path.open("rb") as handle:
        for line in handle:
            jsonschema.validate(json.loads(line), schema)
            read += len(line)
            if read >= limit_bytes:
                break
    return read


def ours(path: Path):
    with path.open("rb") as handle:
        return validate_stream(read_file_chunks(handle, CHUNK_SIZE), source=path.name, task="llm_judge",
                               token_limit=7000, max_rows=10**9)


def peak_rss_mb(path: Path) -> float:
    """Validate in a fresh process and read its peak RSS (VmHWM)."""
    code = ("import sys, resource; from benchmarks.bench_validation import ours; from pathlib import Path;"
            "r = ours(Path(sys.argv[1])); assert r.valid, r.summary();"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    return int(out.stdout.strip()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--big-mb", type=int, default=1024)
    parser.add_argument("--dir", default=os.environ.get("TMPDIR", "/tmp"))
    args = parser.parse_args()
    folder = Path(args.dir)
    path, big = folder / f"judgeflow-bench-{args.mb}mb.jsonl", folder / f"judgeflow-bench-{args.big_mb}mb.jsonl"
    generate(path, args.mb)
    size_mb = path.stat().st_size / 1e6

    parse_seconds, _ = timed(lambda: parse_only(path))
    our_seconds, report = timed(lambda: ours(path))
    naive_seconds, naive_bytes = timed(lambda: naive(path, 20_000_000))
    assert report.valid, report.summary()
    ours_rate, parse_rate, naive_rate = size_mb / our_seconds, size_mb / parse_seconds, naive_bytes / 1e6 / naive_seconds
    print(f"file: {size_mb:.0f} MB, {report.records:,} records")
    print(f"judgeflow validate_stream: {ours_rate:7.1f} MB/s")
    print(f"(a) orjson parse-only loop: {parse_rate:7.1f} MB/s  -> judgeflow is {ours_rate / parse_rate:.2f}x (target >= 0.4x)")
    print(f"(b) naive jsonschema.validate per line: {naive_rate:7.1f} MB/s  -> judgeflow is "
          f"{ours_rate / naive_rate:.1f}x (target >= 5x)")
    generate(big, args.big_mb)
    small_rss, big_rss = peak_rss_mb(path), peak_rss_mb(big)
    print(f"peak RSS validating {size_mb:.0f} MB: {small_rss:.0f} MB; validating {big.stat().st_size / 1e6:.0f} MB: "
          f"{big_rss:.0f} MB (target < 150 MB, flat in file size)")


if __name__ == "__main__":
    main()
