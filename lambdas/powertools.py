"""What every stage handler shares: Powertools logs (JSON, keyed by run id) and metrics (EMF), and
the one decorator stack that applies them.

Traces: the functions run with X-Ray active tracing (infra/stages/function.py), so Lambda records
every invocation. The handlers do not load the X-Ray SDK (Powertools' Tracer): its recorder builds
a botocore X-Ray client when imported, about 0.2 s of every cold start (benchmarks/bench_cold_import.py).
"""

from __future__ import annotations

from typing import Any, Callable

from aws_lambda_powertools import Logger, Metrics

from judgeflow.environment import METRICS_NAMESPACE, SERVICE_NAME

logger = Logger(service=SERVICE_NAME)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)

Handler = Callable[[Any, Any], Any]


def stage_handler(*, with_metrics: bool = False) -> Callable[[Handler], Handler]:
    """Logs with the Lambda context (cleared per invocation) and, `with_metrics`, the metrics the
    handler added flushed as EMF when it returns."""

    def decorate(handler: Handler) -> Handler:
        wrapped = metrics.log_metrics(handler) if with_metrics else handler
        return logger.inject_lambda_context(clear_state=True)(wrapped)

    return decorate
