"""The embedded AWS: moto (pinned exactly in requirements-dev.txt) plus the few patches that let
it run judgeflow's synthesized state machine unchanged. Every patch lives here, is applied by
`EmbeddedAws.start()` and undone by `stop()`:

1. Lambda invoke runs the function from its deployed asset, in its own interpreter of the Lambda
   runtime's Python (offline/lambda_runtime.py; moto would need docker). Those interpreters reach
   this embedded AWS over HTTP (offline/aws_server.py), one API call at a time, as atomic as on AWS.
2. EventBridge rules deliver to Step Functions and Lambda targets, applying the target's input
   transformer (moto delivers S3 events only to SQS/logs/buses, untransformed); each S3 event gets
   its own id (moto stamps all with one). Lambda targets
   are invoked asynchronously, as EventBridge does: the S3 PutObject that raised the event
   returns before the function runs (`wait_for_deliveries()` joins them). Delivery is at least once
   and unordered on AWS: a test may ask for each event twice (`event_copies`), hold events back and
   release them later, newest first (`hold_events`, `release_held_events`), or send an object's
   event again (`redeliver_object_created`).
3. `arn:aws:states:::sagemaker:createTrainingJob.sync` (moto: unsupported) calls CreateTrainingJob
   and polls DescribeTrainingJob, failing the task as AWS does (`SageMaker.<Code>Exception`,
   or States.TaskFailed with the job description as cause).
4. Wait states sleep, and task timeouts read from a path (`TimeoutSecondsPath`: the capacity
   wait) last, `seconds x wait_scale` (a timeout at least MIN_SCALED_TIMEOUT) so capacity loops
   run in test time. Fixed `TimeoutSeconds` are not scaled.
5. Service Quotas serves seeded SageMaker quotas (moto has none): applied values from ListServiceQuotas
   and GetServiceQuota, defaults from ListAWSDefaultServiceQuotas and GetAWSDefaultServiceQuota.
7. SendTaskFailure keeps its `cause` (moto's response handler drops it).
8. Every execution's end publishes its "Step Functions Execution Status Change" event to EventBridge
   (SUCCEEDED, FAILED, TIMED_OUT when it ends, ABORTED at StopExecution), as AWS does (moto publishes
   none); StopExecution ends a task parked on a task token at once,
   and stays final: moto would let the interrupted task's error turn ABORTED into FAILED.
6. SageMaker training jobs start InProgress and are run by the local Nova emulator (a worker
   thread per job), which enforces the seeded quota like CreateTrainingJob does on AWS.
9. The limits AWS enforces and moto does not (S3 key length, SNS subjects, ...): offline/aws_limits.py,
   each with its AWS source, switchable per test.
10. IAM on every call of a deployed principal (the Lambdas, the state machine, the judge job, EventBridge
   targets), decided against the synthesized policies: offline/iam_enforcement.py.
12. A Lambda step's reply may be lost after the function ran (`lose_replies`): Step Functions then
   sees Lambda.ServiceException and retries the step, as AWS runs a step at least once.
11. Parameters the interpreter's grammar takes for keywords (`"RoleArn.$"`, the key of a task's
   `Credentials`) are read as the JSONPath bindings they are inside `Parameters`.

`stop()` first stops executions still running and joins every execution thread started since
`start()`, so no execution outlives the harness (moto's threads are daemons that would otherwise
go on calling services after the mock is gone).

Patches touch moto internals: the exact version pin and the e2e tests guard them.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import json
import os
import re
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, TextIO
from urllib.parse import unquote

import boto3
from moto import mock_aws
from moto.utilities.utils import get_partition

from judgeflow.capacity_policy import ACCOUNT_INSTANCES_QUOTA, quota_name
from offline import aws_limits
from offline.aws_limits import AwsLimits
from offline.aws_server import AwsServer, Fault, Faults
from offline.iam_enforcement import (STATE_MACHINE_ACCESS_KEY, AccessDenied, AccessModel, IamEnforcement, Permission,
                                     UnmappedCall, credential_scope, required_permissions, s3_permissions)
from offline.lambda_runtime import LambdaService

ACCOUNT_ID = "123456789012"
# Shortest scaled task timeout: long enough for the task's own Lambda call to finish first.
MIN_SCALED_TIMEOUT = 0.05


@dataclass
class EmulatorBehaviour:
    """How the local Nova emulator runs jobs. Tests change these to inject faults."""

    duration_seconds: float = 0.2
    fail_jobs: dict[str, str] = field(default_factory=dict)  # job name prefix -> FailureReason
    resource_limit_refusals: int = 0  # next N CreateTrainingJob calls refused as over quota
    create_throttles: int = 0  # next N CreateTrainingJob calls throttled (ThrottlingException), nothing created
    error_items: tuple[int, ...] = ()  # staged item indexes reported as inference errors
    hold_jobs: tuple[str, ...] = ()  # job name prefixes kept InProgress until finish_held_job()
    capacity_errors: dict[str, int] = field(default_factory=dict)  # instance type -> next N jobs fail so
    job_gate: threading.Event | None = None  # when given, jobs run only once it is set (to line runs up)
    # Which published output form a job writes, chosen from its staged records (None: the default form).
    output_form: Callable[[list[dict[str, Any]]], Any] | None = None


def _limit_exceeded(quota: str, limit: float, in_use: int, count: int) -> Exception:
    """CreateTrainingJob's refusal over a quota, in SageMaker's words."""
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError(
        "ResourceLimitExceeded",
        f"The account-level service limit '{quota}' is {int(limit)} Instances, with current utilization of "
        f"{in_use} Instances and a request delta of {count} Instances. Please use AWS Service Quotas to request "
        "an increase for this quota.")


class EmbeddedAws:
    """moto with judgeflow's patches. Use as a context manager."""

    def __init__(self, *, region: str, wait_scale: float = 0.0, emulator: EmulatorBehaviour | None = None,
                 log_level: str = "INFO", lambda_log: TextIO | None = None, limits: AwsLimits | None = None,
                 port: int = 0) -> None:
        self.region = region
        # The deployed policies (filled by the offline deploy) and the decision of every call made under them.
        self.access = AccessModel(account=ACCOUNT_ID, region=region)
        self.iam: IamEnforcement | None = None
        self.limits = limits or AwsLimits()
        self.wait_scale = wait_scale
        self.emulator = emulator or EmulatorBehaviour()
        self.log_level = log_level
        # What the handlers print (Powertools JSON logs and EMF metrics), as CloudWatch Logs would
        # hold it; kept off the console. Loggers bind to the stream they first see, so it is one sink.
        self.lambda_log: TextIO = lambda_log or tempfile.TemporaryFile(mode="w+", encoding="utf-8")
        self.quotas: dict[str, float] = {}  # applied quota values
        self.default_quotas: dict[str, float] = {}  # AWS default values
        self.faults = Faults()
        self.server = AwsServer(self.faults, port=port)
        self.lambdas: LambdaService | None = None  # the deployed functions, from start() on
        self.errors: list[str] = []
        self.job_threads: list[threading.Thread] = []
        self.delivery_threads: list[threading.Thread] = []
        self.held_jobs: dict[str, Any] = {}
        self.lost_replies: dict[str, int] = {}  # see lose_replies()
        # Event delivery (section 2): copies of each matching event, and which to hold back.
        self.event_copies = 1
        self.hold_events: Callable[[str, dict[str, Any]], bool] | None = None  # (rule name, event) -> hold?
        self.held_events: list[tuple[Any, dict[str, Any], bool]] = []
        self._lost_replies_lock = threading.Lock()
        self._undo: list[Callable[[], None]] = []
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._saved_env: dict[str, str | None] = {}
        self._first_execution_thread = 0  # index into moto's list of execution threads

    # --- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> "EmbeddedAws":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        fake_env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_SECURITY_TOKEN": "testing", "AWS_SESSION_TOKEN": "testing",
                    "AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region}
        for key, value in fake_env.items():
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value
        self._mock.start()
        from moto.stepfunctions.parser.utils import TMP_THREADS

        self._first_execution_thread = len(TMP_THREADS)  # stop() joins the execution threads after it
        self.server.start()
        self.lambdas = LambdaService(endpoint=self.server.endpoint, region=self.region, log=self.lambda_log,
                                     log_level=self.log_level)
        self._patch_atomic_calls()
        self._patch_lambda_invoke()
        self._patch_eventbridge_targets()
        self._patch_sagemaker_integration()
        self._patch_wait_states()
        self._patch_service_quotas()
        self._patch_training_jobs()
        self._patch_send_task_failure()
        self._patch_stop_execution()
        self._patch_payload_keywords()
        self.iam = IamEnforcement(self.access)
        self._patch_iam()
        aws_limits.install(self.limits, self._replace)
        self.rate_limiter = aws_limits.RateLimiter(self.limits.api_rates)
        self.server.throttle = self.rate_limiter.throttled

    def stop(self) -> None:
        self._end_executions()
        self.wait_for_jobs()
        self.wait_for_deliveries()
        if self.lambdas is not None:
            self.lambdas.stop()
        self.server.stop()
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()
        self._mock.stop()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def _end_executions(self, timeout: float = 30) -> None:
        """No execution outlives the harness: stop those still running (as an operator would) and
        join every execution thread started here, so none calls a service after the mock is gone."""
        from moto.stepfunctions.parser.utils import TMP_THREADS
        from moto.stepfunctions.responses import get_backend

        backend = get_backend(ACCOUNT_ID, self.region)  # the executing (parser) backend
        for machine in list(backend.state_machines):
            for execution in list(machine.executions):
                if execution.status == "RUNNING":
                    backend.stop_execution(execution.execution_arn)
        deadline = time.time() + timeout
        for thread in TMP_THREADS[self._first_execution_thread:]:
            thread.join(max(0.0, deadline - time.time()))

    def finish_held_job(self, name: str) -> None:
        job = self.held_jobs.pop(name)
        job.training_job_status = job.secondary_status = "Completed"

    def wait_for_jobs(self, timeout: float = 30) -> None:
        for thread in list(self.job_threads):
            thread.join(timeout)

    def wait_for_deliveries(self, timeout: float = 60) -> None:
        """Join the asynchronous EventBridge -> Lambda invocations started so far."""
        for thread in list(self.delivery_threads):
            thread.join(timeout)

    def release_held_events(self, *, newest_first: bool = False) -> None:
        """Deliver the events held back so far (all, in the order given), then stop holding."""
        held, self.held_events, self.hold_events = self.held_events, [], None
        for rule, event, transform_input in (reversed(held) if newest_first else held):
            rule.send_to_targets(event, transform_input=transform_input)

    def redeliver_object_created(self, bucket: str, key: str, version_id: str) -> None:
        """The "Object Created" event of one object version, sent again as EventBridge may."""
        from moto.s3.models import s3_backends
        from moto.s3.notifications import _send_event_bridge_message

        backend = s3_backends[ACCOUNT_ID][get_partition(self.region)]
        stored = backend.get_object(bucket, key, version_id=version_id)
        _send_event_bridge_message(ACCOUNT_ID, backend.get_bucket(bucket), "s3:ObjectCreated:Put", stored)

    def published_messages(self) -> list[dict[str, Any]]:
        """Every SNS message published so far: {"Topic", "Subject", "Message"}."""
        from moto.sns.models import sns_backends

        return [{"Topic": arn, "Subject": subject, "Message": message}
                for arn, topic in sns_backends[ACCOUNT_ID][self.region].topics.items()
                for _id, message, subject, _attributes, _group in topic.sent_notifications]

    def lose_replies(self, function_name_part: str, count: int = 1) -> None:
        """The next `count` synchronous invokes of functions whose name contains `function_name_part`
        run, then answer ServiceException: AWS runs a step at least once, not exactly once."""
        self.lost_replies[function_name_part] = self.lost_replies.get(function_name_part, 0) + count

    def _take_lost_reply(self, function_name: str) -> bool:
        with self._lost_replies_lock:
            for part, left in self.lost_replies.items():
                if left > 0 and part in function_name:
                    self.lost_replies[part] = left - 1
                    return True
        return False

    def _replace(self, owner: Any, name: str, value: Any) -> None:
        original = getattr(owner, name)
        setattr(owner, name, value)
        self._undo.append(lambda: setattr(owner, name, original))

    # --- 0. Every API call atomic ---------------------------------------------------------------------
    def _patch_atomic_calls(self) -> None:
        """The harness's own calls (tests reading state, the state machine's service tasks, the
        emulator) take the lock the served calls take. Except a Lambda Invoke: the function it runs
        makes calls of its own, through the server, while the Invoke waits."""
        from moto.core.botocore_stubber import BotocoreStubber

        original = BotocoreStubber.__call__
        lock = self.server.api_lock

        def __call__(stubber: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
            if event_name.startswith("before-send.lambda.Invoke"):
                return original(stubber, event_name, request, **kwargs)
            with lock:
                return original(stubber, event_name, request, **kwargs)

        self._replace(BotocoreStubber, "__call__", __call__)

    # --- 1. Lambda from its asset, in the runtime's Python -------------------------------------------
    def _patch_lambda_invoke(self) -> None:
        from moto.awslambda.models import LambdaFunction

        harness = self

        def _invoke_lambda(function: Any, event: Any = None) -> tuple[str, bool, str]:
            payload, errored = harness.lambdas.invoke(function.function_name, event if event is not None else {})
            if harness._take_lost_reply(function.function_name):
                from moto.core.exceptions import JsonRESTError

                # The function ran and its writes landed; the caller only sees a service error
                # (Step Functions: Lambda.ServiceException) and retries the step.
                error = JsonRESTError("ServiceException", "Lambda was unable to return the function's reply")
                error.code = 500
                raise error
            return payload, errored, ""

        self._replace(LambdaFunction, "_invoke_lambda", _invoke_lambda)

    # --- 2. EventBridge -> Step Functions / Lambda ----------------------------------------------
    def _patch_eventbridge_targets(self) -> None:
        from moto.events.models import Rule

        original = Rule.send_to_targets
        harness = self

        def send_to_targets(rule: Any, event: dict[str, Any], transform_input: bool = True) -> None:
            _own_identity(event)
            if not rule.event_pattern.matches_event(event):
                return
            # EventBridge delivers at least once and in no promised order: a test may ask for every
            # matching event twice, or hold some back and deliver them later (release_held_events).
            if harness.hold_events is not None and harness.hold_events(rule.name, event):
                harness.held_events.append((rule, event, transform_input))
                return
            for _copy in range(harness.event_copies):
                try:
                    _send(rule, event, transform_input)
                except Exception as exc:  # moto swallows errors here: keep them visible
                    harness.errors.append(f"EventBridge rule {rule.name}: {type(exc).__name__}: {exc}")
                    raise

        def _send(rule: Any, event: dict[str, Any], transform_input: bool) -> None:
            # moto's S3 events lack ingestion-time, which input transformers may reference.
            event = {"ingestion-time": event.get("time"), **event}
            other = []
            for target in rule.targets:
                service = target["Arn"].split(":")[2]
                if service not in ("states", "lambda"):
                    other.append(target)
                    continue
                if "InputTransformer" in target:
                    transformer = target["InputTransformer"]
                    payload = apply_input_transformer(transformer.get("InputTemplate", ""),
                                                      transformer.get("InputPathsMap", {}), event)
                elif "Input" in target:
                    payload = json.loads(target["Input"])
                else:
                    payload = event
                harness._deliver(service, target["Arn"], payload, rule_arn=rule.arn, role_arn=target.get("RoleArn"))
            if other:
                saved = rule.targets
                rule.targets = other
                try:
                    original(rule, event, transform_input)
                finally:
                    rule.targets = saved

        self._replace(Rule, "send_to_targets", send_to_targets)

    def _deliver(self, service: str, arn: str, payload: Any, *, rule_arn: str, role_arn: str | None) -> None:
        body = payload if isinstance(payload, str) else json.dumps(payload)
        # EventBridge starts an execution with the target's role, and invokes a function as the
        # events service, which the function's resource policy must allow for this rule.
        if service == "states":
            allowed = role_arn is not None and self.authorize(
                self.iam.register_role(role_arn, session_name="events"),
                [Permission("states:StartExecution", arn)])
        else:
            allowed = self.authorize("events.amazonaws.com", [Permission(
                "lambda:InvokeFunction", arn, {"aws:SourceArn": rule_arn, "aws:SourceAccount": ACCOUNT_ID})])
        if not allowed:
            self.errors.append(f"EventBridge could not deliver to {arn}: denied (role {role_arn})")
            return
        try:
            if service == "states":
                # EventBridge names each execution with a fresh UUID (moto would leave it empty).
                boto3.client("stepfunctions", region_name=self.region).start_execution(
                    stateMachineArn=arn, input=body, name=str(uuid.uuid4()))
            else:
                thread = threading.Thread(target=self._invoke_async, args=(arn, body), daemon=True,
                                          name=f"eventbridge-{arn.rsplit(':', 1)[-1]}")
                self.delivery_threads.append(thread)
                thread.start()
        except Exception as exc:  # EventBridge is asynchronous: keep the failure visible, never raise
            self.errors.append(f"EventBridge delivery to {arn} failed: {exc}")

    def _invoke_async(self, arn: str, body: str) -> None:
        try:
            boto3.client("lambda", region_name=self.region).invoke(FunctionName=arn, InvocationType="Event",
                                                                   Payload=body.encode())
        except Exception as exc:
            self.errors.append(f"EventBridge delivery to {arn} failed: {exc}")

    # --- 3. SageMaker createTrainingJob.sync --------------------------------------------------------
    def _patch_sagemaker_integration(self) -> None:
        from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory

        from offline.sagemaker_task import StateTaskServiceSageMaker

        original = state_task_factory.state_task_service_for

        def state_task_service_for(service_name: str):
            if service_name == "sagemaker":
                return StateTaskServiceSageMaker()
            return original(service_name)

        self._replace(state_task_factory, "state_task_service_for", state_task_service_for)

        def authorize_managed_rule(checks: list[tuple[str, str]]) -> None:
            principal = self.iam.principal_for(STATE_MACHINE_ACCESS_KEY)
            if principal is not None and not self.authorize(principal, [Permission(a, r) for a, r in checks]):
                raise RuntimeError(f"Step Functions could not manage its SageMaker rule: {self.errors[-1]}")

        self._replace(StateTaskServiceSageMaker, "authorize_managed_rule", staticmethod(authorize_managed_rule))

    # --- 4. Wait states and path timeouts -----------------------------------------------------------
    def _patch_wait_states(self) -> None:
        from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSecondsPath
        from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

        harness = self
        original_timeout = TimeoutSecondsPath._eval_seconds

        def _wait_interval(function: Any, env: Any, wait_seconds: int) -> None:
            scaled = wait_seconds * harness.wait_scale
            if scaled > 0:
                env.program_state_event.wait(scaled)

        def _eval_seconds(timeout: Any, env: Any) -> float:
            return max(MIN_SCALED_TIMEOUT, original_timeout(timeout, env) * harness.wait_scale)

        self._replace(WaitFunction, "_wait_interval", _wait_interval)
        self._replace(TimeoutSecondsPath, "_eval_seconds", _eval_seconds)

    # --- 5. Service Quotas ------------------------------------------------------------------------
    def set_quota(self, instance_type: str, value: float) -> None:
        """An applied quota value (what the account was granted, or what it has by default)."""
        self.quotas[instance_type] = float(value)
        self.default_quotas.setdefault(instance_type, 0.0)

    def set_unapplied_quota(self, instance_type: str, default: float) -> None:
        """A quota with no applied value: AWS lists it only among the defaults."""
        self.quotas.pop(instance_type, None)
        self.default_quotas[instance_type] = float(default)

    def quota_limit(self, instance_type: str) -> float:
        """What CreateTrainingJob enforces: the applied value, else the AWS default."""
        return self.quotas.get(instance_type, self.default_quotas.get(instance_type, 0.0))

    def account_instances_limit(self) -> float | None:
        """The account-wide cap on training instances of all types, when the test seeded one
        (`set_quota(ACCOUNT_INSTANCES_QUOTA, n)`); None: not enforced."""
        return self.quotas.get(ACCOUNT_INSTANCES_QUOTA, self.default_quotas.get(ACCOUNT_INSTANCES_QUOTA))

    def _patch_service_quotas(self) -> None:
        """SageMaker training quotas as Service Quotas serves them: ListServiceQuotas and
        GetServiceQuota return applied values only ("If the applied quota value is not available for
        a quota, the quota is not retrieved": ListServiceQuotas in the Service Quotas API reference);
        the defaults come from ListAWSDefaultServiceQuotas / GetAWSDefaultServiceQuota."""
        from moto.core.exceptions import JsonRESTError
        from moto.servicequotas.responses import ServiceQuotasResponse

        harness = self

        def quota(key: str, value: float) -> dict[str, Any]:  # key: an instance type, or a quota's own name
            code = harness.quota_code(key)
            name = key if key == ACCOUNT_INSTANCES_QUOTA else quota_name(key)
            return {"ServiceCode": "sagemaker", "ServiceName": "Amazon SageMaker",
                    "QuotaArn": f"arn:aws:servicequotas:{harness.region}:{ACCOUNT_ID}:sagemaker/{code}",
                    "QuotaCode": code, "QuotaName": name, "Value": value,
                    "Unit": "None", "Adjustable": True, "GlobalQuota": False}

        def paged(response: Any, quotas: list[dict[str, Any]]) -> str:
            params = json.loads(response.body or "{}")
            if params.get("ServiceCode") != "sagemaker":
                return json.dumps({"Quotas": []})
            # Two per page, so clients must follow NextToken as they must on AWS.
            start = int(params.get("NextToken") or 0)
            page: dict[str, Any] = {"Quotas": quotas[start:start + 2]}
            if start + 2 < len(quotas):
                page["NextToken"] = str(start + 2)
            return json.dumps(page)

        def by_code(response: Any, values: dict[str, float]) -> str:
            params = json.loads(response.body or "{}")
            for instance_type, value in values.items():
                if params.get("ServiceCode") == "sagemaker" and harness.quota_code(instance_type) == params.get("QuotaCode"):
                    return json.dumps({"Quota": quota(instance_type, value)})
            raise JsonRESTError("NoSuchResourceException", "The request failed because the specified service "
                                                          "quota does not exist.")

        handlers = {
            "list_service_quotas": lambda response: paged(
                response, [quota(t, v) for t, v in sorted(harness.quotas.items())]),
            "list_aws_default_service_quotas": lambda response: paged(
                response, [quota(t, v) for t, v in sorted(harness.default_quotas.items())]),
            "get_service_quota": lambda response: by_code(response, harness.quotas),
            "get_aws_default_service_quota": lambda response: by_code(response, harness.default_quotas),
        }
        for name, handler in handlers.items():
            if hasattr(ServiceQuotasResponse, name):
                self._replace(ServiceQuotasResponse, name, handler)
            else:
                setattr(ServiceQuotasResponse, name, handler)
                self._undo.append(lambda name=name: delattr(ServiceQuotasResponse, name))

    def quota_code(self, instance_type: str) -> str:
        """A stable quota code per instance type, unlike its name (as on AWS, codes are opaque)."""
        return "L-" + hashlib.sha256(instance_type.encode()).hexdigest()[:8].upper()

    # --- 8. StopExecution -> EventBridge status change ------------------------------------------------
    def _patch_stop_execution(self) -> None:
        from moto.stepfunctions.models import StepFunctionBackend
        from moto.stepfunctions.parser.asl.eval.environment import Environment
        from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

        original = StepFunctionBackend.stop_execution
        original_set_error = Environment.set_error
        harness = self

        def set_error(env: Any, error: Any) -> None:
            if not isinstance(env.program_state(), ProgramStopped):
                original_set_error(env, error)

        def stop_execution(backend: Any, execution_arn: str) -> Any:
            execution = original(backend, execution_arn)
            worker = getattr(execution, "exec_worker", None)
            if worker is not None:
                for endpoint in list(worker.env.callback_pool_manager._pool.values()):
                    endpoint.interrupt_all()
            harness.emit_event(_status_change(harness.region, execution, "ABORTED"))
            return execution

        self._replace(StepFunctionBackend, "stop_execution", stop_execution)
        self._replace(Environment, "set_error", set_error)

        # An execution that ends by itself (SUCCEEDED, FAILED, TIMED_OUT) raises its status change too
        # (https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html); ABORTED is raised above,
        # at the stop.
        from moto.stepfunctions.parser.asl.eval.program_state import ProgramEnded, ProgramError, ProgramTimedOut
        from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

        original_terminated = BaseExecutionWorkerCommunication.terminated

        def terminated(communication: Any) -> None:
            # Raised before moto marks the execution ended, so whoever waits for that end finds the
            # event's delivery already started.
            execution = communication.execution
            state = execution.exec_worker.env.program_state()
            status = {ProgramEnded: "SUCCEEDED", ProgramError: "FAILED", ProgramTimedOut: "TIMED_OUT"}.get(type(state))
            if status:
                error = state.error if isinstance(state, ProgramError) else {}
                harness.emit_event(_status_change(harness.region, execution, status,
                                                  error=error.get("error"), cause=error.get("cause")))
            original_terminated(communication)

        self._replace(BaseExecutionWorkerCommunication, "terminated", terminated)

    def emit_event(self, event: dict[str, Any]) -> None:
        from moto.events.models import events_backends

        for bus in events_backends[ACCOUNT_ID][self.region].event_buses.values():
            for rule in list(bus.rules.values()):
                rule.send_to_targets(event)

    # --- 7. SendTaskFailure with its cause -----------------------------------------------------------
    def _patch_send_task_failure(self) -> None:
        from moto.core.responses import EmptyResult
        from moto.stepfunctions.responses import StepFunctionResponse

        def send_task_failure(response: Any) -> Any:
            response.stepfunction_backend.send_task_failure(
                response._get_param("taskToken"), error=response._get_param("error"),
                cause=response._get_param("cause"))
            return EmptyResult()

        self._replace(StepFunctionResponse, "send_task_failure", send_task_failure)

    # --- 6. Training jobs run by the emulator --------------------------------------------------------
    def _patch_training_jobs(self) -> None:
        from moto.core.exceptions import JsonRESTError
        from moto.sagemaker.models import FakeTrainingJob, SageMakerModelBackend

        harness = self
        original_create = SageMakerModelBackend.create_training_job
        original_response = FakeTrainingJob.response_object

        def create_training_job(backend: Any, training_job_name: str, **kwargs: Any) -> Any:
            if not kwargs.get("role_arn"):  # required on AWS; moto would start the job without one
                raise JsonRESTError("ValidationException", "1 validation error detected: Value null at 'roleArn' "
                                                           "failed to satisfy constraint: Member must not be null")
            if harness.emulator.create_throttles > 0:
                harness.emulator.create_throttles -= 1
                raise JsonRESTError("ThrottlingException", "Rate exceeded")
            resource = kwargs["resource_config"]
            instance_type, count = resource["InstanceType"], int(resource.get("InstanceCount", 1))
            in_use: dict[str, int] = {}  # instances of InProgress jobs per type
            for job in backend.training_jobs.values():
                if job.training_job_status == "InProgress":
                    job_type = job.resource_config.get("InstanceType")
                    in_use[job_type] = in_use.get(job_type, 0) + int(job.resource_config.get("InstanceCount", 1))
            account_limit = harness.account_instances_limit()
            if account_limit is not None and sum(in_use.values()) + count > account_limit:
                raise _limit_exceeded(ACCOUNT_INSTANCES_QUOTA, account_limit, sum(in_use.values()), count)
            limit = harness.quota_limit(instance_type)
            if harness.emulator.resource_limit_refusals > 0 or in_use.get(instance_type, 0) + count > limit:
                harness.emulator.resource_limit_refusals = max(0, harness.emulator.resource_limit_refusals - 1)
                raise _limit_exceeded(quota_name(instance_type), limit, in_use.get(instance_type, 0), count)
            job = original_create(backend, training_job_name, **kwargs)
            job.training_job_status = "InProgress"
            job.secondary_status = "Starting"
            job.failure_reason = None
            if training_job_name.startswith(harness.emulator.hold_jobs or ("\0",)):
                harness.held_jobs[training_job_name] = job  # another team's job, say
                return job
            thread = threading.Thread(target=harness._run_job, args=(job,), name=f"emulator-{training_job_name}",
                                      daemon=True)
            harness.job_threads.append(thread)
            thread.start()
            return job

        @property  # type: ignore[misc]
        def response_object(job: Any) -> dict[str, Any]:
            response = original_response.fget(job)
            if getattr(job, "failure_reason", None):
                response["FailureReason"] = job.failure_reason
            return response

        self._replace(SageMakerModelBackend, "create_training_job", create_training_job)
        self._replace(FakeTrainingJob, "response_object", response_object)

        def stop_training_job(response: Any) -> str:  # moto has no StopTrainingJob
            name = json.loads(response.body or "{}").get("TrainingJobName")
            job = response.sagemaker_backend.training_jobs.get(name)
            if job is None:
                raise JsonRESTError("ValidationException", f"Requested resource not found: {name}")
            if job.training_job_status == "InProgress":
                harness.held_jobs.pop(name, None)
                job.training_job_status = job.secondary_status = "Stopped"
                job.training_end_time = job.last_modified_time = _utcnow()
            return "{}"

        from moto.sagemaker.responses import SageMakerResponse

        setattr(SageMakerResponse, "stop_training_job", stop_training_job)
        self._undo.append(lambda: delattr(SageMakerResponse, "stop_training_job"))

    def _run_job(self, job: Any) -> None:
        from offline import nova_emulator

        if self.emulator.job_gate is not None:
            self.emulator.job_gate.wait(timeout=120)
        time.sleep(self.emulator.duration_seconds)
        try:
            failure = next((reason for prefix, reason in self.emulator.fail_jobs.items()
                            if job.training_job_name.startswith(prefix)), None)
            instance_type = job.resource_config.get("InstanceType")
            if not failure and self.emulator.capacity_errors.get(instance_type, 0) > 0:
                self.emulator.capacity_errors[instance_type] -= 1
                failure = ("CapacityError: Unable to provision requested ML compute capacity. "
                           "Please retry using a different ML instance type.")
            if failure:
                job.training_end_time = job.last_modified_time = _utcnow()
                job.failure_reason = failure
                job.training_job_status = "Failed"
                job.secondary_status = "Failed"
                return
            if job.training_job_status != "InProgress":  # stopped while it waited to start
                return
            # The job reads and writes with the role CreateTrainingJob passed it, as SageMaker does.
            judge = self.iam.register_role(job.role_arn, session_name="SageMaker")
            s3 = boto3.client("s3", region_name=self.region, aws_access_key_id=judge.access_key_id,
                              aws_secret_access_key="offline", aws_session_token="offline")
            channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in job.input_data_config}
            records = [json.loads(line) for line in _read_single_object(s3, channels["train"], ".jsonl").splitlines()
                       if line.strip()]
            recipe_yaml = _read_single_object(s3, channels["recipe"], ".yaml")
            form = self.emulator.output_form(records) if self.emulator.output_form else nova_emulator.OutputForm()
            archive = nova_emulator.emulate(records, recipe_yaml, error_items=self.emulator.error_items, form=form)
            bucket, prefix = _split_s3(job.output_data_config["S3OutputPath"])
            key = f"{prefix.rstrip('/')}/{job.training_job_name}/output/output.tar.gz".lstrip("/")
            s3.put_object(Bucket=bucket, Key=key, Body=archive)  # triggers the results stage
            job.training_end_time = job.last_modified_time = _utcnow()
            job.training_job_status = "Completed"
            job.secondary_status = "Completed"
        except Exception as exc:
            job.failure_reason = f"AlgorithmError: local emulator failed: {exc}"
            job.training_job_status = "Failed"
            self.errors.append(f"emulator job {job.training_job_name}: {exc}")


    # --- 10. IAM on every call --------------------------------------------------------------------
    def _patch_iam(self) -> None:
        """Decide each call a deployed principal signs before moto serves it (offline/iam_enforcement.py).
        moto's own check would authorize every call against "*" and only for IAM users it created."""
        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.core.exceptions import JsonRESTError, _RESTError
        from moto.s3.exceptions import S3ClientError

        harness = self
        enforcement = self.iam
        assert enforcement is not None

        def denied(service: str, error: AccessDenied | UnmappedCall) -> Exception:
            message = str(error)
            if service == "s3":
                refusal: Exception = S3ClientError("AccessDenied", message)
            elif service == "sns":  # a query-protocol service, which names it AuthorizationError
                refusal = _RESTError("AuthorizationError", message)
            else:
                refusal = JsonRESTError("AccessDeniedException", message)
            refusal.code = 403  # type: ignore[attr-defined]
            return refusal

        def check(response: Any, service: str, permissions: Callable[[], list[Permission]]) -> None:
            scope = credential_scope(response.headers.get("Authorization"))
            principal = enforcement.principal_for(scope[0]) if scope else None
            if principal is None:
                return  # the harness's own calls: an administrator's
            try:
                try:
                    needed = permissions()
                except (KeyError, TypeError, ValueError) as error:
                    raise UnmappedCall(f"offline IAM could not read the request: {error!r}") from error
                enforcement.authorize(principal, needed)
            except (AccessDenied, UnmappedCall) as error:
                harness.errors.append(f"IAM: {error}")
                raise denied(service, error) from None

        def normal_action(response: Any, resource: str = "*") -> None:
            scope = credential_scope(response.headers.get("Authorization"))
            service = scope[3] if len(scope) > 3 else ""
            check(response, service, lambda: required_permissions(
                service=service, operation=response._get_action(), params=_request_params(response),
                path=unquote(response.path),
                region=harness.region, account=ACCOUNT_ID, model=harness.access))

        def s3_action(response: Any, bucket_name: str | None = None, key_name: str | None = None) -> None:
            check(response, "s3", lambda: s3_permissions(
                action=response._get_action(), method=response.method, bucket=bucket_name, key=key_name,
                query=response.querystring or {},
                headers=response.headers, region=harness.region, model=harness.access))

        self._replace(ActionAuthenticatorMixin, "_authenticate_and_authorize_normal_action", normal_action)
        self._replace(ActionAuthenticatorMixin, "_authenticate_and_authorize_s3_action", s3_action)

    def authorize(self, principal: Any, permissions: list[Permission]) -> bool:
        """A check AWS makes outside any API call of ours (EventBridge invoking a target, Step
        Functions managing its rule): False, and recorded in `errors`, when denied."""
        assert self.iam is not None
        try:
            self.iam.authorize(principal, permissions)
            return True
        except AccessDenied as error:
            self.errors.append(f"IAM: {error}")
            return False

    # --- 11. Keyword-named payload fields --------------------------------------------------------------
    def _patch_payload_keywords(self) -> None:
        """moto's ASL grammar lexes `"RoleArn.$"` as the keyword of a task's Credentials, so inside
        Parameters it became a literal field named "RoleArn.$" and the role was never passed. AWS
        reads any key ending in ".$" as a path binding."""
        from moto.stepfunctions.parser.asl.component.common.payload.payloadvalue.payloadbinding.payload_binding import (
            PayloadBindingStringExpressionSimple,
        )
        from moto.stepfunctions.parser.asl.component.common.string.string_expression import (
            StringContextPath,
            StringJsonPath,
        )
        from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

        original = Preprocessor.visitPayload_binding_value

        def visit(preprocessor: Any, ctx: Any) -> Any:
            binding = original(preprocessor, ctx)
            path = getattr(getattr(binding, "payload_value", None), "val", None)
            if not (binding.field.endswith(".$") and isinstance(path, str)):
                return binding
            if path.startswith("$$"):
                expression: Any = StringContextPath(context_object_path=path)
            elif path.startswith("$"):
                expression = StringJsonPath(json_path=path)
            else:  # an intrinsic function: none of judgeflow's keyword fields uses one
                raise NotImplementedError(f"offline: {binding.field} binds {path!r}; only paths are read")
            return PayloadBindingStringExpressionSimple(field=binding.field[:-2], string_expression_simple=expression)

        self._replace(Preprocessor, "visitPayload_binding_value", visit)


def _status_change(region: str, execution: Any, status: str, *, error: str | None = None,
                   cause: str | None = None) -> dict[str, Any]:
    """The "Step Functions Execution Status Change" event of an execution."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states", "account": ACCOUNT_ID, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": region, "resources": [execution.execution_arn],
            "detail": {"executionArn": execution.execution_arn, "stateMachineArn": execution.state_machine_arn,
                       "name": execution.name, "status": status, "startDate": None, "stopDate": None,
                       "input": execution.execution_input, "output": None,
                       "error": error, "cause": cause}}


def apply_input_transformer(template: str, paths: dict[str, str], event: dict[str, Any]) -> str:
    """EventBridge input transformer semantics: a placeholder inside a JSON string is replaced by
    the raw text of the value; outside quotes, by its JSON encoding (moto quotes neither)."""
    def lookup(path: str) -> Any:
        value: Any = event
        for part in path.removeprefix("$.").split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value

    out, in_string, index = [], False, 0
    pattern = re.compile(r"<([A-Za-z0-9_.\-]+)>")
    while index < len(template):
        char = template[index]
        match = pattern.match(template, index) if char == "<" else None
        if match and match.group(1) in paths:
            value = lookup(paths[match.group(1)])
            if in_string:
                text = value if isinstance(value, str) else json.dumps(value)
                out.append(json.dumps(text)[1:-1])
            else:
                out.append(json.dumps(value))
            index = match.end()
            continue
        if char == '"' and (index == 0 or template[index - 1] != "\\"):
            in_string = not in_string
        out.append(char)
        index += 1
    return "".join(out)


_S3_EVENT_SEQUENCE = itertools.count(1)  # next() on a count is atomic under the GIL


def _own_identity(event: dict[str, Any]) -> None:
    """Give an S3 event its own id, request id and sequencer, and an ISO time, as AWS does: moto
    stamps every event with one fixed id. Changed in place, once: moto hands the same event to
    every rule, and every rule must see the same id."""
    from moto.events.utils import _BASE_EVENT_MESSAGE

    if event.get("source") != "aws.s3" or event.get("id") != _BASE_EVENT_MESSAGE["id"]:
        return
    sequence = next(_S3_EVENT_SEQUENCE)
    event["id"] = str(uuid.uuid4())
    if isinstance(event.get("time"), (int, float)):
        event["time"] = datetime.datetime.fromtimestamp(event["time"], datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
    detail = event.get("detail", {})
    detail["request-id"] = uuid.uuid4().hex[:16].upper()
    detail.get("object", {})["sequencer"] = f"{sequence:016X}"


def _request_params(response: Any) -> dict[str, Any]:
    """A request's parameters: its JSON body, or the form fields of a query-protocol call."""
    if isinstance(response.body, dict):  # DynamoDB's responses hold the parsed parameters
        return response.body
    if response.headers.get("X-Amz-Target") or "json" in (response.headers.get("Content-Type") or ""):
        try:
            return json.loads(response.body or "{}")
        except (TypeError, ValueError):
            return {}
    return {key: values[0] for key, values in (response.querystring or {}).items() if values}


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _split_s3(uri: str) -> tuple[str, str]:
    without = uri.removeprefix("s3://")
    bucket, _, prefix = without.partition("/")
    return bucket, prefix


def _read_single_object(s3: Any, uri: str, suffix: str) -> str:
    bucket, prefix = _split_s3(uri)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
            if o["Key"].endswith(suffix)]
    if len(keys) != 1:
        raise ValueError(f"expected exactly one {suffix} file under {uri}, found {keys}")
    return s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read().decode("utf-8")


__all__ = ["ACCOUNT_ID", "EmbeddedAws", "EmulatorBehaviour", "Fault"]
