"""Powertools objects shared by every handler: structured logs keyed by run id, traces, metrics."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="judgeflow")
tracer = Tracer(service="judgeflow")
metrics = Metrics(namespace="judgeflow", service="judgeflow")
