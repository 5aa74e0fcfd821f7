"""Stage-input stage: write the Nova-strict input file and the sidecar of extra fields."""

from __future__ import annotations

from aws_cdk import Duration
from constructs import Construct

from infra.stages import access
from infra.stages.data import PipelineData
from infra.stages.function import stage_function
from judgeflow import layout


class StageInputStage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, data: PipelineData) -> None:
        super().__init__(scope, construct_id)
        self.function = stage_function(
            self, "StageInput", handler="lambdas.stage_input.handler.lambda_handler",
            description="judgeflow: stage llm_judge.jsonl (prompt/response_A/response_B only) and the sidecar",
            environment=data.environment, timeout=Duration.minutes(15), memory_size=1024,
            statements=[access.read_object_versions(data.datasets, "*"),
                        access.write_objects(data.work, layout.under(layout.staged_input_prefix(layout.ANY_RUN)),
                                             layout.under(layout.sidecar_prefix(layout.ANY_RUN))),
                        access.use_key(data.key)],
        )
