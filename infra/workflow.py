"""The run state machine: validate -> register -> stage -> plan -> capacity loop -> Nova job -> results.

State names are written for the Step Functions console. Every path that reserved capacity
releases it; every failure is recorded in the registry before the execution fails.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.stages.capacity import CapacityStage
from infra.stages.plan import PlanStage
from infra.stages.register import RegisterStage
from infra.stages.stage_input import StageInputStage
from infra.stages.validate import ValidateStage

SAGEMAKER_SYNC_RULE = "StepFunctionsGetEventsForSageMakerTrainingJobsRule"
TRAINING_JOB_FIELDS = (
    "TrainingJobName", "AlgorithmSpecification", "RoleArn", "InputDataConfig", "OutputDataConfig",
    "ResourceConfig", "StoppingCondition", "HyperParameters", "ProfilerConfig", "RemoteDebugConfig",
)


def _invoke(scope: Construct, name: str, function: lambda_.IFunction, payload: dict, result_path: str,
            comment: str) -> tasks.LambdaInvoke:
    return tasks.LambdaInvoke(
        scope, name, lambda_function=function, payload=sfn.TaskInput.from_object(payload),
        payload_response_only=True, result_path=result_path, comment=comment,
        retry_on_service_exceptions=True,
    )


# DynamoDB refuses a write that meets another transaction in flight on the same item (the capacity
# ledger's version and queue items are shared by every run); the capacity handlers are safe to run
# again, so the state retries them instead of failing the run.
# How Step Functions names a throttled SageMaker call: errors SageMaker's API model declares keep
# their name (ResourceLimitExceeded -> "SageMaker.ResourceLimitExceededException"), others, such as
# ThrottlingException ("Rate exceeded"), come as the generic "SageMaker.AmazonSageMakerException"
# (the Step Functions Data Science SDK retries that name for throttling); both are retried.
SAGEMAKER_THROTTLING = ["SageMaker.ThrottlingException", "SageMaker.AmazonSageMakerException"]
LEDGER_CONFLICTS = ["TransactionConflictException", "TransactionCanceledException"]


def _retry_ledger_conflicts(task: sfn.TaskStateBase) -> sfn.TaskStateBase:
    return task.add_retry(errors=LEDGER_CONFLICTS, interval=Duration.seconds(1), max_attempts=4,
                          backoff_rate=2, jitter_strategy=sfn.JitterType.FULL)


EXECUTION = {"execution_arn.$": "$$.Execution.Id", "execution_name.$": "$$.Execution.Name"}


class RunWorkflow(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine_name: str,
        validate: ValidateStage,
        register: RegisterStage,
        stage_input: StageInputStage,
        plan: PlanStage,
        capacity: CapacityStage,
        judge_role: iam.IRole,
        results_timeout: Duration,
        job_timeout: Duration,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        # The execution input may be anything a console user typed (a string, an array): kept
        # under $.request, so every later ResultPath writes into an object (a ResultPath into a
        # string is a States.Runtime error, with no catch).
        read_input = sfn.Pass(self, "Read execution input", parameters={"request.$": "$"},
                              comment="The input as given, for the validate step to check")
        validate_task = _invoke(
            self, "Validate dataset", validate.function,
            {"request.$": "$.request", **EXECUTION},
            "$.validation", "Stream the JSONL, check every line and the run settings",
        )
        record_rejection = _invoke(
            self, "Record rejection", register.record_rejection,
            {"validation.$": "$.validation", **EXECUTION}, "$.rejection",
            "Registry: REJECTED with the reason; notify",
        )
        rejected = sfn.Fail(self, "Dataset rejected", error="DatasetRejected", cause_path="$.rejection.message")
        register_run = _invoke(
            self, "Register run", register.register, {"validation.$": "$.validation", **EXECUTION}, "$.run",
            "Run id = hash(content, settings); a known run is not launched again",
        )
        duplicate = sfn.Succeed(self, "Already run - not launched again",
                                comment="$.run.message names the run this upload duplicates")
        stage_task = _invoke(
            self, "Stage Nova input", stage_input.function,
            {"run_id.$": "$.run.run_id", "dataset.$": "$.validation.dataset"}, "$.staged",
            "Write llm_judge.jsonl (prompt/response_A/response_B) and the sidecar",
        )
        plan_task = _invoke(
            self, "Plan judge job", plan.function,
            {"run_id.$": "$.run.run_id", "settings.$": "$.validation.settings"}, "$.plan",
            "Render the recipe and build the CreateTrainingJob request",
        )
        acquire = _invoke(
            self, "Check capacity", capacity.acquire,
            {"run_id.$": "$.run.run_id", "plan.$": "$.plan", "capacity.$": "$.capacity", **EXECUTION},
            "$.capacity", "Live quota minus use and reservations: reserve a slot or say how long to wait",
        )
        # Parked with a task token: a release wakes the first runs in line at once; the timeout (the
        # backoff) re-checks for capacity freed outside judgeflow. No state transitions while parked.
        wait = tasks.LambdaInvoke(
            self, "Wait for capacity", lambda_function=capacity.park,
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload=sfn.TaskInput.from_object({
                "task_token": sfn.JsonPath.task_token, "run_id.$": "$.run.run_id", "capacity.$": "$.capacity",
                **EXECUTION}),
            result_path="$.capacity.woken", task_timeout=sfn.Timeout.at("$.capacity.wait_seconds"),
            retry_on_service_exceptions=True,
            comment="In line for a slot. $.capacity.reason says which quota is full, how many runs are ahead "
                    "and $.capacity.next_check_at when the next check is at the latest",
        )
        release_payload = {"execution_arn.$": "$$.Execution.Id",
                           "instance_types.$": "$.validation.settings.instance_types"}
        release_after_refusal = _invoke(
            self, "Release slot after quota refusal", capacity.release, release_payload, "$.released",
            "CreateTrainingJob said ResourceLimitExceeded: give the slot back; the next check backs off",
        )
        release_after_success = _invoke(
            self, "Release capacity", capacity.release, release_payload, "$.released", "The job ended")
        release_after_failure = _invoke(
            self, "Release capacity after failure", capacity.release, release_payload, "$.released",
            "The job or a stage failed")
        record_failure = _invoke(
            self, "Record failure", register.record_failure,
            {"run_id.$": "$.run.run_id", "error.$": "$.error"}, "$.failure",
            "Registry: FAILED with the reason; notify",
        )
        failed = sfn.Fail(self, "Run failed", error="RunFailed", cause_path="$.failure.message")
        no_capacity = sfn.Pass(self, "No capacity", parameters={"Error": "NoCapacity", "Cause.$": "$.capacity.reason"},
                               result_path="$.error")

        request = {f"{name}.$": f"$.capacity.request.{name}" for name in TRAINING_JOB_FIELDS}
        run_judge = sfn.CustomState(self, "Run Nova judge", state_json={
            "Type": "Task",
            "Comment": "SageMaker training job with the Nova judge recipe; the request is sent as planned",
            "Resource": f"arn:{stack.partition}:states:::sagemaker:createTrainingJob.sync",
            "Parameters": request,
            "ResultSelector": {
                "TrainingJobName.$": "$.TrainingJobName",
                "TrainingJobStatus.$": "$.TrainingJobStatus",
                "ModelArtifacts.$": "$.ModelArtifacts",
                "InstanceType.$": "$.ResourceConfig.InstanceType",
            },
            "ResultPath": "$.job",
            "TimeoutSeconds": int(job_timeout.to_seconds()),
        })
        release_after_job_failure = _invoke(
            self, "Release capacity after job failure", capacity.release, release_payload, "$.released",
            "The training job failed")
        note_unavailable = sfn.Pass(
            self, "Try another instance type", input_path="$.capacity.instance_type",
            result_path="$.capacity.unavailable_type",
            comment="CapacityError: this type has no capacity in the zone now; the next check avoids it")
        job_failed = (
            sfn.Choice(self, "Out of instance capacity?")
            .when(sfn.Condition.string_matches("$.error.Cause", "*CapacityError*"), note_unavailable)
            .otherwise(record_failure)
        )
        for capacity_task in (acquire, wait, release_after_refusal, release_after_success, release_after_failure,
                              release_after_job_failure):
            _retry_ledger_conflicts(capacity_task)
        # A throttled CreateTrainingJob created nothing: try again (same job name, so never two jobs).
        run_judge.add_retry(errors=SAGEMAKER_THROTTLING, interval=Duration.seconds(2), backoff_rate=2,
                            max_attempts=4, jitter_strategy=sfn.JitterType.FULL)
        run_judge.add_catch(release_after_refusal, errors=["SageMaker.ResourceLimitExceededException"],
                            result_path="$.capacity.refused")
        run_judge.add_catch(release_after_job_failure, errors=["States.TaskFailed"], result_path="$.error")
        run_judge.add_catch(release_after_failure, errors=["States.ALL"], result_path="$.error")

        await_results = tasks.LambdaInvoke(
            self, "Wait for results", lambda_function=register.await_results,
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload=sfn.TaskInput.from_object({"run_id.$": "$.run.run_id", "task_token": sfn.JsonPath.task_token}),
            result_path="$.results", output_path="$.results", task_timeout=sfn.Timeout.duration(results_timeout),
            comment="The results stage (S3-triggered) reports the summary here",
        )
        done = sfn.Succeed(self, "Results ready", comment="The output is the run summary and its S3 locations")

        for step in (stage_task, plan_task, acquire, await_results):
            step.add_catch(release_after_failure, errors=["States.ALL"], result_path="$.error")
        validate_task.add_catch(sfn.Fail(self, "Could not read dataset", error="DatasetUnreadable",
                                         cause_path="$.error.Cause"), errors=["States.ALL"], result_path="$.error")
        register_run.add_catch(sfn.Fail(self, "Could not register run", error="RegistryError",
                                    cause_path="$.error.Cause"), errors=["States.ALL"], result_path="$.error")

        initial_capacity = sfn.Pass(self, "Start capacity checks", result=sfn.Result.from_object({}),
                                    result_path="$.capacity")
        capacity_choice = (
            sfn.Choice(self, "Capacity reserved?")
            .when(sfn.Condition.boolean_equals("$.capacity.acquired", True), run_judge)
            .when(sfn.Condition.boolean_equals("$.capacity.exhausted", True), no_capacity)
            .otherwise(wait)
        )
        wait.add_catch(acquire, errors=["States.Timeout"], result_path="$.capacity.timed_out")
        wait.add_catch(release_after_failure, errors=["States.ALL"], result_path="$.error")
        wait.next(acquire)
        release_after_refusal.next(acquire)
        release_after_job_failure.next(job_failed)
        note_unavailable.next(acquire)
        no_capacity.next(release_after_failure)
        release_after_failure.next(record_failure)
        record_failure.next(failed)
        run_judge.next(release_after_success)
        release_after_success.next(await_results)
        await_results.next(done)

        definition = (
            sfn.Chain.start(read_input).next(validate_task)
            .next(sfn.Choice(self, "Dataset valid?")
                  .when(sfn.Condition.boolean_equals("$.validation.valid", False), record_rejection.next(rejected))
                  .otherwise(register_run.next(
                      sfn.Choice(self, "New run?")
                      .when(sfn.Condition.boolean_equals("$.run.duplicate", True), duplicate)
                      .otherwise(stage_task.next(plan_task).next(initial_capacity).next(acquire)
                                 .next(capacity_choice)))))
        )
        # Under /aws/vendedlogs/: no entry in the account's CloudWatch Logs resource policy, which is
        # limited to 5,120 characters (https://docs.aws.amazon.com/step-functions/latest/dg/bp-cwl.html).
        log_group = logs.LogGroup(self, "ExecutionLogs", retention=logs.RetentionDays.THREE_MONTHS,
                                  log_group_name=f"/aws/vendedlogs/states/{state_machine_name}",
                                  removal_policy=RemovalPolicy.DESTROY)
        self.state_machine = sfn.StateMachine(
            self, "StateMachine",
            state_machine_name=state_machine_name,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            comment="judgeflow: one Nova LLM-as-a-Judge run per dataset",
        )
        training_jobs = stack.format_arn(service="sagemaker", resource="training-job", resource_name="jf-*")
        self.state_machine.add_to_role_policy(iam.PolicyStatement(
            actions=["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob",
                     "sagemaker:AddTags"], resources=[training_jobs]))
        # What Step Functions generates for createTrainingJob.sync: ListTags on "*"
        # (https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html).
        self.state_machine.add_to_role_policy(iam.PolicyStatement(actions=["sagemaker:ListTags"], resources=["*"]))
        self.state_machine.add_to_role_policy(iam.PolicyStatement(
            actions=["iam:PassRole"], resources=[judge_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}))
        self.state_machine.add_to_role_policy(iam.PolicyStatement(
            actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            resources=[stack.format_arn(service="events", resource="rule", resource_name=SAGEMAKER_SYNC_RULE)]))
