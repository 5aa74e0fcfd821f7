"""boto3 clients of a Lambda execution environment, created once and reused by later invocations.

Created on first use, not at import: a handler pays only for the clients it calls.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3


@lru_cache(maxsize=None)
def client(name: str) -> Any:
    return boto3.client(name)


@lru_cache(maxsize=1)
def dynamodb() -> Any:
    # A DynamoDB resource loads its model when created (tens of milliseconds): once per environment.
    return boto3.resource("dynamodb")


def table(name: str) -> Any:
    return dynamodb().Table(name)
