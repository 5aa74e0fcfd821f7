"""cdk-nag AwsSolutions checks with reasoned acknowledgments.

cdk-nag 3 acknowledges a finding only by its exact id, and IAM5 ids embed hashed logical ids
and cross-stack export names (e.g. `Resource::JudgeflowData:ExportsOutputFnGetAtt...Arn.../rejected/*`)
that change with any refactor. So the checks run through this plugin, which asks cdk-nag for
every finding and drops exactly those matched by an entry below: a construct path and a finding
pattern, where only `{any}` is a wildcard (a `*` is a literal IAM wildcard), plus the reason. Everything else fails synthesis.
Account and region appear as `{any}`: they render as `<AWS::AccountId>` or as literals depending
on whether the app is synthesized for a concrete account (cdk deploy) or not (tests).
`stale_acknowledgments` lets a test prove every entry still matches something.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import aws_cdk as cdk
import jsii
from cdk_nag import AwsSolutionsChecks


WILDCARD = "{any}"
# A named copy's stacks (`-c deployment=staging`: JudgeflowData-staging) are checked against the
# same acknowledgments as the default ones: its paths and export names are read without the suffix.
_DEPLOYMENT_SUFFIX = re.compile(r"\b(JudgeflowData|JudgeflowPipeline)-[a-z][a-z0-9-]*")


@dataclass(frozen=True)
class Acknowledged:
    construct_path: str  # `{any}` matches anything, e.g. "JudgeflowData/BucketNotificationsHandler{any}"
    finding: str  # e.g. "AwsSolutions-IAM5[Resource::*/rejected/*]"
    reason: str

    def matches(self, finding: str, construct_path: str) -> bool:
        return bool(_pattern(self.finding).fullmatch(finding) and _pattern(self.construct_path).fullmatch(construct_path))


def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in text.split(WILDCARD)))


_XRAY = ("X-Ray PutTraceSegments/PutTelemetryRecords and Step Functions SendTaskSuccess/SendTaskFailure have no "
         "resource-level permissions, so '*' is the only valid resource.")


def _lambda_policy(stage_role: str, *findings_and_reasons: tuple[str, str]) -> list[Acknowledged]:
    path = f"JudgeflowPipeline/{stage_role}/DefaultPolicy/Resource"
    entries = [Acknowledged(path, "AwsSolutions-IAM5[Resource::*]", _XRAY)]
    entries += [Acknowledged(path, f"AwsSolutions-IAM5[Resource::{finding}]", reason)
                for finding, reason in findings_and_reasons]
    return entries


ACKNOWLEDGMENTS: tuple[Acknowledged, ...] = (
    # --- the Nova judge job role (stateful stack) ---
    Acknowledged("JudgeflowData/JudgeExecutionRole/Policy/Resource", "AwsSolutions-IAM5[Resource::*]",
                 "ecr:GetAuthorizationToken and cloudwatch:PutMetricData have no resource-level permissions; "
                 "PutMetricData is limited to the /aws/sagemaker/* namespace by a condition."),
    Acknowledged("JudgeflowData/JudgeExecutionRole/Policy/Resource",
                 "AwsSolutions-IAM5[Resource::<StorageWork{any}.Arn>/runs/*/{any}/*]",
                 "The judge job reads only runs/<run_id>/input/* and runs/<run_id>/recipe/* and writes only "
                 "runs/<run_id>/output/* of the work bucket; run ids are not known at deploy time."),
    Acknowledged("JudgeflowData/JudgeExecutionRole/Policy/Resource",
                 "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:{any}:{any}:log-group:"
                 "/aws/sagemaker/TrainingJobs:*]",
                 "Training jobs create one log stream per job under SageMaker's fixed log group."),
    Acknowledged("JudgeflowData/BucketNotificationsHandler{any}/Role/Resource",
                 "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                 "AWSLambdaBasicExecutionRole]",
                 "CDK's own custom resource that turns on S3 -> EventBridge notifications; it only needs the "
                 "basic execution policy CDK attaches for its logs."),
    # --- stage Lambdas (stateless stack) ---
    *_lambda_policy("ValidateStage/ValidateRole",
                    ("{any}Datasets{any}/rejected/*", "Rejection reports are written under rejected/ only."),
                    ("{any}Datasets{any}/*", "Validate reads the dataset object named by the event or console input; "
                                             "any key of the datasets bucket may be named.")),
    *_lambda_policy("StageInputStage/StageInputRole",
                    ("{any}Datasets{any}/*", "Stage reads the dataset object that passed validation."),
                    ("{any}Work{any}/runs/*/input/*", "Staged input goes to runs/<run_id>/input/ only."),
                    ("{any}Work{any}/runs/*/sidecar/*", "The sidecar goes to runs/<run_id>/sidecar/ only.")),
    *_lambda_policy("PlanStage/PlanRole",
                    ("{any}Work{any}/runs/*/recipe/*", "The rendered recipe goes to runs/<run_id>/recipe/ only.")),
    *_lambda_policy("RegisterStage/RegisterRole"),
    *_lambda_policy("RegisterStage/RecordRejectionRole"),
    *_lambda_policy("RegisterStage/RecordFailureRole"),
    *_lambda_policy("RegisterStage/AwaitResultsRole"),
    *_lambda_policy("CapacityStage/AcquireRole",
                    ("arn:<AWS::Partition>:sagemaker:{any}:{any}:training-job/*",
                     "Quota use counts every InProgress training job of the account, not only judgeflow's.")),
    *_lambda_policy("CapacityStage/ParkRole"),
    *_lambda_policy("CapacityStage/ReleaseRole"),
    *_lambda_policy("CapacityStage/OnExecutionEndedRole"),
    *_lambda_policy("ResultsStage/ResultsRole",
                    ("{any}Work{any}/runs/*", "Results reads the judge output and the sidecar of the run it is told of."),
                    ("{any}Metrics{any}/lake/*", "Parquet datasets are written under lake/ only."),
                    ("{any}Metrics{any}/reports/*", "Report files are written under reports/ only.")),
    # --- the state machine role ---
    Acknowledged("JudgeflowPipeline/Workflow/StateMachine/Role/DefaultPolicy/Resource",
                 "AwsSolutions-IAM5[Resource::*]",
                 "X-Ray and vended-log delivery actions have no resource-level permissions; sagemaker:ListTags on '*' "
                 "is what Step Functions generates for createTrainingJob.sync (Step Functions guide, sagemaker-iam)."),
    Acknowledged("JudgeflowPipeline/Workflow/StateMachine/Role/DefaultPolicy/Resource",
                 "AwsSolutions-IAM5[Resource::<{any}Stage{any}.Arn>:*]",
                 "CDK's LambdaInvoke grant: versions and aliases (':*') of exactly the stage functions."),
    Acknowledged("JudgeflowPipeline/Workflow/StateMachine/Role/DefaultPolicy/Resource",
                 "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:{any}:{any}:training-job/jf-*]",
                 "The state machine creates, watches and stops only training jobs named after run ids (jf-...)."),
    # --- other ---
    Acknowledged("JudgeflowPipeline/UndeliveredEvents/Resource", "AwsSolutions-SQS3",
                 "This queue is the dead-letter queue of the EventBridge rule targets; a DLQ of a DLQ would only "
                 "move the same messages again."),
)


@jsii.implements(cdk.IPolicyValidationPlugin)
class AcknowledgedAwsSolutionsChecks:
    """Runs cdk-nag's AwsSolutions pack and fails on every finding not acknowledged above."""

    def __init__(self, acknowledgments: tuple[Acknowledged, ...] = ACKNOWLEDGMENTS) -> None:
        self._acknowledgments = acknowledgments
        self.used: set[Acknowledged] = set()

    @property
    def name(self) -> str:
        return "AwsSolutions"

    @property
    def version(self) -> str | None:
        return None

    @property
    def rule_ids(self) -> list[str] | None:
        return None

    def validate(self, context: cdk.IPolicyValidationContext) -> cdk.PolicyValidationPluginReport:
        report = AwsSolutionsChecks().validate_scope(context.app_construct)
        remaining = []
        for violation in report.violations:
            resources = [r for r in violation.violating_resources
                         if not self._acknowledge(violation.rule_name, r.construct_path or "")]
            if resources:
                remaining.append(cdk.PolicyViolation(
                    rule_name=violation.rule_name, description=violation.description,
                    violating_resources=resources, severity=violation.severity))
        return cdk.PolicyValidationPluginReport(success=not remaining, violations=remaining)

    def _acknowledge(self, finding: str, construct_path: str) -> bool:
        finding, construct_path = (_DEPLOYMENT_SUFFIX.sub(r"\1", text) for text in (finding, construct_path))
        # First match wins: list specific patterns before general ones.
        for entry in self._acknowledgments:
            if entry.matches(finding, construct_path):
                self.used.add(entry)
                return True
        return False

    def stale_acknowledgments(self) -> list[Acknowledged]:
        return [entry for entry in self._acknowledgments if entry not in self.used]
