"""Stage-input stage: write the Nova-strict llm_judge.jsonl and the sidecar of extra fields."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from judgeflow import environment
from judgeflow.adapters import aws
from judgeflow.stages import stage_input
from lambdas.powertools import logger, stage_handler


@stage_handler()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(run_id=event["run_id"])
    result = stage_input.stage_dataset(s3=aws.client("s3"), work_bucket=environment.resources().work_bucket,
                                       run_id=event["run_id"], dataset=event["dataset"])
    logger.info("dataset staged", extra=result)
    return result
