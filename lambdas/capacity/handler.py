"""Capacity stage: reserve a quota slot (or say how long to wait), wait in line, release on every path."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from judgeflow import environment
from judgeflow.adapters import aws
from judgeflow.adapters.ledger import CapacityLedger
from judgeflow.adapters.registry import RunRegistry
from judgeflow.stages import capacity
from lambdas.powertools import logger, metrics, stage_handler


def _ledger() -> CapacityLedger:
    return CapacityLedger(aws.table(environment.resources().capacity_table))


def _registry() -> RunRegistry:
    return RunRegistry(aws.table(environment.resources().runs_table))


@stage_handler(with_metrics=True)
def acquire(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(run_id=event["run_id"])
    state = capacity.acquire_capacity(
        ledger=_ledger(), quotas_client=aws.client("service-quotas"), sagemaker=aws.client("sagemaker"),
        settings=environment.settings(), registry=_registry(), run_id=event["run_id"],
        execution_arn=event["execution_arn"], plan=capacity.Plan.from_event(event["plan"]),
        previous=capacity.CapacityState.from_event(event.get("capacity")), sfn=aws.client("stepfunctions"),
    )
    metrics.add_metric(name="CapacityReserved" if state.acquired else "CapacityWaits", unit="Count", value=1)
    logger.info("capacity checked", extra={"acquired": state.acquired, "instance_type": state.instance_type,
                                           "reason": state.reason})
    return state.to_event()


@stage_handler()
def park(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Invoked with a task token: the execution sleeps until a release wakes it or its wait runs out."""
    logger.append_keys(run_id=event["run_id"])
    state = capacity.CapacityState.from_event(event["capacity"])
    result = capacity.park_waiter(ledger=_ledger(), sfn=aws.client("stepfunctions"), run_id=event["run_id"],
                                  execution_arn=event["execution_arn"], task_token=event["task_token"], state=state)
    logger.info("waiting in line", extra={"reason": state.reason, **result})
    return result


@stage_handler()
def release(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = capacity.release_capacity(ledger=_ledger(), sfn=aws.client("stepfunctions"),
                                       execution_arn=event["execution_arn"], instance_types=event["instance_types"])
    logger.info("capacity released", extra=result)
    return result


@stage_handler()
@event_source(data_class=EventBridgeEvent)
def on_execution_ended(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    """Step Functions status change (ABORTED, TIMED_OUT, FAILED): no catch ran, so release here."""
    result = capacity.release_ended_execution(
        ledger=_ledger(), sfn=aws.client("stepfunctions"), registry=_registry(), settings=environment.settings(),
        execution_arn=event.detail["executionArn"], status=event.detail["status"], cause=event.detail.get("cause"))
    logger.info("execution ended", extra={"status": event.detail["status"], **result})
    return result
