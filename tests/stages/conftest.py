"""Stage tests call each deployed Lambda through the Lambda API of the embedded AWS, so the real
handler runs with the environment its construct gave it."""

from __future__ import annotations

import json
from typing import Any

import pytest


class Deployed:
    def __init__(self, jf) -> None:
        self.jf = jf

    def invoke(self, logical_prefix: str, event: Any) -> Any:
        (name,) = [n for logical, n in self.jf.d.functions.items() if logical.startswith(logical_prefix)]
        response = self.jf.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read())
        if response.get("FunctionError"):
            raise LambdaError(payload["errorType"], payload["errorMessage"])
        return payload

    def put_dataset(self, key: str, body: bytes, metadata: dict[str, str] | None = None) -> str:
        """Upload to the datasets bucket; the version id of the upload."""
        return self.jf.client("s3").put_object(Bucket=self.jf.d.datasets_bucket, Key=key, Body=body,
                                               Metadata=metadata or {})["VersionId"]


class LambdaError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


@pytest.fixture
def deployed(offline):
    with offline(quotas={"ml.g5.12xlarge": 1}) as jf:
        yield Deployed(jf)


@pytest.fixture(scope="module")
def shared_deployment(assembly):
    """One deployment for a whole module of independent, read-mostly cases (faster)."""
    from offline.pipeline import OfflineJudgeflow
    from offline.synth import default_context
    from tests.conftest import STACKS

    with OfflineJudgeflow(assembly, stack_order=STACKS, region=default_context()["region"]) as jf:
        yield Deployed(jf)
