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


# Quota names neither list holds in a region (e.g. a quota a region does not have): read as None
# without listing everything again, until the cache is cleared.
_absent: set[tuple[str, str]] = set()


def clear_quota_cache() -> None:
    _quota_cache.clear()
    _absent.clear()


def read_quotas(quotas_client: Any, instance_types: Iterable[str], *, fresh: bool = False) -> dict[str, float | None]:
    """Training quota value per instance type (see `read_quota_values`)."""
    names = {t: quota_name(t) for t in instance_types}
    values = read_quota_values(quotas_client, names.values(), fresh=fresh)
    return {t: values[name] for t, name in names.items()}


def read_quota_values(quotas_client: Any, names: Iterable[str], *, fresh: bool = False) -> dict[str, float | None]:
    """Value per SageMaker quota name: the applied value, or the AWS default when the quota has no
    applied value (Service Quotas then leaves it out of ListServiceQuotas and GetServiceQuota);
    None if the region has no such quota.

    Looked up by name the first time (codes differ between quotas and are not derivable), by code
    afterwards. Values are cached briefly so a wait loop does not ask every minute; `fresh` skips
    the cache (after CreateTrainingJob refused a launch the cached value is suspect).
    """
    if fresh:
        clear_quota_cache()
    region, now = quotas_client.meta.region_name, time.monotonic()
    result: dict[str, float | None] = {}
    for name in names:
        cached = _quota_cache.get((region, name))
        if cached and now - cached[0] < QUOTA_CACHE_SECONDS:
            result[name] = cached[1]
    missing = {name for name in names if name not in result}
    if missing:
        if all((region, name) in _quota_codes or (region, name) in _absent for name in missing):
            values = {name: _by_code(quotas_client, _quota_codes[(region, name)]) for name in missing
                      if (region, name) in _quota_codes}
        else:
            values = _by_name(quotas_client, missing)
            _absent.update((region, name) for name in missing if name not in values)
        for name in missing:
            _quota_cache[(region, name)] = (now, values.get(name))
            result[name] = values.get(name)
    return result


def quota_code(quotas_client: Any, instance_type: str) -> str | None:
    """The Service Quotas code of an instance type's training quota, once a read has seen it."""
    return code_of(quotas_client, quota_name(instance_type))


def code_of(quotas_client: Any, name: str) -> str | None:
    """The Service Quotas code of a quota, once a read has seen it."""
    return _quota_codes.get((quotas_client.meta.region_name, name))


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
    """Instances per type of InProgress training jobs, `instance_types` and any other type running:
    {type: {job_name: count}}."""
    usage: dict[str, dict[str, int]] = {t: {} for t in instance_types}
    for page in sagemaker_client.get_paginator("list_training_jobs").paginate(StatusEquals="InProgress"):
        for summary in page.get("TrainingJobSummaries", []):
            job = sagemaker_client.describe_training_job(TrainingJobName=summary["TrainingJobName"])
            resource = job.get("ResourceConfig", {})
            instance_type = resource.get("InstanceType")
            if instance_type:
                usage.setdefault(instance_type, {})[job["TrainingJobName"]] = int(resource.get("InstanceCount", 1))
    return usage
