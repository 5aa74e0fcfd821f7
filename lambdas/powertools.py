"""What every stage handler shares: Powertools logs (JSON, keyed by run id), traces and metrics,
and the one decorator stack that applies them."""

from __future__ import annotations

from typing import Any, Callable

from aws_lambda_powertools import Logger, Metrics, Tracer

from judgeflow.environment import METRICS_NAMESPACE, SERVICE_NAME

logger = Logger(service=SERVICE_NAME)
tracer = Tracer(service=SERVICE_NAME)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)

Handler = Callable[[Any, Any], Any]


def stage_handler(*, with_metrics: bool = False) -> Callable[[Handler], Handler]:
    """Logs with the Lambda context (cleared per invocation), an X-Ray subsegment per invocation
    and, `with_metrics`, the metrics the handler added flushed as EMF when it returns."""

    def decorate(handler: Handler) -> Handler:
        wrapped = tracer.capture_lambda_handler(handler)
        if with_metrics:
            wrapped = metrics.log_metrics(wrapped)
        return logger.inject_lambda_context(clear_state=True)(wrapped)

    return decorate
