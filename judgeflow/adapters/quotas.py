"""What the account may run and runs now: the applied SageMaker training quotas (Service Quotas)
and the instances of InProgress training jobs (SageMaker)."""

from __future__ import annotations

import time
from typing import Any, Iterable

from judgeflow.capacity_policy import QUOTA_SERVICE_CODE, quota_name

QUOTA_CACHE_SECONDS = 60
_quota_cache: dict[tuple[str, str], tuple[float, float | None]] = {}


def clear_quota_cache() -> None:
    _quota_cache.clear()


def read_quotas(quotas_client: Any, instance_types: Iterable[str], *, fresh: bool = False) -> dict[str, float | None]:
    """Applied quota value per instance type, looked up by name (codes vary); None if unknown.

    Values are cached briefly so a wait loop does not page through Service Quotas every minute;
    `fresh` skips the cache (after CreateTrainingJob refused a launch the cached value is suspect).
    """
    if fresh:
        clear_quota_cache()
    now = time.monotonic()
    wanted = {t: quota_name(t) for t in instance_types}
    result: dict[str, float | None] = {}
    missing = []
    for instance_type, name in wanted.items():
        cached = _quota_cache.get((quotas_client.meta.region_name, name))
        if cached and now - cached[0] < QUOTA_CACHE_SECONDS:
            result[instance_type] = cached[1]
        else:
            missing.append(instance_type)
    if missing:
        by_name: dict[str, float] = {}
        for page in quotas_client.get_paginator("list_service_quotas").paginate(ServiceCode=QUOTA_SERVICE_CODE):
            for quota in page.get("Quotas", []):
                by_name[quota["QuotaName"]] = float(quota["Value"])
        for instance_type in missing:
            value = by_name.get(wanted[instance_type])
            _quota_cache[(quotas_client.meta.region_name, wanted[instance_type])] = (now, value)
            result[instance_type] = value
    return result


def in_progress_usage(sagemaker_client: Any, instance_types: Iterable[str]) -> dict[str, dict[str, int]]:
    """Instances per type of InProgress training jobs: {type: {job_name: count}}."""
    wanted = set(instance_types)
    usage: dict[str, dict[str, int]] = {t: {} for t in wanted}
    for page in sagemaker_client.get_paginator("list_training_jobs").paginate(StatusEquals="InProgress"):
        for summary in page.get("TrainingJobSummaries", []):
            job = sagemaker_client.describe_training_job(TrainingJobName=summary["TrainingJobName"])
            resource = job.get("ResourceConfig", {})
            instance_type = resource.get("InstanceType")
            if instance_type in wanted:
                usage[instance_type][job["TrainingJobName"]] = int(resource.get("InstanceCount", 1))
    return usage
