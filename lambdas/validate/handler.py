"""Validate stage: check settings and every line of the dropped JSONL before any GPU minute."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from judgeflow import pipeline, runtime
from lambdas.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = event["request"]
    logger.append_keys(dataset=f"s3://{request.get('bucket')}/{request.get('key')}", execution=event["execution_arn"])
    result = pipeline.validate_request(s3=runtime.client("s3"), settings=runtime.settings(), request=request)
    metrics.add_metric(name="DatasetsRejected" if not result["valid"] else "DatasetsAccepted", unit="Count", value=1)
    logger.info("dataset validated", extra={"valid": result["valid"], "records": result["dataset"]["records"]})
    return result
