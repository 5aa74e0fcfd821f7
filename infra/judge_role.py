"""The role the Nova judge training job runs as: least privilege, no FullAccess policies."""

from __future__ import annotations

from aws_cdk import Aws, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from judgeflow import layout

NOVA_IMAGE_REPOSITORY = "nova-evaluation-repo"
TRAINING_LOG_GROUP_PREFIX = "/aws/sagemaker/TrainingJobs"


class JudgeExecutionRole(Construct):
    """Trusted by bedrock.amazonaws.com and sagemaker.amazonaws.com, only from this account
    (`aws:SourceAccount`). Grants exactly: read the staged input and recipe, list the run
    prefixes, write job output, use the data key, pull the Nova evaluation image, write the
    training job's logs and metrics.
    """

    def __init__(self, scope: Construct, construct_id: str, *, work_bucket: s3.IBucket, key: kms.IKey,
                 nova_image_uri: str) -> None:
        super().__init__(scope, construct_id)
        principals = [iam.ServicePrincipal("bedrock.amazonaws.com"), iam.ServicePrincipal("sagemaker.amazonaws.com")]
        self.role = iam.Role(
            self, "Role",
            assumed_by=iam.CompositePrincipal(*principals).with_conditions(
                {"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}),
            description="judgeflow: runs Nova LLM-as-a-Judge evaluation jobs",
        )
        image_account, image_region = nova_image_uri.split(".")[0], nova_image_uri.split(".")[3]
        any_run = layout.ANY_RUN
        statements = [
            iam.PolicyStatement(sid="ReadStagedInputAndRecipe", actions=["s3:GetObject"],
                                resources=[work_bucket.arn_for_objects(layout.under(layout.staged_input_prefix(any_run))),
                                           work_bucket.arn_for_objects(layout.under(layout.recipe_prefix(any_run)))]),
            iam.PolicyStatement(sid="ListRunPrefixes", actions=["s3:ListBucket"], resources=[work_bucket.bucket_arn],
                                conditions={"StringLike": {"s3:prefix": [layout.under(layout.RUNS_PREFIX)]}}),
            iam.PolicyStatement(sid="WriteJobOutput", actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                                resources=[work_bucket.arn_for_objects(layout.under(layout.output_prefix(any_run)))]),
            iam.PolicyStatement(sid="UseDataKey", actions=["kms:Decrypt", "kms:GenerateDataKey"],
                                resources=[key.key_arn]),
            iam.PolicyStatement(
                sid="PullNovaImage",
                actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                resources=[Stack.of(self).format_arn(service="ecr", account=image_account, region=image_region,
                                                     resource="repository", resource_name=NOVA_IMAGE_REPOSITORY)],
            ),
            # GetAuthorizationToken has no resource-level permissions: "*" is the only valid resource.
            iam.PolicyStatement(sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"]),
            iam.PolicyStatement(
                sid="WriteTrainingLogs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                         "logs:DescribeLogStreams"],
                resources=[Stack.of(self).format_arn(service="logs", resource="log-group",
                                                     resource_name=f"{TRAINING_LOG_GROUP_PREFIX}:*",
                                                     arn_format=_colon_format())],
            ),
            # PutMetricData has no resource-level permissions; limited to SageMaker's namespace.
            iam.PolicyStatement(sid="WriteTrainingMetrics", actions=["cloudwatch:PutMetricData"], resources=["*"],
                                conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}}),
        ]
        policy = iam.Policy(self, "Policy", statements=statements)
        policy.attach_to_role(self.role)


def _colon_format():
    from aws_cdk import ArnFormat

    return ArnFormat.COLON_RESOURCE_NAME
