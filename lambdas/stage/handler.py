"""Stage stage: write the Nova-strict llm_judge.jsonl and the sidecar of extra fields."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from judgeflow import pipeline, runtime
from lambdas.observability import logger, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(run_id=event["run_id"])
    result = pipeline.stage_dataset(
        s3=runtime.client("s3"), resources=runtime.resources(), run_id=event["run_id"], dataset=event["dataset"]
    )
    logger.info("dataset staged", extra=result)
    return result
