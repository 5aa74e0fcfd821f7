"""Register stage: register runs once, record rejections/failures, park until results arrive."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.stages import access
from infra.stages.data import PipelineData
from infra.stages.function import stage_function


class RegisterStage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, data: PipelineData) -> None:
        super().__init__(scope, construct_id)
        table = access.table_items(data.runs, "PutItem", "GetItem", "UpdateItem")
        publish = iam.PolicyStatement(actions=["sns:Publish"], resources=[data.topic.topic_arn])
        key = access.use_key(data.key)
        self.register = stage_function(
            self, "Register", handler="lambdas.register.handler.register",
            description="judgeflow: register a run; a known dataset+settings is not launched again",
            environment=data.environment, statements=[table, key])
        self.record_rejection = stage_function(
            self, "RecordRejection", handler="lambdas.register.handler.record_rejection",
            description="judgeflow: record a rejected dataset and notify",
            environment=data.environment, statements=[table, publish, key])
        self.record_failure = stage_function(
            self, "RecordFailure", handler="lambdas.register.handler.record_failure",
            description="judgeflow: record a failed run with its reason and notify",
            environment=data.environment, statements=[table, publish, key])
        self.await_results = stage_function(
            self, "AwaitResults", handler="lambdas.register.handler.await_results",
            description="judgeflow: park the execution until the results stage reports",
            environment=data.environment,
            statements=[table, key, access.answer_task_tokens("SendTaskSuccess", "SendTaskFailure")])
