"""Explicit, wildcard-free IAM actions the stages are granted (object-prefix resources only, except
where an action takes no resource)."""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3


def read_objects(bucket: s3.IBucket, *patterns: str) -> iam.PolicyStatement:
    return iam.PolicyStatement(actions=["s3:GetObject"], resources=[bucket.arn_for_objects(p) for p in patterns])


def read_object_versions(bucket: s3.IBucket, *patterns: str) -> iam.PolicyStatement:
    # GetObject naming a versionId needs s3:GetObjectVersion as well: the stages read the exact
    # version they validated.
    return iam.PolicyStatement(actions=["s3:GetObject", "s3:GetObjectVersion"],
                               resources=[bucket.arn_for_objects(p) for p in patterns])


def write_objects(bucket: s3.IBucket, *patterns: str) -> iam.PolicyStatement:
    return iam.PolicyStatement(actions=["s3:PutObject"], resources=[bucket.arn_for_objects(p) for p in patterns])


def list_bucket(bucket: s3.IBucket) -> iam.PolicyStatement:
    # Without ListBucket, HeadObject on a missing key answers 403 instead of 404.
    return iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn])


def use_key(key: kms.IKey) -> iam.PolicyStatement:
    return iam.PolicyStatement(actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                               resources=[key.key_arn])


def table_items(table: dynamodb.ITable, *actions: str, index: str | None = None) -> iam.PolicyStatement:
    resources = [table.table_arn]
    if index:
        resources.append(f"{table.table_arn}/index/{index}")
    return iam.PolicyStatement(actions=[f"dynamodb:{a}" for a in actions], resources=resources)


def answer_task_tokens(*actions: str) -> iam.PolicyStatement:
    # SendTaskSuccess/SendTaskFailure take no resource type, so only "*" grants them: Actions,
    # resources, and condition keys for AWS Step Functions
    # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsstepfunctions.html).
    # A token names one waiting task; it reaches a stage only in the event Step Functions sent it.
    return iam.PolicyStatement(actions=[f"states:{a}" for a in actions], resources=["*"])
