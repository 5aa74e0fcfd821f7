"""What every stage construct receives: the stateful resources and the shared environment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns


@dataclass(frozen=True, kw_only=True)
class PipelineData:
    key: kms.IKey
    datasets: s3.IBucket
    work: s3.IBucket
    metrics: s3.IBucket
    runs: dynamodb.ITable
    capacity: dynamodb.ITable
    topic: sns.ITopic
    judge_role: iam.IRole
    state_machine_arn: str
    environment: Mapping[str, str]
