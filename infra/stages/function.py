"""The Lambda function shape every pipeline stage uses, with its secure defaults."""

from __future__ import annotations

from typing import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import assets


def stage_function(
    scope: Construct,
    construct_id: str,
    *,
    handler: str,
    description: str,
    environment: Mapping[str, str],
    statements: list[iam.PolicyStatement],
    timeout: Duration = Duration.minutes(1),
    memory_size: int = 512,
    image: bool = False,
) -> lambda_.Function:
    """A Lambda with: the newest Python runtime, X-Ray tracing, JSON logs kept 90 days in its own
    log group, a role holding only `statements` plus log writing (no managed policies). Its code is
    its stage's own asset (infra/assets.py): the zip of `handler`'s module, or with `image`, the
    container image running `handler`."""
    log_group = logs.LogGroup(scope, f"{construct_id}Logs", retention=logs.RetentionDays.THREE_MONTHS,
                              removal_policy=RemovalPolicy.DESTROY)
    role = iam.Role(scope, f"{construct_id}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                    description=f"judgeflow {construct_id} Lambda")
    role.add_to_policy(iam.PolicyStatement(actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                                           resources=[log_group.log_group_arn]))
    role.add_to_policy(iam.PolicyStatement(actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                                           resources=["*"]))
    for statement in statements:
        role.add_to_policy(statement)
    common = dict(
        description=description,
        environment=dict(environment),
        timeout=timeout,
        memory_size=memory_size,
        role=role,
        tracing=lambda_.Tracing.ACTIVE,
        log_group=log_group,
        logging_format=lambda_.LoggingFormat.JSON,
        architecture=lambda_.Architecture.X86_64,
    )
    if image:
        return lambda_.DockerImageFunction(scope, construct_id, code=assets.image_code(handler), **common)
    return lambda_.Function(scope, construct_id, runtime=assets.LAMBDA_RUNTIME, handler=handler,
                            code=assets.lambda_code(handler.rpartition(".")[0]), **common)
