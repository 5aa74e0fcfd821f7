"""Capacity gate: live SageMaker training quota, current use, and reservations in DynamoDB.

Use of an instance type = instances of InProgress training jobs judgeflow did not reserve for
+ live (unexpired) reservations. A reservation is written in one transaction with a version
bump on a per-type counter item, conditioned on the version read: two executions that saw the
same state cannot both reserve the last slot.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

QUOTA_SERVICE_CODE = "sagemaker"
COUNTER_SORT_KEY = "#version"
_QUOTA_CACHE_SECONDS = 60
_quota_cache: dict[tuple[str, str], tuple[float, float | None]] = {}


def quota_name(instance_type: str) -> str:
    return f"{instance_type} for training job usage"


def increase_hint(instance_type: str, region: str) -> str:
    return (
        f"Request an increase of the Service Quotas quota '{quota_name(instance_type)}' (service "
        f"'{QUOTA_SERVICE_CODE}') in {region}: Service Quotas console > AWS services > Amazon SageMaker, "
        f"or `aws service-quotas request-service-quota-increase --service-code sagemaker --quota-code <code> "
        f"--desired-value 1 --region {region}`."
    )


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
        if cached and now - cached[0] < _QUOTA_CACHE_SECONDS:
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


@dataclass
class Decision:
    acquired: bool
    instance_type: str | None = None
    reason: str = ""
    wait_seconds: int = 0
    exhausted: bool = False
    quotas: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "acquired": self.acquired,
            "instance_type": self.instance_type,
            "reason": self.reason,
            "wait_seconds": self.wait_seconds,
            "exhausted": self.exhausted,
            "quotas": self.quotas,
        }


def next_wait_seconds(attempt: int, *, initial: int, maximum: int, rng: random.Random | None = None) -> int:
    """Exponential backoff with +-20% jitter, capped."""
    rng = rng or random.Random()
    base = min(maximum, initial * (2 ** min(attempt, 20)))
    return max(1, min(maximum, int(base * rng.uniform(0.8, 1.2))))


@dataclass
class CapacityLedger:
    """Reservations table: PK instance_type, SK holder (execution ARN); one counter item per type."""

    table: Any  # boto3 DynamoDB Table resource

    def live_reservations(self, instance_type: str, now: int) -> tuple[int, list[dict[str, Any]]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "instance_type = :t",
            "ExpressionAttributeValues": {":t": instance_type},
            "ConsistentRead": True,
        }
        while True:
            page = self.table.query(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        version = 0
        live = []
        for item in items:
            if item["holder"] == COUNTER_SORT_KEY:
                version = int(item.get("version", 0))
            elif int(item.get("expires_at", 0)) > now:
                live.append(item)
        return version, live

    def try_reserve(
        self, *, instance_type: str, holder: str, run_id: str, job_name: str, instances: int,
        limit: float, running_jobs: dict[str, int], ttl_seconds: int, now: int,
    ) -> tuple[bool, int]:
        """Reserve if use + instances <= limit. Returns (reserved, use seen).

        Use = live reservations + instances of running jobs no reservation accounts for, both
        read from one snapshot of the reservations.
        """
        version, live = self.live_reservations(instance_type, now)
        reserved_jobs = {item["job_name"] for item in live}
        used = sum(int(i["instances"]) for i in live) + sum(
            count for name, count in running_jobs.items() if name not in reserved_jobs)
        if any(item["holder"] == holder for item in live):
            return True, used
        if used + instances > limit:
            return False, used
        client = self.table.meta.client
        try:
            client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self.table.name,
                            "Key": {"instance_type": instance_type, "holder": COUNTER_SORT_KEY},
                            "UpdateExpression": "SET version = :next",
                            "ConditionExpression": "attribute_not_exists(version) OR version = :seen",
                            "ExpressionAttributeValues": {":next": version + 1, ":seen": version},
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table.name,
                            "Item": {
                                "instance_type": instance_type,
                                "holder": holder,
                                "run_id": run_id,
                                "job_name": job_name,
                                "instances": instances,
                                "reserved_at": now,
                                "expires_at": now + ttl_seconds,
                            },
                        }
                    },
                ]
            )
            return True, used + instances
        except client.exceptions.TransactionCanceledException:
            return False, used

    def release(self, *, holder: str, instance_types: Iterable[str]) -> list[str]:
        released = []
        for instance_type in instance_types:
            old = self.table.delete_item(
                Key={"instance_type": instance_type, "holder": holder}, ReturnValues="ALL_OLD"
            ).get("Attributes")
            if old:
                released.append(instance_type)
        return released


def acquire(
    *,
    ledger: CapacityLedger,
    quotas_client: Any,
    sagemaker_client: Any,
    instance_order: list[str],
    holder: str,
    run_id: str,
    job_name: str,
    instances: int,
    ttl_seconds: int,
    region: str,
    attempt: int,
    waited_seconds: int,
    wait_initial: int,
    wait_max: int,
    wait_total: int,
    now: int | None = None,
    rng: random.Random | None = None,
    fresh_quotas: bool = False,
) -> Decision:
    now = int(time.time()) if now is None else now
    quotas = read_quotas(quotas_client, instance_order, fresh=fresh_quotas)
    usage = in_progress_usage(sagemaker_client, instance_order)
    seen: dict[str, Any] = {}
    for instance_type in instance_order:
        limit = quotas.get(instance_type)
        if not limit:
            seen[instance_type] = {"quota_name": quota_name(instance_type), "quota": limit or 0, "in_use": None}
            continue
        for _conflict in range(5):
            ok, used = ledger.try_reserve(
                instance_type=instance_type, holder=holder, run_id=run_id, job_name=job_name,
                instances=instances, limit=limit, running_jobs=usage[instance_type], ttl_seconds=ttl_seconds,
                now=now,
            )
            seen[instance_type] = {"quota_name": quota_name(instance_type), "quota": limit, "in_use": used}
            if ok:
                return Decision(True, instance_type, f"reserved {instances} x {instance_type} ({used}/{int(limit)} in use)",
                                quotas=seen)
            if used + instances > limit:
                break  # full, not a write conflict
    if all(not quotas.get(t) for t in instance_order):
        first = instance_order[0]
        return Decision(
            False, None, exhausted=True, quotas=seen,
            reason=(
                f"No SageMaker training quota for any allowed instance type ({', '.join(instance_order)}): "
                f"the quota '{quota_name(first)}' is 0. " + increase_hint(first, region)
            ),
        )
    details = "; ".join(
        f"'{v['quota_name']}' = {int(v['quota'])}, in use {v['in_use']}" for v in seen.values() if v["quota"]
    )
    return wait_decision(f"All allowed quotas are in use ({details})", quotas=seen,
                         hint_type=next(t for t in instance_order if quotas.get(t)), region=region, attempt=attempt,
                         waited_seconds=waited_seconds, wait_initial=wait_initial, wait_max=wait_max,
                         wait_total=wait_total, rng=rng)


def wait_decision(situation: str, *, quotas: dict[str, Any], hint_type: str, region: str, attempt: int,
                  waited_seconds: int, wait_initial: int, wait_max: int, wait_total: int,
                  rng: random.Random | None = None) -> Decision:
    """Wait with backoff, or give up when the total wait budget would be exceeded."""
    wait = next_wait_seconds(attempt, initial=wait_initial, maximum=wait_max, rng=rng)
    if waited_seconds + wait > wait_total:
        return Decision(False, None, exhausted=True, quotas=quotas, reason=(
            f"Gave up waiting for SageMaker capacity after {waited_seconds} s (limit {wait_total} s): {situation}. "
            + increase_hint(hint_type, region)))
    return Decision(False, None, wait_seconds=wait, quotas=quotas, reason=f"{situation}; next check in {wait} s.")
