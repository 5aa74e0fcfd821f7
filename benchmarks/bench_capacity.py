"""Benchmark (not a test): many runs dropped at once against a small quota.

Drops N datasets at once into the offline pipeline (the synthesized state machine on the
embedded AWS) with a quota of Q instances and a fixed emulated job duration, and prints:
makespan / ideal, where ideal = ceil(N / Q) x job duration (target <= 1.1), failed runs (target 0)
and peak concurrency of running jobs (must equal Q). Makespan runs from the first drop to the
end of the last execution.

Times are scaled: one emulated job lasts --job-minutes of "AWS time" and --seconds-per-job real
seconds; Wait states and capacity-wait timeouts are scaled by the same factor, so the schedule is
what the settings in cdk.json give on AWS. Lambda handlers, though, run in-process one at a time
(on AWS they run in parallel), so each handoff of a slot also waits for whatever handler holds
the process. For scale, the same run first measures one run alone (baseline: its time beyond the
job itself), and the breakdown shows where the rest went.

    .venv/bin/python benchmarks/bench_capacity.py [--runs 40] [--quota 2] [--job-minutes 30]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import threading
import time
from importlib import resources

from infra.app_builder import STATEFUL_STACK_NAME, STATELESS_STACK_NAME
from judgeflow.settings import Settings
from offline.embedded_aws import EmulatorBehaviour
from offline.pipeline import OfflineJudgeflow
from offline.synth import default_context, synthesize

INSTANCE_TYPE = "ml.g5.12xlarge"


def _drop_and_wait(jf: OfflineJudgeflow, runs: int, data: bytes, prefix: str, timeout: float) -> tuple[float, float]:
    """Drop `runs` datasets at once; returns (start, end of the last execution) as epoch seconds."""
    start = time.time()
    for index in range(runs):
        jf.drop(f"{prefix}-{index}.jsonl", data, {"model-b": f"{prefix}-{index}", "instance-types": INSTANCE_TYPE})
    deadline = start + timeout
    while time.time() < deadline:
        executions = jf.executions()
        if len(executions) >= runs and all(e["status"] != "RUNNING" for e in executions):
            return start, max(e["stopDate"].timestamp() for e in executions)
        time.sleep(0.5)  # polling shares the one core with the pipeline: keep it rare
    raise TimeoutError(f"{runs} runs did not finish in {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--quota", type=int, default=2)
    parser.add_argument("--job-minutes", type=float, default=30.0)
    parser.add_argument("--seconds-per-job", type=float, default=30.0)
    args = parser.parse_args()
    scale = args.seconds_per_job / (args.job_minutes * 60)
    context = default_context()
    settings = Settings.from_mapping(context)
    assembly = synthesize(context)
    data = resources.files("judgeflow.sample_data").joinpath("demo.jsonl").read_bytes()
    timeout = args.runs * args.seconds_per_job * 3 + 120

    def deployment() -> OfflineJudgeflow:
        return OfflineJudgeflow(assembly, stack_order=[STATEFUL_STACK_NAME, STATELESS_STACK_NAME],
                                region=context["region"], wait_scale=scale,
                                emulator=EmulatorBehaviour(duration_seconds=args.seconds_per_job),
                                quotas={INSTANCE_TYPE: args.quota})

    with deployment() as jf:
        start, end = _drop_and_wait(jf, 1, data, "alone", timeout)
        baseline = end - start - args.seconds_per_job

    with deployment() as jf:
        peak, stop = [0], threading.Event()
        sagemaker = jf.client("sagemaker")

        def watch() -> None:  # one cheap call per sample: it shares the one core with the pipeline
            while not stop.is_set():
                running = sagemaker.list_training_jobs(StatusEquals="InProgress")["TrainingJobSummaries"]
                peak[0] = max(peak[0], len(running))
                time.sleep(0.1)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        start, end = _drop_and_wait(jf, args.runs, data, "bench", timeout)
        stop.set()
        results = [jf.result(e["executionArn"]) for e in jf.executions()]
        jobs = sorted(jf.training_jobs(), key=lambda j: j["CreationTime"])
        queued_at = {}  # execution -> its place in line (the time of its first check that had to wait)
        for execution in jf.executions():
            checks = [json.loads(e["stateExitedEventDetails"]["output"])["capacity"]
                      for e in jf._history(execution["executionArn"])
                      if e.get("stateExitedEventDetails", {}).get("name") == "Check capacity"]
            if len(checks) > 1:
                queued_at[execution["executionArn"]] = checks[-1]["queued_at_ms"]
        launch_of = {r["execution_arn"]: r["job_name"] for r in jf.run_records() if r.get("job_name")}

    makespan = end - start
    ideal = math.ceil(args.runs / args.quota) * args.seconds_per_job
    failed = [r for r in results if r.status != "SUCCEEDED"]
    starts = [j["CreationTime"].timestamp() for j in jobs]
    ends = sorted(j["TrainingEndTime"].timestamp() for j in jobs)
    # The k-th launch (k >= quota) takes the slot the (k - quota)-th job to end gave back.
    handoffs = [s - e for s, e in zip(starts[args.quota:], ends)]
    checks = sum(r.steps.count("Check capacity") for r in results)
    parked = sum(r.steps.count("Wait for capacity") for r in results)
    launched_at = {j["TrainingJobName"]: j["CreationTime"].timestamp() for j in jobs}
    arrivals = sorted(queued_at, key=queued_at.get)
    launch_order = sorted(arrivals, key=lambda arn: launched_at[launch_of[arn]])
    # In line order, round by round: when several slots free up at once, the runs woken for them
    # may launch in either order, so a run can be pushed back by at most quota - 1 places.
    line_place = {arn: i for i, arn in enumerate(arrivals)}
    pushed_back = max((i - line_place[arn] for i, arn in enumerate(launch_order)), default=0)
    print(f"{args.runs} runs, quota {args.quota}, job {args.job_minutes:g} min emulated as {args.seconds_per_job:g} s; "
          f"capacity waits {settings.capacity_wait_initial_seconds}..{settings.capacity_wait_max_seconds} s "
          f"(scaled x{scale:.5f})")
    print(f"makespan {makespan:.1f} s, ideal ceil({args.runs}/{args.quota}) x {args.seconds_per_job:g} s = {ideal:.1f} s "
          f"-> ratio {makespan / ideal:.3f} (target <= 1.1)")
    print(f"failed runs: {len(failed)} (target 0); peak running jobs: {peak[0]} (must equal the quota {args.quota})")
    print(f"baseline, one run alone: {baseline:.1f} s beyond its job (validate .. report)")
    print(f"breakdown: first launch {starts[0] - start:.1f} s after the drop; slot handoff (job end -> next launch) "
          f"mean {statistics.mean(handoffs):.2f} s, max {max(handoffs):.2f} s over {len(handoffs)} handoffs; "
          f"last job end -> last execution end {end - ends[-1]:.1f} s")
    print(f"fairness: {len(arrivals)} runs waited in line; a run launched at most {pushed_back} place(s) after its "
          f"place in line ({'in order, round by round' if pushed_back <= args.quota - 1 else 'NOT in line order'}: "
          f"at most quota - 1 = {args.quota - 1}); capacity checks {checks}, parks {parked} "
          f"({checks / args.runs:.1f} checks per run)")


if __name__ == "__main__":
    main()
