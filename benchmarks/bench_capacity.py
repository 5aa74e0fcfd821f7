"""Benchmark (not a test): many runs dropped at once against a small quota.

Drops N datasets at once into the offline pipeline (the synthesized state machine on the
embedded AWS) with a quota of Q instances and a fixed emulated job duration, and prints:
makespan / ideal, where ideal = ceil(N / Q) x job duration (target <= 1.1), failed runs (target 0)
and peak concurrency of running jobs (must equal Q).

Times are scaled: one emulated job lasts --job-minutes of "AWS time" and --seconds-per-job real
seconds; Wait states are scaled by the same factor, so the ratio is what the settings in cdk.json
would give on AWS (minus Lambda parallelism: offline, handlers run one at a time in-process).

    .venv/bin/python benchmarks/bench_capacity.py [--runs 40] [--quota 2] [--job-minutes 30]
"""

from __future__ import annotations

import argparse
import math
from importlib import resources
import threading
import time

from infra.app_builder import STATEFUL_STACK_NAME, STATELESS_STACK_NAME
from judgeflow.settings import Settings
from offline.embedded_aws import EmulatorBehaviour
from offline.pipeline import OfflineJudgeflow
from offline.synth import default_context, synthesize


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--quota", type=int, default=2)
    parser.add_argument("--job-minutes", type=float, default=30.0)
    parser.add_argument("--seconds-per-job", type=float, default=4.0)
    args = parser.parse_args()
    scale = args.seconds_per_job / (args.job_minutes * 60)
    context = default_context()
    settings = Settings.from_mapping(context)
    templates = synthesize(context)
    behaviour = EmulatorBehaviour(duration_seconds=args.seconds_per_job)
    with OfflineJudgeflow(templates, stack_order=[STATEFUL_STACK_NAME, STATELESS_STACK_NAME],
                          region=context["region"], wait_scale=scale, emulator=behaviour,
                          quotas={"ml.g5.12xlarge": args.quota}) as jf:
        peak, stop = [0], threading.Event()

        def watch() -> None:
            while not stop.is_set():
                running = sum(1 for j in jf.training_jobs() if j["TrainingJobStatus"] == "InProgress")
                peak[0] = max(peak[0], running)
                time.sleep(0.1)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        data = resources.files("judgeflow.sample_data").joinpath("demo.jsonl").read_bytes()
        start = time.perf_counter()
        for index in range(args.runs):
            jf.drop(f"bench-{index}.jsonl", data, {"model-b": f"candidate-{index}", "instance-types": "ml.g5.12xlarge"})
        results = jf.wait_for(args.runs, timeout=args.runs * args.seconds_per_job * 3 + 120)
        makespan = time.perf_counter() - start
        stop.set()
    ideal = math.ceil(args.runs / args.quota) * args.seconds_per_job
    failed = [r for r in results if r.status != "SUCCEEDED"]
    waits = sum(r.steps.count("Wait for capacity") for r in results)
    print(f"{args.runs} runs, quota {args.quota}, job {args.job_minutes:g} min emulated as {args.seconds_per_job:g} s; "
          f"capacity waits {settings.capacity_wait_initial_seconds}..{settings.capacity_wait_max_seconds} s "
          f"(scaled x{scale:.5f})")
    print(f"makespan {makespan:.1f} s, ideal ceil({args.runs}/{args.quota}) x {args.seconds_per_job:g} s = {ideal:.1f} s "
          f"-> ratio {makespan / ideal:.3f} (target <= 1.1)")
    print(f"failed runs: {len(failed)} (target 0); peak running jobs: {peak[0]} (must equal the quota {args.quota}); "
          f"capacity checks that waited: {waits}")


if __name__ == "__main__":
    main()
