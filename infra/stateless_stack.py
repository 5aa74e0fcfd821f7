"""Stateless stack: Lambdas, the run state machine, triggers, notifications, alarms, dashboard."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.stages.capacity import CapacityStage
from infra.stages.data import PipelineData
from infra.stages.plan import PlanStage
from infra.stages.register import RegisterStage
from infra.stages.results import ResultsStage
from infra.stages.stage_input import StageInputStage
from infra.stages.validate import ValidateStage
from infra.stateful_stack import StatefulStack
from infra.workflow import RunWorkflow
from judgeflow import layout, stacks
from judgeflow.environment import METRICS_NAMESPACE, SERVICE_NAME, Resources, lambda_environment
from judgeflow.settings import Settings


class StatelessStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, stateful: StatefulStack,
                 **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        storage, registry = stateful.storage, stateful.registry
        self.topic = sns.Topic(self, "Notifications", display_name="judgeflow run notifications",
                               master_key=storage.key, enforce_ssl=True)
        if settings.notification_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(settings.notification_email))
        # CloudWatch alarms publish to the KMS-encrypted topic and EventBridge writes undeliverable
        # events to the KMS-encrypted dead-letter queue: both services must be able to use the key,
        # for this account's alarms and rules only (aws:SourceAccount / aws:SourceArn against the
        # confused deputy: https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html and
        # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html).
        # No EventBridge rule targets the topic: the SNS guide says these conditions are not
        # supported for EventBridge publishing to an encrypted topic.
        for service, source_arn in (("cloudwatch.amazonaws.com", f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:"
                                                                 f"{Aws.ACCOUNT_ID}:alarm:*"),
                                    ("events.amazonaws.com", f"arn:{Aws.PARTITION}:events:{Aws.REGION}:"
                                                             f"{Aws.ACCOUNT_ID}:rule/*")):
            storage.key.add_to_resource_policy(iam.PolicyStatement(
                principals=[iam.ServicePrincipal(service)], actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"], conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                                             "ArnLike": {"aws:SourceArn": source_arn}}))

        state_machine_name = f"{construct_id}-run"
        state_machine_arn = self.format_arn(service="states", resource="stateMachine",
                                            resource_name=state_machine_name,
                                            arn_format=_colon())
        data = PipelineData(
            key=storage.key, datasets=storage.datasets, work=storage.work, metrics=storage.metrics,
            runs=registry.runs, capacity=registry.capacity, topic=self.topic, judge_role=stateful.judge_role,
            state_machine_arn=state_machine_arn,
            environment=lambda_environment(Resources(
                datasets_bucket=storage.datasets.bucket_name, work_bucket=storage.work.bucket_name,
                metrics_bucket=storage.metrics.bucket_name, runs_table=registry.runs.table_name,
                capacity_table=registry.capacity.table_name, topic_arn=self.topic.topic_arn,
                judge_role_arn=stateful.judge_role.role_arn), settings),
        )
        self.validate = ValidateStage(self, "ValidateStage", data=data)
        self.register = RegisterStage(self, "RegisterStage", data=data)
        self.stage_input = StageInputStage(self, "StageInputStage", data=data)
        self.plan = PlanStage(self, "PlanStage", data=data)
        self.capacity = CapacityStage(self, "CapacityStage", data=data)
        self.results = ResultsStage(self, "ResultsStage", data=data)
        self.workflow = RunWorkflow(
            self, "Workflow", state_machine_name=state_machine_name, validate=self.validate,
            register=self.register, stage_input=self.stage_input, plan=self.plan, capacity=self.capacity,
            judge_role=stateful.judge_role,
            results_timeout=Duration.seconds(settings.results_timeout_seconds),
            job_timeout=Duration.seconds(settings.max_runtime_seconds + settings.capacity_wait_total_seconds),
        )
        state_machine = self.workflow.state_machine
        # What the operator commands (`judgeflow submit`, `runs`, `show`...) find a deployment by.
        CfnOutput(self, stacks.STATE_MACHINE_ARN, value=state_machine.state_machine_arn,
                  description="Runs, one execution each")
        CfnOutput(self, stacks.DATA_STACK, value=stateful.stack_name, description="The stack holding the data")

        # Events that could not be delivered are kept for 14 days, never dropped.
        dead_letters = sqs.Queue(self, "UndeliveredEvents", encryption=sqs.QueueEncryption.KMS,
                                 encryption_master_key=storage.key, enforce_ssl=True,
                                 retention_period=Duration.days(14))
        delivery = dict(dead_letter_queue=dead_letters, retry_attempts=185, max_event_age=Duration.hours(24))

        events.Rule(
            self, "DatasetDropped",
            description=f"New object under {layout.INCOMING_PREFIX} in the datasets bucket starts a run",
            event_pattern=events.EventPattern(
                source=["aws.s3"], detail_type=["Object Created"],
                detail={"bucket": {"name": [storage.datasets.bucket_name]},
                        "object": {"key": [{"prefix": layout.INCOMING_PREFIX}]}},
            ),
            targets=[targets.SfnStateMachine(
                state_machine,
                input=events.RuleTargetInput.from_object({
                    "bucket": events.EventField.from_path("$.detail.bucket.name"),
                    "key": events.EventField.from_path("$.detail.object.key"),
                    # The upload that raised the event: the run judges these bytes, even if the key
                    # is overwritten before validation reads it.
                    "version_id": events.EventField.from_path("$.detail.object.version-id"),
                    "source": "s3-event",
                    "event_id": events.EventField.from_path("$.id"),
                }),
                **delivery,
            )],
        )
        events.Rule(
            self, "JudgeOutputLanded",
            description="A judge job's output.tar.gz in the work bucket triggers the results stage",
            event_pattern=events.EventPattern(
                source=["aws.s3"], detail_type=["Object Created"],
                detail={"bucket": {"name": [storage.work.bucket_name]},
                        "object": {"key": [{"wildcard": layout.output_archive_pattern()}]}},
            ),
            targets=[targets.LambdaFunction(self.results.function, **delivery)],
        )
        events.Rule(
            self, "ExecutionEnded",
            description="An aborted, timed-out or failed run releases its capacity and is recorded",
            event_pattern=events.EventPattern(
                source=["aws.states"], detail_type=["Step Functions Execution Status Change"],
                detail={"status": ["ABORTED", "TIMED_OUT", "FAILED"],
                        "stateMachineArn": [state_machine.state_machine_arn]},
            ),
            targets=[targets.LambdaFunction(self.capacity.on_execution_ended, **delivery)],
        )

        alarm_action = cw_actions.SnsAction(self.topic)
        failed_runs = cloudwatch.Alarm(
            self, "RunsFailing", metric=state_machine.metric_failed(period=Duration.minutes(5)),
            threshold=1, evaluation_periods=1, alarm_description="A judgeflow run failed (see the notification)",
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        failed_runs.add_alarm_action(alarm_action)
        # Every stage function alarms on errors: a failing release or status-change handler would
        # otherwise only show as a slot held until its reservation expires.
        lambda_errors, error_alarms = [], []
        for name, function in self._stage_functions():
            errors = function.metric_errors(period=Duration.minutes(5))
            alarm = cloudwatch.Alarm(
                self, f"{name}Errors", metric=errors, threshold=1, evaluation_periods=1,
                alarm_description=f"judgeflow {name} Lambda raised errors",
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(alarm_action)
            lambda_errors.append(errors.with_(label=name))
            error_alarms.append(alarm)
        undelivered = cloudwatch.Alarm(
            self, "EventsUndelivered", metric=dead_letters.metric_approximate_number_of_messages_visible(),
            threshold=1, evaluation_periods=1, alarm_description="Trigger events could not be delivered",
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        undelivered.add_alarm_action(alarm_action)
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"{construct_id}-runs")
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Runs", left=[state_machine.metric_started(), state_machine.metric_succeeded(),
                                                       state_machine.metric_failed(), state_machine.metric_aborted()]),
            cloudwatch.GraphWidget(title="Capacity checks: slots reserved vs runs told to wait",
                                   left=[_judgeflow_metric("CapacityReserved"), _judgeflow_metric("CapacityWaits")]),
            cloudwatch.GraphWidget(title="Datasets and results", left=[_judgeflow_metric(name) for name in (
                "DatasetsAccepted", "DatasetsRejected", "RunsSucceeded", "RunsUnreliable", "RunsFailed")]),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Lambda errors", left=lambda_errors),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=[failed_runs, undelivered, *error_alarms]),
        )

    def _stage_functions(self) -> list[tuple[str, lambda_.Function]]:
        """(name, function) for every Lambda of every stage, e.g. ("CapacityRelease", ...)."""
        stages = (self.validate, self.register, self.stage_input, self.plan, self.capacity, self.results)
        named = []
        for stage in stages:
            prefix = stage.node.id.removesuffix("Stage") or stage.node.id
            for construct in stage.node.find_all():
                if isinstance(construct, lambda_.Function):
                    suffix = construct.node.id
                    named.append((suffix if suffix.startswith(prefix) else prefix + suffix, construct))
        return named


def _judgeflow_metric(name: str) -> cloudwatch.Metric:
    """A count the handlers emit through Powertools (namespace and `service` dimension)."""
    return cloudwatch.Metric(namespace=METRICS_NAMESPACE, metric_name=name, dimensions_map={"service": SERVICE_NAME},
                             statistic="Sum", period=Duration.minutes(5))


def _colon():
    from aws_cdk import ArnFormat

    return ArnFormat.COLON_RESOURCE_NAME
