"""Capacity stage: reserve a quota slot (or say how long to wait), wait in line, release on every path."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from judgeflow import pipeline, runs, runtime
from lambdas.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def acquire(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(run_id=event["run_id"])
    result = pipeline.acquire_capacity(
        ledger=runtime.ledger(), quotas_client=runtime.client("service-quotas"), sagemaker=runtime.client("sagemaker"),
        settings=runtime.settings(), registry=runtime.registry(), run_id=event["run_id"],
        execution_arn=event["execution_arn"], plan=event["plan"], previous=event.get("capacity"),
        sfn=runtime.client("stepfunctions"),
    )
    metrics.add_metric(name="CapacityReserved" if result["acquired"] else "CapacityWaits", unit="Count", value=1)
    logger.info("capacity checked", extra={k: result[k] for k in ("acquired", "instance_type", "reason")})
    return result


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def park(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Invoked with a task token: the execution sleeps until a release wakes it or its wait runs out."""
    logger.append_keys(run_id=event["run_id"])
    result = pipeline.park_waiter(
        ledger=runtime.ledger(), sfn=runtime.client("stepfunctions"), run_id=event["run_id"],
        execution_arn=event["execution_arn"], task_token=event["task_token"], state=event["capacity"])
    logger.info("waiting in line", extra={"reason": event["capacity"].get("reason"), **result})
    return result


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def release(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = pipeline.release_capacity(ledger=runtime.ledger(), sfn=runtime.client("stepfunctions"),
                                       execution_arn=event["execution_arn"], instance_types=event["instance_types"])
    logger.info("capacity released", extra=result)
    return result


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@event_source(data_class=EventBridgeEvent)
def on_execution_ended(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    """Step Functions status change (ABORTED, TIMED_OUT, FAILED): no catch ran, so release here."""
    execution_arn = event.detail["executionArn"]
    registry = runtime.registry()
    item = registry.find_by_execution(execution_arn)
    instance_types = list(runtime.settings().instance_preferences)
    if item and item.get("instance_type") and item["instance_type"] not in instance_types:
        instance_types.append(item["instance_type"])
    result = pipeline.release_capacity(ledger=runtime.ledger(), sfn=runtime.client("stepfunctions"),
                                       execution_arn=execution_arn, instance_types=instance_types)
    status = event.detail["status"]
    if item and item.get("status") == runs.RUNNING:
        logger.append_keys(run_id=item["run_id"])
        registry.finish(item["run_id"], status=runs.ABORTED if status == "ABORTED" else runs.FAILED,
                        reason=f"execution {status.lower()}: {event.detail.get('cause') or 'stopped'}")
    logger.info("execution ended", extra={"status": status, **result})
    return result
