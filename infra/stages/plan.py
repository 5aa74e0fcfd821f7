"""Plan stage: render and upload the recipe, build the CreateTrainingJob request."""

from __future__ import annotations

from constructs import Construct

from infra.stages import access
from infra.stages.data import PipelineData
from infra.stages.function import stage_function
from judgeflow import layout


class PlanStage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, data: PipelineData) -> None:
        super().__init__(scope, construct_id)
        self.function = stage_function(
            self, "Plan", handler="lambdas.plan.handler.lambda_handler",
            description="judgeflow: render the Nova recipe and build the exact CreateTrainingJob request",
            environment=data.environment,
            statements=[access.write_objects(data.work, layout.under(layout.recipe_prefix(layout.ANY_RUN))),
                        access.use_key(data.key)],
        )
