"""The whole judgeflow pipeline running offline: the synthesized cloud assembly deployed into the embedded
AWS, with helpers to drop datasets, start console-style runs and read what happened."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Mapping, TextIO

import boto3

from judgeflow import layout
from judgeflow.adapters.ledger import COUNTER_SORT_KEY, QUEUE_PARTITION
from offline.aws_limits import AwsLimits
from offline.deploy import Deployment, deploy
from offline.embedded_aws import EmbeddedAws, EmulatorBehaviour
from offline.synth import CloudAssembly

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


@dataclass
class ExecutionResult:
    arn: str
    status: str
    output: Any
    error: str | None
    cause: str | None
    steps: list[str]


class OfflineJudgeflow:
    """Context manager: start the embedded AWS, deploy the assembly, run datasets through."""

    def __init__(self, assembly: CloudAssembly, *, stack_order: list[str], region: str,
                 quotas: Mapping[str, float] | None = None, wait_scale: float = 0.0,
                 emulator: EmulatorBehaviour | None = None, log_level: str = "INFO",
                 lambda_log: TextIO | None = None, limits: AwsLimits | None = None,
                 expect_denials: bool = False, port: int = 0) -> None:
        self.assembly = assembly
        self.expect_denials = expect_denials  # a test that removes a grant on purpose
        self.stack_order = stack_order
        self.aws = EmbeddedAws(region=region, wait_scale=wait_scale, emulator=emulator, log_level=log_level,
                               lambda_log=lambda_log, limits=limits, port=port)
        self.initial_quotas = dict(quotas) if quotas is not None else {"ml.g5.12xlarge": 1}
        self.deployment: Deployment | None = None

    def __enter__(self) -> "OfflineJudgeflow":
        self.aws.start()
        try:
            for instance_type, value in self.initial_quotas.items():
                self.aws.set_quota(instance_type, value)
            self.deployment = deploy(self.aws, self.assembly, self.stack_order)
        except Exception:
            self.aws.stop()
            raise
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        outside = self.aws.lambdas.modules_outside_code() if self.aws.lambdas else {}
        denials = self.aws.iam.denials if self.aws.iam else []
        overruns = list(self.aws.lambdas.storage_overruns) if self.aws.lambdas else []
        self.aws.stop()
        if outside and exc_type is None:
            raise AssertionError(f"Lambda functions loaded modules from outside their assets: {outside}")
        if overruns and exc_type is None:
            raise AssertionError("Lambda /tmp over its ephemeral storage (AWS would fail the writes):\n  "
                                 + "\n  ".join(overruns))
        if denials and exc_type is None and not self.expect_denials:
            # A denied call may be handled (a best-effort notice, a retried read): it still fails the
            # deploy's promise, so it fails the test.
            raise AssertionError("AWS would refuse these calls under the synthesized policies:\n  "
                                 + "\n  ".join(d.describe() for d in denials))

    # --- clients -------------------------------------------------------------------------------
    def client(self, name: str) -> Any:
        return boto3.client(name, region_name=self.aws.region)

    @property
    def d(self) -> Deployment:
        assert self.deployment is not None, "use OfflineJudgeflow as a context manager"
        return self.deployment

    # --- actions -------------------------------------------------------------------------------
    def drop(self, name: str, body: bytes, metadata: Mapping[str, str] | None = None) -> str:
        """Upload under incoming/ like a user would; the S3 event starts the run."""
        key = name if name.startswith(layout.INCOMING_PREFIX) else layout.INCOMING_PREFIX + name
        self.client("s3").put_object(Bucket=self.d.datasets_bucket, Key=key, Body=body,
                                     Metadata=dict(metadata or {}))
        return key

    def start_console_run(self, execution_input: Mapping[str, Any], name: str | None = None) -> str:
        # The console and the CLI name executions with a fresh UUID; moto would leave them nameless.
        return self.client("stepfunctions").start_execution(
            stateMachineArn=self.d.state_machine_arn, input=json.dumps(execution_input),
            name=name or str(uuid.uuid4()))["executionArn"]

    def executions(self) -> list[dict[str, Any]]:
        return self.client("stepfunctions").list_executions(stateMachineArn=self.d.state_machine_arn)["executions"]

    def wait_for(self, count: int = 1, timeout: float = 60) -> list[ExecutionResult]:
        """Wait until at least `count` executions exist and all are finished (and the events they
        raised have been delivered)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            executions = self.executions()
            if len(executions) >= count and all(e["status"] in TERMINAL for e in executions):
                break
            time.sleep(0.05)
        else:
            states = [(e.get("name"), e["status"]) for e in self.executions()]
            raise TimeoutError(f"executions did not finish in {timeout} s: {states}; harness errors: {self.aws.errors}")
        self.aws.wait_for_deliveries()  # e.g. the status-change rule's Lambda after an abort
        ordered = sorted(self.executions(), key=lambda e: e["startDate"])
        return [self.result(e["executionArn"]) for e in ordered]

    def result(self, execution_arn: str) -> ExecutionResult:
        sfn = self.client("stepfunctions")
        described = sfn.describe_execution(executionArn=execution_arn)
        history = self._history(execution_arn)
        steps = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
        output = json.loads(described["output"]) if described.get("output") else None
        return ExecutionResult(arn=execution_arn, status=described["status"], output=output,
                               error=described.get("error"), cause=described.get("cause"), steps=steps)

    def _history(self, execution_arn: str) -> list[dict[str, Any]]:
        # moto can fail to serialize the history of an execution while it is being stopped (an event
        # still half-built): read again, as a console refresh would.
        error: Exception | None = None
        for _attempt in range(5):
            try:
                return self.client("stepfunctions").get_execution_history(
                    executionArn=execution_arn, maxResults=1000)["events"]
            except TypeError as exc:
                time.sleep(0.1)
                error = exc
        self.aws.errors.append(f"history of {execution_arn} unreadable in moto: {error}")
        return []

    # --- reading state -------------------------------------------------------------------------
    def run_record(self, run_id: str) -> dict[str, Any] | None:
        table = boto3.resource("dynamodb", region_name=self.aws.region).Table(self.d.runs_table)
        return table.get_item(Key={"run_id": run_id}).get("Item")

    def run_records(self) -> list[dict[str, Any]]:
        table = boto3.resource("dynamodb", region_name=self.aws.region).Table(self.d.runs_table)
        return table.scan()["Items"]

    def _capacity_items(self) -> list[dict[str, Any]]:
        table = boto3.resource("dynamodb", region_name=self.aws.region).Table(self.d.capacity_table)
        return table.scan(ConsistentRead=True)["Items"]

    def reservations(self) -> list[dict[str, Any]]:
        return [item for item in self._capacity_items()
                if item["holder"] != COUNTER_SORT_KEY and item["instance_type"] != QUEUE_PARTITION]

    def queue(self) -> list[dict[str, Any]]:
        """Runs waiting in line for capacity (expired places included), first in line first."""
        waiting = [item for item in self._capacity_items() if item["instance_type"] == QUEUE_PARTITION]
        return sorted(waiting, key=lambda item: (item["enqueued_at_ms"], item["holder"]))

    def training_jobs(self) -> list[dict[str, Any]]:
        sagemaker = self.client("sagemaker")
        return [sagemaker.describe_training_job(TrainingJobName=s["TrainingJobName"])
                for s in sagemaker.list_training_jobs()["TrainingJobSummaries"]]

    def read(self, bucket: str, key: str) -> bytes:
        return self.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        return [o["Key"] for o in self.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
