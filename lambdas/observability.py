"""Powertools objects shared by every handler: structured logs keyed by run id, traces, metrics."""

from aws_lambda_powertools import Logger, Metrics, Tracer

from judgeflow.settings import METRICS_NAMESPACE, SERVICE_NAME

logger = Logger(service=SERVICE_NAME)
tracer = Tracer(service=SERVICE_NAME)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)
