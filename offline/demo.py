"""`judgeflow demo`: the sample dataset through the whole pipeline, offline, on the operator's path.

It is `judgeflow local up` (both stacks synthesized into <out>/cdk.out, as `cdk synth` would, and
deployed into the embedded AWS), then `judgeflow submit --wait` and `judgeflow show` on the
sample dataset: the same commands a user runs against a deployed stack. Then it prints the steps
the execution took and which asset each Lambda ran from, and copies the Parquet files and the
report out of the (in-memory) metrics bucket into a local folder.
"""

from __future__ import annotations

import io
import time
from importlib import resources
from pathlib import Path

import pyarrow.parquet as pq

from infra import assets
from judgeflow import cli
from judgeflow.stacks import STATEFUL_STACK_NAME, STATELESS_STACK_NAME
from offline.local_stack import local_stack
from offline.pipeline import OfflineJudgeflow
from offline.synth import default_context

SAMPLE = "demo.jsonl"
LABELS = {"model-a": "aurora-7b", "model-b": "borealis-13b", "judge": "micro"}


def run_demo(out_dir: Path, *, print_fn=print) -> int:
    started = time.perf_counter()
    region = default_context()["region"]
    print_fn("judgeflow demo - offline: CDK-synthesized state machine on the embedded AWS (moto), "
             "judge = local-emulator")
    out_dir.mkdir(parents=True, exist_ok=True)
    dataset = out_dir / SAMPLE
    dataset.write_bytes(resources.files("judgeflow.sample_data").joinpath(SAMPLE).read_bytes())
    log_path = out_dir / "lambda-logs.jsonl"
    with log_path.open("w", encoding="utf-8") as lambda_log, \
            local_stack(port=0, outdir=out_dir / "cdk.out", lambda_log=lambda_log) as judgeflow:
        print_fn(f"  judgeflow local up: synthesized and deployed {STATEFUL_STACK_NAME} + {STATELESS_STACK_NAME} "
                 f"({time.perf_counter() - started:.1f} s, cdk-nag AwsSolutions clean)")
        command = ["submit", str(dataset), "--model-a", LABELS["model-a"], "--model-b", LABELS["model-b"],
                   "--judge", LABELS["judge"], "--wait", "--region", region]
        print_fn(f"\n$ judgeflow {' '.join(command)}")
        code = cli.main(command)
        (result,) = judgeflow.wait_for(1, timeout=120)
        print_fn("\nSteps taken (Step Functions console names):")
        for number, step in enumerate(result.steps, start=1):
            print_fn(f"  {number:2d}. {step}")
        print_fn(f"\nExecution {result.status}")
        if result.status != "SUCCEEDED" or code != 0:
            print_fn(f"  error: {result.error}\n  cause: {result.cause}")
            return 1
        _print_lambdas(judgeflow, print_fn)
        written = []
        for uri in result.output["locations"].values():
            bucket, _, object_key = uri.removeprefix("s3://").partition("/")
            target = out_dir / object_key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(judgeflow.read(bucket, object_key))
            written.append(target)
        print_fn("\nFiles written (copied from the metrics bucket):")
        for path in written + [log_path]:
            detail = ""
            if path.suffix == ".parquet":
                detail = f"  ({pq.read_metadata(io.BytesIO(path.read_bytes())).num_rows} rows)"
            if path == log_path:
                detail = "  (the Lambdas' structured logs, keyed by run_id)"
            print_fn(f"  {path}{detail}")
    print_fn(f"\nDone in {time.perf_counter() - started:.1f} s.")
    return 0


def _print_lambdas(judgeflow: OfflineJudgeflow, print_fn) -> None:
    """Where each function ran from: its asset in the cloud assembly, in the runtime's Python."""
    service = judgeflow.aws.lambdas
    print_fn(f"\nLambda functions (each from the asset `cdk deploy` uploads, in its own Python "
             f"{assets.RUNTIME_PYTHON_VERSION} interpreter; nothing else on its path but the runtime's boto3):")
    for name, spec in service.functions.items():
        calls = [i for i in service.invocations if i.function == name]
        if calls:
            print_fn(f"  {spec.handler:42} {len(calls)} call(s), {sum(c.cold for c in calls)} cold start(s)  "
                     f"{spec.paths[0]}")
