"""What every Lambda needs at start: settings, resource names and boto3 clients, read once."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import boto3

from judgeflow import capacity, runs
from judgeflow.pipeline import Resources
from judgeflow.settings import (
    ENV_CAPACITY_TABLE,
    ENV_DATASETS_BUCKET,
    ENV_JUDGE_ROLE_ARN,
    ENV_METRICS_BUCKET,
    ENV_RUNS_TABLE,
    ENV_TOPIC_ARN,
    ENV_WORK_BUCKET,
    Settings,
)


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_environment()


def resources() -> Resources:
    env = os.environ
    return Resources(
        datasets_bucket=env.get(ENV_DATASETS_BUCKET, ""),
        work_bucket=env.get(ENV_WORK_BUCKET, ""),
        metrics_bucket=env.get(ENV_METRICS_BUCKET, ""),
        runs_table=env.get(ENV_RUNS_TABLE, ""),
        capacity_table=env.get(ENV_CAPACITY_TABLE, ""),
        topic_arn=env.get(ENV_TOPIC_ARN, ""),
        judge_role_arn=env.get(ENV_JUDGE_ROLE_ARN, ""),
    )


@lru_cache(maxsize=None)
def client(name: str) -> Any:
    return boto3.client(name)


def reset() -> None:
    """Forget cached settings and clients (the offline harness calls this between runs)."""
    settings.cache_clear()
    client.cache_clear()
    _dynamodb.cache_clear()
    capacity.clear_quota_cache()


@lru_cache(maxsize=1)
def _dynamodb() -> Any:
    # Built once per container and reused across invocations, like the clients: creating a
    # resource loads its model (tens of milliseconds per call otherwise).
    return boto3.resource("dynamodb")


def registry() -> runs.RunRegistry:
    return runs.RunRegistry(_dynamodb().Table(resources().runs_table))


def ledger() -> capacity.CapacityLedger:
    return capacity.CapacityLedger(_dynamodb().Table(resources().capacity_table))
