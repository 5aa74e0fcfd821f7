"""Plan stage: render the Nova recipe, upload it, build the exact CreateTrainingJob request."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from judgeflow import environment
from judgeflow.adapters import aws
from judgeflow.stages import plan
from lambdas.powertools import logger, stage_handler


@stage_handler()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(run_id=event["run_id"])
    result = plan.plan_job(s3=aws.client("s3"), settings=environment.settings(), resources=environment.resources(),
                           run_id=event["run_id"], run_settings=event["settings"])
    logger.info("job planned", extra={"recipe_key": result["recipe_key"], "instance_order": result["instance_order"]})
    return result
