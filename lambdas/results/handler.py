"""Results stage: output.tar.gz landed -> Parquet lake, statistics, report, registry, execution output."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from judgeflow import environment, layout, nova_output
from judgeflow.adapters import aws
from judgeflow.adapters.registry import RunRegistry
from judgeflow.stages import results
from lambdas.powertools import logger, metrics, stage_handler


@stage_handler(with_metrics=True)
@event_source(data_class=EventBridgeEvent)
def lambda_handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    bucket, key = event.detail["bucket"]["name"], event.detail["object"]["key"]
    logger.append_keys(run_id=layout.run_id_from_output_key(key))
    resources, settings = environment.resources(), environment.settings()
    result = results.process_results(
        s3=aws.client("s3"), sfn=aws.client("stepfunctions"), sns=aws.client("sns"),
        registry=RunRegistry(aws.table(resources.runs_table)), resources=resources,
        limits=nova_output.ArchiveLimits(max_unpacked_bytes=settings.results_max_unpacked_bytes,
                                         max_members=settings.results_max_members),
        bucket=bucket, key=key, version_id=event.detail["object"].get("version-id"),
        # Lambda retries an asynchronous invocation under the same request id; a second delivery
        # of the event is another invocation. A claim older than the function's timeout is stale.
        claimant=context.aws_request_id, stale_after_seconds=int(context.get_remaining_time_in_millis() / 1000) + 60,
    )
    if result.get("applied", True):
        metrics.add_metric(name=f"Runs{result['status'].title()}", unit="Count", value=1)
        logger.info("results written", extra={"status": result["status"]})
    else:  # an unknown run, a finished one, a repeated delivery: nothing changed but a note on the run
        metrics.add_metric(name="ResultsNotApplied", unit="Count", value=1)
        logger.warning("results not applied", extra={"reason": result["reason"]})
    return result
