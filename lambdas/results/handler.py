"""Results stage: output.tar.gz landed -> Parquet lake, statistics, report, registry, execution output."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from judgeflow import environment, layout
from judgeflow.adapters import aws
from judgeflow.adapters import s3 as objects
from judgeflow.adapters.registry import RunRegistry
from judgeflow.stages import results
from lambdas.powertools import logger, metrics, stage_handler


@stage_handler(with_metrics=True)
@event_source(data_class=EventBridgeEvent)
def lambda_handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    bucket = event.detail["bucket"]["name"]
    s3 = aws.client("s3")
    key = objects.resolve_object_key(s3, bucket, event.detail["object"]["key"])
    logger.append_keys(run_id=layout.run_id_from_output_key(key))
    resources = environment.resources()
    result = results.process_results(
        s3=s3, sfn=aws.client("stepfunctions"), sns=aws.client("sns"),
        registry=RunRegistry(aws.table(resources.runs_table)), resources=resources, bucket=bucket, key=key,
    )
    metrics.add_metric(name=f"Runs{result['status'].title()}", unit="Count", value=1)
    logger.info("results written", extra={"status": result["status"]})
    return result
