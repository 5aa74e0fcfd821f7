"""`judgeflow demo`: the sample dataset through the whole pipeline, offline.

Synthesizes the CDK app (into <out>/cdk.out, as `cdk synth` would), deploys it into the embedded
AWS, drops the dataset under incoming/, waits for the execution, prints the steps, the metrics and
which asset each Lambda ran from, and copies the Parquet files and the report out of the
(in-memory) metrics bucket into a local folder.
"""

from __future__ import annotations

import io
import time
from importlib import resources
from pathlib import Path

import pyarrow.parquet as pq

from infra import assets
from infra.app_builder import STATEFUL_STACK_NAME, STATELESS_STACK_NAME
from offline.pipeline import OfflineJudgeflow
from offline.synth import default_context, synthesize

SAMPLE = "demo.jsonl"


def run_demo(out_dir: Path, *, print_fn=print) -> int:
    started = time.perf_counter()
    context = default_context()
    print_fn("judgeflow demo - offline: CDK-synthesized state machine on the embedded AWS (moto), "
             "judge = local-emulator")
    out_dir.mkdir(parents=True, exist_ok=True)
    assembly = synthesize(context, outdir=str(out_dir / "cdk.out"))
    print_fn(f"  synthesized {STATEFUL_STACK_NAME} + {STATELESS_STACK_NAME} "
             f"({time.perf_counter() - started:.1f} s, cdk-nag AwsSolutions clean)")
    dataset = resources.files("judgeflow.sample_data").joinpath(SAMPLE).read_bytes()
    metadata = {"model-a": "aurora-7b", "model-b": "borealis-13b", "judge-model": "micro"}
    log_path = out_dir / "lambda-logs.jsonl"
    with log_path.open("w", encoding="utf-8") as lambda_log, \
            OfflineJudgeflow(assembly, stack_order=[STATEFUL_STACK_NAME, STATELESS_STACK_NAME],
                             region=context["region"], quotas={"ml.g5.12xlarge": 1},
                             lambda_log=lambda_log) as judgeflow:
        key = judgeflow.drop(f"demo/{SAMPLE}", dataset, metadata)
        print_fn(f"  dropped s3://{judgeflow.d.datasets_bucket}/{key} ({len(dataset)} bytes, "
                 f"x-amz-meta: {metadata})")
        (result,) = judgeflow.wait_for(1, timeout=120)
        print_fn("\nSteps taken (Step Functions console names):")
        for number, step in enumerate(result.steps, start=1):
            print_fn(f"  {number:2d}. {step}")
        print_fn(f"\nExecution {result.status}")
        if result.status != "SUCCEEDED":
            print_fn(f"  error: {result.error}\n  cause: {result.cause}")
            return 1
        summary = result.output
        counts = summary["counts"]
        service = summary["service_metrics"]
        low, high = summary["judgeflow_wilson_95"]
        print_fn(f"\nMetrics (A = {metadata['model-a']}, B = {metadata['model-b']}; produced by "
                 f"{summary['produced_by']})")
        rows = [
            ("A wins / B wins / ties / errors", f"{counts['a']} / {counts['b']} / {counts['ties']} / {counts['errors']}"),
            ("service winrate [lower, upper]", f"{service['winrate']} [{service['lower_rate']}, {service['upper_rate']}]"),
            ("judgeflow win rate of B [Wilson 95%]",
             f"{summary['judgeflow_b_share']:.3f} [{low:.3f}, {high:.3f}] (B's share of decisive items)"
             if low is not None else "- (no decisive items)"),
            ("verdict", f"{summary['verdict']} - {summary['verdict_reason']}"),
        ]
        width = max(len(r[0]) for r in rows)
        for label, value in rows:
            print_fn(f"  {label.ljust(width)}  {value}")
        _print_lambdas(judgeflow, print_fn)
        written = []
        for uri in summary["locations"].values():
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
