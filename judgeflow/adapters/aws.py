"""boto3 clients of a Lambda execution environment, created once and reused by later invocations.

Created on first use, not at import: a handler pays only for the clients it calls.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

# The standard retry mode: legacy mode, boto3's default, does not retry TooManyRequestsException,
# which Service Quotas answers when throttling; standard mode retries every throttling error with
# exponential backoff and jitter, capped at 20 s (https://docs.aws.amazon.com/boto3/latest/guide/retries.html).
# Six attempts ride out a busy account's bursts within a stage's timeout.
RETRIES = Config(retries={"mode": "standard", "max_attempts": 6})


@lru_cache(maxsize=None)
def client(name: str) -> Any:
    return boto3.client(name, config=RETRIES)


@lru_cache(maxsize=1)
def dynamodb() -> Any:
    # A DynamoDB resource loads its model when created (tens of milliseconds): once per environment.
    return boto3.resource("dynamodb", config=RETRIES)


def table(name: str) -> Any:
    return dynamodb().Table(name)
