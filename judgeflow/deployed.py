"""A deployed judgeflow as the operator commands see it.

Found through the pipeline stack's CloudFormation outputs (judgeflow.stacks) and reached with
boto3's own configuration, as the AWS CLI is: credentials, profile, region, and the endpoint
(`AWS_ENDPOINT_URL`, which points every command at `judgeflow local up`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Mapping

from judgeflow import layout, runs, stacks
from judgeflow.adapters.registry import RunRegistry


class NotFound(Exception):
    """A stack, run or output the command was told of does not exist: a sentence saying which."""


class RunNotStarted(Exception):
    """An upload did not become a run: its execution ended first, or none started in time."""


@dataclass(frozen=True)
class Deployed:
    session: Any  # boto3.Session
    stack: str
    datasets_bucket: str
    metrics_bucket: str
    registry_table: str
    state_machine_arn: str
    _clients: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def find(cls, *, profile: str | None = None, region: str | None = None, stack: str | None = None) -> "Deployed":
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        session = boto3.Session(profile_name=profile, region_name=region)
        if not session.region_name:
            raise NotFound("no AWS region: give --region, or set one in your AWS profile or AWS_DEFAULT_REGION")
        stack = stack or stacks.stack_names()[1]
        cloudformation = session.client("cloudformation")

        def outputs_of(name: str, needed: tuple[str, ...], what: str) -> dict[str, str]:
            try:
                described = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
            except ClientError as exc:
                if "does not exist" in str(exc):
                    raise NotFound(f"no stack {name!r} in {session.region_name}: deploy judgeflow (cdk deploy --all), "
                                   "or name its pipeline stack with --stack") from None
                raise
            except BotoCoreError as exc:  # no credentials, no network, a wrong endpoint
                raise NotFound(f"cannot read stack {name!r} in {session.region_name} ({exc}): check your "
                               "credentials, --profile and --region, or AWS_ENDPOINT_URL for a local stack") from None
            found = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
            missing = [key for key in needed if key not in found]
            if missing:
                raise NotFound(f"stack {name!r} has no output {', '.join(missing)}: it is not a judgeflow {what} "
                               "stack, or an older one (deploy this version)")
            return found

        pipeline = outputs_of(stack, stacks.PIPELINE_OUTPUTS, "pipeline")
        data = outputs_of(pipeline[stacks.DATA_STACK], stacks.DATA_OUTPUTS, "data")
        return cls(session=session, stack=stack, datasets_bucket=data[stacks.DATASETS_BUCKET],
                   metrics_bucket=data[stacks.METRICS_BUCKET], registry_table=data[stacks.RUN_REGISTRY_TABLE],
                   state_machine_arn=pipeline[stacks.STATE_MACHINE_ARN])

    def client(self, name: str) -> Any:
        """One client per service for the command's life (a wait polls every second)."""
        if name not in self._clients:
            self._clients[name] = self.session.client(name)
        return self._clients[name]

    @cached_property
    def registry(self) -> RunRegistry:
        return RunRegistry(self.session.resource("dynamodb").Table(self.registry_table))

    @property
    def region(self) -> str:
        return self.session.region_name

    def console_link(self, execution_arn: str) -> str:
        return (f"https://{self.region}.console.aws.amazon.com/states/home?region={self.region}"
                f"#/v2/executions/details/{execution_arn}")

    # --- submit ------------------------------------------------------------------------------------
    def upload(self, path: Path, metadata: Mapping[str, str]) -> tuple[str, str]:
        """Put the file under incoming/ (which starts a run) with the settings as S3 metadata:
        (key, version id). A second upload under the same name is a new version; none is lost."""
        key = f"{layout.INCOMING_PREFIX}{path.name}"
        with path.open("rb") as body:
            reply = self.client("s3").put_object(Bucket=self.datasets_bucket, Key=key, Body=body,
                                                 Metadata=dict(metadata))
        return key, reply.get("VersionId", "")

    def run_of_upload(self, key: str, version_id: str, *, timeout: float = 300,
                      sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
        """The run an upload became, once its execution registered it (or rejected it, or found it
        a duplicate of an earlier run): {"run_id", "execution_arn", "duplicate_of"?, "status"}."""
        deadline = time.monotonic() + timeout
        # The upload's execution starts after now, give or take the clock skew between this
        # machine and AWS: older executions are never read, and none is described twice.
        started_after = datetime.now(timezone.utc) - timedelta(minutes=5)
        seen: set[str] = set()
        execution_arn = None
        while time.monotonic() < deadline:
            execution_arn = execution_arn or self._execution_of(key, version_id, started_after, seen)
            if execution_arn:
                found = self._registered(execution_arn)
                if found:
                    return found
                described = self.client("stepfunctions").describe_execution(executionArn=execution_arn)
                if described["status"] != "RUNNING" and not self._registered(execution_arn):
                    raise RunNotStarted(f"the execution for s3://{self.datasets_bucket}/{key} ended {described['status']} "
                                        f"before registering a run ({described.get('error')}: {described.get('cause')}); "
                                        f"see {self.console_link(execution_arn)}")
            sleep(1.0)
        raise RunNotStarted(f"no run registered for s3://{self.datasets_bucket}/{key} (version {version_id}) within "
                           f"{timeout:.0f} s" + (f"; its execution is {execution_arn}" if execution_arn else
                                                 ": no execution started (check the bucket's EventBridge rule)"))

    def _execution_of(self, key: str, version_id: str, started_after: datetime, seen: set[str]) -> str | None:
        """The execution whose input names this upload. ListExecutions returns the most recent
        execution first (API reference, ListExecutions), so the walk stops at the first one
        started before `started_after`; executions already read (`seen`) are not described again."""
        sfn = self.client("stepfunctions")
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=self.state_machine_arn):
            for execution in page["executions"]:
                if execution["startDate"] < started_after:
                    return None
                if execution["executionArn"] in seen:
                    continue
                seen.add(execution["executionArn"])
                described = sfn.describe_execution(executionArn=execution["executionArn"])
                execution_input = json.loads(described.get("input") or "{}")
                if isinstance(execution_input, dict) and execution_input.get("key") == key and \
                        execution_input.get("version_id") == version_id:
                    return execution["executionArn"]
        return None

    def _registered(self, execution_arn: str) -> dict[str, Any] | None:
        item = self.registry.find_by_execution(execution_arn)
        if item:
            return {"run_id": item["run_id"], "execution_arn": execution_arn, "status": item.get("status"),
                    "reason": item.get("reason")}
        history = self.client("stepfunctions").get_execution_history(executionArn=execution_arn, maxResults=1000)
        for event in history["events"]:
            details = event.get("lambdaFunctionSucceededEventDetails") or event.get("taskSucceededEventDetails") or {}
            output = json.loads(details.get("output") or "{}")
            output = output.get("Payload", output) if isinstance(output, dict) else {}
            if isinstance(output, dict) and output.get("duplicate_of"):
                earlier = self.run(output["duplicate_of"]) or {}
                return {"run_id": output["duplicate_of"], "execution_arn": execution_arn, "duplicate_of":
                        output["duplicate_of"], "status": earlier.get("status"), "message": output.get("message")}
        return None

    # --- runs ----------------------------------------------------------------------------------------
    def run(self, run_id: str) -> dict[str, Any] | None:
        item = self.registry.get(run_id)
        return plain(item) if item else None

    def require_run(self, run_id: str) -> dict[str, Any]:
        found = self.run(run_id)
        if found is None:
            raise NotFound(f"no run {run_id!r} in stack {self.stack!r}: list the runs with 'judgeflow runs'")
        return found

    def runs(self, *, status: str | None = None, since: datetime | None = None,
             limit: int | None = None) -> list[dict[str, Any]]:
        """Runs, newest first, optionally of one status and created since a time."""
        from boto3.dynamodb.conditions import Attr

        condition = None
        if status:
            condition = Attr("status").eq(status)
        if since:
            after = Attr("created_at").gte(int(since.timestamp()))
            condition = after if condition is None else condition & after
        table = self.registry.table
        items, request = [], {"FilterExpression": condition} if condition is not None else {}
        while True:
            page = table.scan(**request)
            items += [plain(item) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        items.sort(key=lambda item: item.get("created_at") or 0, reverse=True)
        return items[:limit] if limit else items

    def summary(self, run_id: str) -> dict[str, Any] | None:
        """The run's reports/<run>/summary.json, once its results were applied."""
        try:
            body = self.client("s3").get_object(Bucket=self.metrics_bucket,
                                                Key=f"{layout.report_prefix(run_id)}summary.json")["Body"]
        except self.client("s3").exceptions.NoSuchKey:
            return None
        return json.loads(body.read())

    def job_status(self, job_name: str) -> str | None:
        try:
            return self.client("sagemaker").describe_training_job(TrainingJobName=job_name)["TrainingJobStatus"]
        except Exception:  # not created yet, or no access: the display shows none
            return None

    def download_report(self, run_id: str, out: Path) -> list[Path]:
        """report.png, summary.json and summary.md of a run, written into `out`."""
        s3 = self.client("s3")
        written = []
        for name in ("report.png", "summary.json", "summary.md"):
            key = f"{layout.report_prefix(run_id)}{name}"
            try:
                data = s3.get_object(Bucket=self.metrics_bucket, Key=key)["Body"].read()
            except s3.exceptions.NoSuchKey:
                raise NotFound(f"run {run_id!r} has no {name} yet (s3://{self.metrics_bucket}/{key}): its results "
                               "are written when it ends; follow it with 'judgeflow wait'") from None
            target = out / name
            target.write_bytes(data)
            written.append(target)
        return written

    def cancel(self, run_id: str, *, timeout: float = 120, sleep: Callable[[float], None] = time.sleep) -> dict:
        """Stop the run's execution; returns the run once it is recorded as ended."""
        item = self.require_run(run_id)
        if item.get("status") != runs.RUNNING:
            return item
        self.client("stepfunctions").stop_execution(executionArn=item["execution_arn"],
                                                    cause="cancelled with judgeflow cancel")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            item = self.require_run(run_id)
            if item.get("status") != runs.RUNNING:
                return item
            sleep(0.5)
        return item


def plain(value: Any) -> Any:
    """A DynamoDB item as plain JSON values (numbers come back as Decimal)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain(item) for item in value]
    return value


def when(epoch: Any) -> str:
    return datetime.fromtimestamp(int(epoch), timezone.utc).strftime("%Y-%m-%d %H:%M") if epoch else "-"
