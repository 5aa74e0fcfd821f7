"""Benchmark (not a test): cold import of each stage handler from the asset `cdk deploy` uploads.

Each measurement is a fresh interpreter of the Lambda runtime's Python, started as the offline
runtime starts one (-I -S -B: isolated, nothing written, so the bytecode is the asset's own), with
only the asset and what the runtime provides (boto3) on its path, tracing on as on Lambda. Printed,
as medians over --runs fresh processes:
  - `import boto3` alone (the baseline, same interpreter build, same path),
  - each handler's import (boto3 included) and its ratio to the baseline (target <= 2x for the slowest),
  - each handler's import after boto3 was already imported, and the peak RSS of the process.

    .venv/bin/python benchmarks/bench_cold_import.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
from pathlib import Path

from infra import assets
from offline.lambda_runtime import runtime_packages

HANDLERS = ["lambdas.validate.handler", "lambdas.register.handler", "lambdas.stage_input.handler",
            "lambdas.plan.handler", "lambdas.capacity.handler"]
MEASURE = """
import json, sys, time
sys.path[:0] = json.loads(sys.argv[1])
start = time.perf_counter()
if sys.argv[2] == "boto3-then-handler":
    import boto3
    start = time.perf_counter()
    __import__(sys.argv[3])
elif sys.argv[2] == "handler":
    __import__(sys.argv[3])
else:
    import boto3
seconds = time.perf_counter() - start
# VmHWM, not ru_maxrss: the latter keeps the forking parent's high-water mark across exec.
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "rss_mb": peak / 1024}))
"""
ENVIRONMENT = {"PATH": "/usr/bin:/bin", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
               "AWS_LAMBDA_FUNCTION_NAME": "bench", "POWERTOOLS_SERVICE_NAME": "judgeflow", "LANG": "C.UTF-8"}


def measure(paths: list[Path], mode: str, module: str, runs: int) -> tuple[float, float]:
    """Median seconds and median peak RSS (MB) over `runs` fresh interpreters."""
    seconds, rss = [], []
    for _ in range(runs):
        out = subprocess.run([assets.lambda_python(), "-I", "-S", "-B", "-c", MEASURE,
                              json.dumps([str(p) for p in paths]), mode, module],
                             capture_output=True, text=True, check=True, env=ENVIRONMENT, cwd=paths[0])
        answer = json.loads(out.stdout)
        seconds.append(answer["seconds"])
        rss.append(answer["rss_mb"])
    return statistics.median(seconds), statistics.median(rss)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    runtime = runtime_packages()
    baseline, baseline_rss = None, None
    rows = []
    for module in HANDLERS:
        folder, _hash = assets.zip_bundle(module)
        paths = [folder, runtime]
        if baseline is None:
            baseline, baseline_rss = measure(paths, "boto3", "", args.runs)
        alone, rss = measure(paths, "handler", module, args.runs)
        after, _ = measure(paths, "boto3-then-handler", module, args.runs)
        rows.append((module, alone, after, rss))
    print(f"Python {assets.RUNTIME_PYTHON_VERSION} (the Lambda runtime), -I -S -B, asset + runtime boto3 only; "
          f"median of {args.runs} fresh processes")
    print(f"{'import boto3 (baseline)':32} {baseline * 1000:7.1f} ms   peak RSS {baseline_rss:5.1f} MB")
    for module, alone, after, rss in rows:
        print(f"{module:32} {alone * 1000:7.1f} ms = {alone / baseline:4.2f}x boto3   "
              f"(after boto3: {after * 1000:6.1f} ms)   peak RSS {rss:5.1f} MB")
    slowest = max(rows, key=lambda row: row[1])
    print(f"slowest: {slowest[0]} at {slowest[1] / baseline:.2f}x import boto3 (target <= 2x)")


if __name__ == "__main__":
    main()
