"""Validate stage: the Lambda that streams and checks a dropped dataset."""

from __future__ import annotations

from aws_cdk import Duration
from constructs import Construct

from infra.stages import access
from infra.stages.data import PipelineData
from infra.stages.function import stage_function
from judgeflow import layout


class ValidateStage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, data: PipelineData) -> None:
        super().__init__(scope, construct_id)
        self.function = stage_function(
            self, "Validate", handler="lambdas.validate.handler.lambda_handler",
            description="judgeflow: validate a dropped JSONL dataset, write a rejection report if invalid",
            environment=data.environment, timeout=Duration.minutes(15), memory_size=1024,
            statements=[access.read_object_versions(data.datasets, "*"), access.list_bucket(data.datasets),
                        access.write_objects(data.datasets, layout.under(layout.REJECTED_PREFIX)),
                        access.use_key(data.key)],
        )
