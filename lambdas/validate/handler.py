"""Validate stage: check settings and every line of the dropped JSONL before any GPU minute."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from judgeflow import environment
from judgeflow.adapters import aws
from judgeflow.stages import validate
from lambdas.powertools import logger, metrics, stage_handler


@stage_handler(with_metrics=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = event["request"]
    if isinstance(request, dict):
        logger.append_keys(dataset=f"s3://{request.get('bucket')}/{request.get('key')}")
    logger.append_keys(execution=event["execution_arn"])
    result = validate.validate_request(s3=aws.client("s3"), settings=environment.settings(), request=request,
                                       datasets_bucket=environment.resources().datasets_bucket,
                                       execution_name=event["execution_name"])
    metrics.add_metric(name="DatasetsAccepted" if result["valid"] else "DatasetsRejected", unit="Count", value=1)
    logger.info("dataset validated", extra={"valid": result["valid"], "records": result["dataset"].get("records")})
    return result
