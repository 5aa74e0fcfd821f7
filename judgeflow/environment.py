"""The Lambda environment contract, written once: infra sets these variables on every stage
function, handlers read them, and the offline deploy finds the deployed resources through them.

The names of the AWS resources a function uses arrive in `JUDGEFLOW_*` variables, the deployment
settings (cdk.json context, validated at synth) as JSON in `JUDGEFLOW_SETTINGS`.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from typing import Mapping

from judgeflow.settings import Settings

# Powertools service name and CloudWatch metrics namespace: the handlers emit under them, the
# dashboard reads from them.
SERVICE_NAME = "judgeflow"
METRICS_NAMESPACE = "judgeflow"

SETTINGS_VARIABLE = "JUDGEFLOW_SETTINGS"


@dataclass(frozen=True, kw_only=True)
class Resources:
    """Names of the deployed resources a stage function works with."""

    datasets_bucket: str = ""
    work_bucket: str = ""
    metrics_bucket: str = ""
    runs_table: str = ""
    capacity_table: str = ""
    topic_arn: str = ""
    judge_role_arn: str = ""

    @staticmethod
    def variable(field_name: str) -> str:
        """The environment variable that carries a field, e.g. work_bucket -> JUDGEFLOW_WORK_BUCKET."""
        return "JUDGEFLOW_" + field_name.upper()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> "Resources":
        environ = os.environ if environ is None else environ
        return cls(**{f.name: environ.get(cls.variable(f.name), "") for f in fields(cls)})

    def to_environment(self) -> dict[str, str]:
        return {self.variable(name): value for name, value in asdict(self).items()}


def lambda_environment(resources: Resources, settings: Settings) -> dict[str, str]:
    """Every variable infra sets on a stage function (Powertools' own included)."""
    return {
        **resources.to_environment(),
        SETTINGS_VARIABLE: settings.to_json(),
        "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The deployment settings of this function, read once per execution environment."""
    return Settings.from_json(os.environ.get(SETTINGS_VARIABLE))


@lru_cache(maxsize=1)
def resources() -> Resources:
    return Resources.from_environment()
