"""`arn:aws:states:::sagemaker:createTrainingJob(.sync)` for moto's ASL interpreter (patch 3 of
offline/embedded_aws.py). Mirrors AWS: the request goes to CreateTrainingJob as written; `.sync`
tags the job as Step Functions' own, reads its tags, manages the EventBridge rule Step Functions
watches jobs with, and polls DescribeTrainingJob; Completed returns the description, Failed/Stopped
fail the task with States.TaskFailed and the description as cause; API errors become
`SageMaker.<Code>Exception`. When the execution stops while the job runs, the job is stopped
(StopTrainingJob, which the generated policy grants for exactly this).

Which parameters the task takes: the Step Functions guide lists CreateTrainingJob among the
optimized SageMaker AI APIs and links its request parameters without naming a subset
(https://docs.aws.amazon.com/step-functions/latest/dg/connect-sagemaker.html, "Optimized SageMaker
AI APIs"). So the accepted set is the API's own request members (botocore's model of
CreateTrainingJob); a field outside it fails the task here as Step Functions refuses it, instead
of being dropped on the way as moto would.

What the role needs for `.sync` is what Step Functions generates for it: CreateTrainingJob,
DescribeTrainingJob, StopTrainingJob on the job, sagemaker:ListTags, iam:PassRole for the job's
role, and events:PutTargets/PutRule/DescribeRule on StepFunctionsGetEventsForSageMakerTrainingJobsRule
(https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html); Step Functions tags each
job it starts (MANAGED_BY_AWS=STARTED_BY_STEP_FUNCTIONS), hence sagemaker:AddTags (aws-cdk#27264).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Final

import botocore.session
from botocore.exceptions import ClientError
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

# As moto's own .sync services do: its abort path expects the callback endpoint that
# WaitForTaskToken support creates.
_PATTERNS: Final = {ResourceCondition.WaitForTaskToken, ResourceCondition.Sync}
_TERMINAL: Final = {"Completed", "Failed", "Stopped"}
MANAGED_RULE: Final = "StepFunctionsGetEventsForSageMakerTrainingJobsRule"
MANAGED_TAG: Final = {"Key": "MANAGED_BY_AWS", "Value": "STARTED_BY_STEP_FUNCTIONS"}


@functools.lru_cache(maxsize=1)
def _sagemaker_model() -> Any:
    # A fresh botocore session parses the whole SageMaker model (MBs of JSON): once is enough.
    return botocore.session.get_session().get_service_model("sagemaker")


@functools.lru_cache(maxsize=1)
def _modeled_errors() -> frozenset[str]:
    """The error codes SageMaker's API model declares (botocore)."""
    model = _sagemaker_model()
    return frozenset(name for name in model.shape_names if model.shape_for(name).metadata.get("exception"))


@functools.lru_cache(maxsize=None)
def _members(operation: str) -> frozenset[str]:
    return frozenset(_sagemaker_model().operation_model(operation).input_shape.members)


class StateTaskServiceSageMaker(StateTaskServiceCallback):
    # Set by the harness: decides the calls Step Functions makes on the managed rule as the state
    # machine's role (they act on an AWS-owned rule the embedded EventBridge does not hold).
    authorize_managed_rule: Callable[[list[tuple[str, str]]], None] | None = None

    def __init__(self) -> None:
        super().__init__(supported_integration_patterns=_PATTERNS)

    def _get_supported_parameters(self) -> set[str] | None:
        return set(_members(self.resource.api_action[0].upper() + self.resource.api_action[1:]))

    def _eval_parameters(self, env: Any) -> dict:
        # moto drops fields outside the supported set without a word; Step Functions refuses them.
        parameters: dict = {}
        if self.parargs is not None:
            self.parargs.eval(env=env)
            parameters = env.stack.pop()
        unsupported = sorted(set(parameters) - self._get_supported_parameters())
        if unsupported:
            raise FailureEventException(FailureEvent(
                env=env, error_name=StatesErrorName(typ=StatesErrorNameType.StatesRuntime),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(taskFailedEventDetails=TaskFailedEventDetails(
                    resource=self._get_sfn_resource(), resourceType=self._get_sfn_resource_type(),
                    error=StatesErrorNameType.StatesRuntime.to_name(),
                    cause=f"The field(s) {', '.join(unsupported)} are not supported by Step Functions "
                          f"for sagemaker:{self.resource.api_action}")),
            ))
        return parameters

    def _from_error(self, env: Any, ex: Exception) -> FailureEvent:
        if isinstance(ex, ClientError):
            code = ex.response["Error"]["Code"]
            # A modeled error keeps its name (ResourceLimitExceeded -> SageMaker.ResourceLimitExceededException);
            # any other (ThrottlingException, ValidationException, ...) is the generic one, as the Step
            # Functions Data Science SDK's retry on "Rate exceeded" shows.
            name = (f"SageMaker.{code if code.endswith('Exception') else code + 'Exception'}"
                    if code in _modeled_errors() else "SageMaker.AmazonSageMakerException")
            cause = (f"{ex.response['Error']['Message']} (Service: SageMaker, Status Code: "
                     f"{ex.response['ResponseMetadata']['HTTPStatusCode']}, Error Code: {code})")
            return FailureEvent(
                env=env, error_name=CustomErrorName(name), event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(taskFailedEventDetails=TaskFailedEventDetails(
                    error=name, cause=cause, resource=self._get_sfn_resource(),
                    resourceType=self._get_sfn_resource_type())),
            )
        return super()._from_error(env=env, ex=ex)

    def _eval_service_task(self, env: Any, resource_runtime_part: Any, normalised_parameters: dict,
                           state_credentials: Any) -> None:
        if self.resource.condition == ResourceCondition.Sync:
            normalised_parameters = {**normalised_parameters,
                                     "Tags": [*normalised_parameters.get("Tags", []), MANAGED_TAG]}
        client = boto_client_for(service="sagemaker", region=resource_runtime_part.region,
                                 state_credentials=state_credentials)
        response = getattr(client, self._get_boto_service_action())(**normalised_parameters)
        response.pop("ResponseMetadata", None)
        env.stack.append(response)

    def _build_sync_resolver(self, env: Any, resource_runtime_part: Any, normalised_parameters: dict,
                             state_credentials: Any) -> Callable[[], Any] | None:
        client = boto_client_for(service="sagemaker", region=resource_runtime_part.region,
                                 state_credentials=state_credentials)
        created = env.stack.pop()  # the CreateTrainingJob response; .sync outputs the final description
        job_name = normalised_parameters["TrainingJobName"]
        client.list_tags(ResourceArn=created["TrainingJobArn"])
        if StateTaskServiceSageMaker.authorize_managed_rule is not None:
            rule = f"arn:aws:events:{resource_runtime_part.region}:{resource_runtime_part.account}:rule/{MANAGED_RULE}"
            StateTaskServiceSageMaker.authorize_managed_rule(
                [(f"events:{action}", rule) for action in ("DescribeRule", "PutRule", "PutTargets")])

        def stop() -> None:
            # Stopping the execution (or its timeout) stops the job Step Functions started for it.
            if client.describe_training_job(TrainingJobName=job_name)["TrainingJobStatus"] not in _TERMINAL:
                client.stop_training_job(TrainingJobName=job_name)

        def resolve() -> dict | None:
            described = client.describe_training_job(TrainingJobName=job_name)
            described.pop("ResponseMetadata", None)
            status = described["TrainingJobStatus"]
            if status not in _TERMINAL:
                return None
            if status == "Completed":
                return described
            raise FailureEventException(FailureEvent(
                env=env, error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(taskFailedEventDetails=TaskFailedEventDetails(
                    resource=self._get_sfn_resource(), resourceType=self._get_sfn_resource_type(),
                    error=StatesErrorNameType.StatesTaskFailed.to_name(), cause=to_json_str(described))),
            ))

        resolve.stop = stop  # type: ignore[attr-defined]
        return resolve

    def _eval_sync(self, env: Any, sync_resolver: Callable[[], Any] | None, *args: Any, **kwargs: Any) -> Any:
        outcome = super()._eval_sync(env, sync_resolver, *args, **kwargs)
        stop = getattr(sync_resolver, "stop", None)
        if not env.is_running() and stop is not None:
            stop()
        return outcome
