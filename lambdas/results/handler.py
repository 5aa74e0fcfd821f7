"""Results stage: output.tar.gz landed -> Parquet lake, statistics, report, registry, execution output."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from judgeflow import layout, pipeline, runtime
from lambdas.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=EventBridgeEvent)
def lambda_handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    bucket = event.detail["bucket"]["name"]
    s3 = runtime.client("s3")
    key = layout.resolve_object_key(s3, bucket, event.detail["object"]["key"])
    logger.append_keys(run_id=layout.run_id_from_output_key(key))
    result = pipeline.process_results(
        s3=s3, sfn=runtime.client("stepfunctions"), sns=runtime.client("sns"), registry=runtime.registry(),
        resources=runtime.resources(), bucket=bucket, key=key,
    )
    metrics.add_metric(name=f"Runs{result['status'].title()}", unit="Count", value=1)
    logger.info("results written", extra={"status": result["status"]})
    return result
