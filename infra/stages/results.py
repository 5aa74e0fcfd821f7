"""Results stage: the container-image Lambda that turns judge output into the metrics lake."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.stages import access
from infra.stages.data import PipelineData
from infra.stages.function import stage_function
from judgeflow import layout


class ResultsStage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, data: PipelineData) -> None:
        super().__init__(scope, construct_id)
        self.function = stage_function(
            self, "Results", handler="lambdas.results.handler.lambda_handler", image=True,
            description="judgeflow: judge output -> Parquet lake, statistics, report, registry, execution output",
            environment={**data.environment, "MPLCONFIGDIR": "/tmp/matplotlib"},
            timeout=Duration.minutes(10), memory_size=3008,
            statements=[
                access.read_object_versions(data.work, layout.under(layout.RUNS_PREFIX)), access.list_bucket(data.work),
                access.write_objects(data.metrics, layout.under(layout.LAKE_PREFIX), layout.under(layout.REPORTS_PREFIX)),
                access.table_items(data.runs, "GetItem", "UpdateItem"),
                iam.PolicyStatement(actions=["sns:Publish"], resources=[data.topic.topic_arn]),
                access.answer_task_tokens("SendTaskSuccess", "SendTaskFailure"),
                access.use_key(data.key),
            ],
        )
