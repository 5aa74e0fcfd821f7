"""What the account may run and runs now: the applied SageMaker training quotas (Service Quotas)
and the instances of InProgress training jobs (SageMaker)."""

from __future__ import annotations

import time
from typing import Any, Iterable

from judgeflow.capacity_policy import QUOTA_SERVICE_CODE, quota_name

QUOTA_CACHE_SECONDS = 60
_quota_cache: dict[tuple[str, str], tuple[float, float | None]] = {}
# Quota codes learned from the lists, by (region, quota name): later reads ask for those quotas
# alone instead of paging through every SageMaker quota.
_quota_codes: dict[tuple[str, str], str] = {}


def clear_quota_cache() -> None:
    _quota_cache.clear()


def read_quotas(quotas_client: Any, instance_types: Iterable[str], *, fresh: bool = False) -> dict[str, float | None]:
    """Quota value per instance type: the applied value, or the AWS default when the quota has no
    applied value (Service Quotas then leaves it out of ListServiceQuotas and GetServiceQuota);
    None if the region has no such quota.

    Looked up by name the first time (codes differ between quotas and are not derivable), by code
    afterwards. Values are cached briefly so a wait loop does not ask every minute; `fresh` skips
    the cache (after CreateTrainingJob refused a launch the cached value is suspect).
    """
    if fresh:
        clear_quota_cache()
    region, now = quotas_client.meta.region_name, time.monotonic()
    wanted = {t: quota_name(t) for t in instance_types}
    result: dict[str, float | None] = {}
    for instance_type, name in wanted.items():
        cached = _quota_cache.get((region, name))
        if cached and now - cached[0] < QUOTA_CACHE_SECONDS:
            result[instance_type] = cached[1]
    missing = {t: wanted[t] for t in wanted if t not in result}
    if missing:
        if all((region, name) in _quota_codes for name in missing.values()):
            values = {name: _by_code(quotas_client, _quota_codes[(region, name)]) for name in missing.values()}
        else:
            values = _by_name(quotas_client, set(missing.values()))
        for instance_type, name in missing.items():
            _quota_cache[(region, name)] = (now, values.get(name))
            result[instance_type] = values.get(name)
    return result


def quota_code(quotas_client: Any, instance_type: str) -> str | None:
    """The Service Quotas code of an instance type's training quota, once a read has seen it."""
    return _quota_codes.get((quotas_client.meta.region_name, quota_name(instance_type)))


def _by_name(quotas_client: Any, names: set[str]) -> dict[str, float]:
    """Applied values from ListServiceQuotas, then AWS defaults for the names it did not list."""
    values: dict[str, float] = {}
    for operation in ("list_service_quotas", "list_aws_default_service_quotas"):
        if names <= values.keys():
            break
        for page in quotas_client.get_paginator(operation).paginate(ServiceCode=QUOTA_SERVICE_CODE):
            for quota in page.get("Quotas", []):
                if quota["QuotaName"] in names and quota["QuotaName"] not in values:
                    values[quota["QuotaName"]] = float(quota["Value"])
                    _quota_codes[(quotas_client.meta.region_name, quota["QuotaName"])] = quota["QuotaCode"]
    return values


def _by_code(quotas_client: Any, code: str) -> float | None:
    try:
        return float(quotas_client.get_service_quota(ServiceCode=QUOTA_SERVICE_CODE, QuotaCode=code)["Quota"]["Value"])
    except quotas_client.exceptions.NoSuchResourceException:  # no applied value: the AWS default holds
        try:
            return float(quotas_client.get_aws_default_service_quota(
                ServiceCode=QUOTA_SERVICE_CODE, QuotaCode=code)["Quota"]["Value"])
        except quotas_client.exceptions.NoSuchResourceException:
            return None


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
