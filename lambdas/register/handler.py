"""Register stage: register a run once, record rejections and failures, park until results."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from judgeflow import environment
from judgeflow.adapters import aws
from judgeflow.adapters.registry import RunRegistry
from judgeflow.stages import register as stage
from lambdas.powertools import logger, stage_handler


def _registry() -> RunRegistry:
    return RunRegistry(aws.table(environment.resources().runs_table))


@stage_handler()
def register(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = stage.register_run(
        registry=_registry(), settings=environment.settings(), validation_result=event["validation"],
        execution_arn=event["execution_arn"], execution_name=event["execution_name"],
    )
    logger.append_keys(run_id=result["run_id"])
    logger.info("run registered", extra={"duplicate": result["duplicate"]})
    return result


@stage_handler()
def record_rejection(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = stage.record_rejection(
        registry=_registry(), sns=aws.client("sns"), topic_arn=environment.resources().topic_arn,
        validation_result=event["validation"], execution_arn=event["execution_arn"],
    )
    logger.append_keys(run_id=result["run_id"])
    logger.warning("dataset rejected", extra={"reason": result["message"]})
    return result


@stage_handler()
def record_failure(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(run_id=event["run_id"])
    result = stage.record_failure(
        registry=_registry(), sns=aws.client("sns"), topic_arn=environment.resources().topic_arn,
        run_id=event["run_id"], error=event.get("error"),
    )
    logger.error("run failed", extra={"reason": result["message"]})
    return result


@stage_handler()
def await_results(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(run_id=event["run_id"])
    return stage.store_results_token(registry=_registry(), sfn=aws.client("stepfunctions"), run_id=event["run_id"],
                                     task_token=event["task_token"])
