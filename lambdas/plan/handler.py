"""Plan stage: render the Nova recipe, upload it, build the exact CreateTrainingJob request."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from judgeflow import pipeline, runtime
from lambdas.observability import logger, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(run_id=event["run_id"])
    result = pipeline.plan_job(
        s3=runtime.client("s3"), settings=runtime.settings(), resources=runtime.resources(),
        run_id=event["run_id"], run_settings=event["settings"],
    )
    logger.info("job planned", extra={"recipe_key": result["recipe_key"], "instance_order": result["instance_order"]})
    return result
