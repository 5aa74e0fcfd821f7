"""Registry stage: register a run once, record rejections and failures, park until results."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from judgeflow import pipeline, runtime
from lambdas.observability import logger, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def register(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = pipeline.register_run(
        registry=runtime.registry(), settings=runtime.settings(), validation_result=event["validation"],
        execution_arn=event["execution_arn"], execution_name=event["execution_name"],
    )
    logger.append_keys(run_id=result["run_id"])
    logger.info("run registered", extra={"duplicate": result["duplicate"]})
    return result


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def record_rejection(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = pipeline.record_rejection(
        registry=runtime.registry(), sns=runtime.client("sns"), topic_arn=runtime.resources().topic_arn,
        validation_result=event["validation"], execution_arn=event["execution_arn"], settings=runtime.settings(),
    )
    logger.append_keys(run_id=result["run_id"])
    logger.warning("dataset rejected", extra={"reason": result["message"]})
    return result


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def record_failure(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(run_id=event["run_id"])
    result = pipeline.record_failure(
        registry=runtime.registry(), sns=runtime.client("sns"), topic_arn=runtime.resources().topic_arn,
        run_id=event["run_id"], error=event.get("error"),
    )
    logger.error("run failed", extra={"reason": result["message"]})
    return result


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def await_results(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(run_id=event["run_id"])
    return pipeline.store_results_token(
        registry=runtime.registry(), sfn=runtime.client("stepfunctions"), run_id=event["run_id"],
        task_token=event["task_token"],
    )
