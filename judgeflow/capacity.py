"""Capacity gate: live SageMaker training quota, current use, reservations and a fair queue in DynamoDB.

Use of an instance type = instances of InProgress training jobs judgeflow did not reserve for
+ live (unexpired) reservations. A reservation is written in one transaction with a version
bump on a per-type counter item, conditioned on the version read: two executions that saw the
same state cannot both reserve the last slot. Releases bump the same version.

Runs that must wait stand in one queue (first wait first served): a run may take a slot of a
type only when the runs queued ahead of it that also accept that type leave one free. A waiting
execution parks with a Step Functions task token; a release wakes the first runs in line at
once, and a timeout (the backoff) re-checks in case capacity freed outside judgeflow.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

QUOTA_SERVICE_CODE = "sagemaker"
COUNTER_SORT_KEY = "#version"
QUEUE_PARTITION = "#queue"
QUEUE_ORDER_INDEX = "queue-order"  # LSI: sort key enqueued_at_ms, so the line reads in order
# A waiter whose execution vanished without the status-change event stops holding its place
# this long after its next check was due.
QUEUE_GRACE_SECONDS = 300
# Only the first run in line re-checks on the backoff (for capacity freed outside judgeflow);
# the runs behind it sleep until a release or the line moving up wakes them, with this many
# backoff maxima as a safety net.
FAR_BACK_WAIT_FACTOR = 20
_QUOTA_CACHE_SECONDS = 60
# A release whose transaction DynamoDB cancels for a conflicting write in flight (on the shared
# version item) is tried again this many times, with a short jittered pause, before it fails.
RELEASE_ATTEMPTS = 5
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
    versions: dict[str, int] = field(default_factory=dict)  # ledger versions seen, per instance type
    queued_ahead: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "acquired": self.acquired,
            "instance_type": self.instance_type,
            "reason": self.reason,
            "wait_seconds": self.wait_seconds,
            "exhausted": self.exhausted,
            "quotas": self.quotas,
            "versions": self.versions,
            "queued_ahead": self.queued_ahead,
        }


def waiter_expires_at(now: int, wait_seconds: int) -> int:
    """When a place in line stops counting if its run neither checks again nor leaves."""
    return now + wait_seconds + QUEUE_GRACE_SECONDS


def next_wait_seconds(attempt: int, *, initial: int, maximum: int, rng: random.Random | None = None) -> int:
    """Exponential backoff with +-20% jitter, capped."""
    rng = rng or random.Random()
    base = min(maximum, initial * (2 ** min(attempt, 20)))
    return max(1, min(maximum, int(base * rng.uniform(0.8, 1.2))))


@dataclass(frozen=True)
class Waiter:
    """A run in the capacity queue."""

    holder: str
    run_id: str
    enqueued_at_ms: int
    instance_types: tuple[str, ...]
    instances: int
    task_token: str | None  # set while parked
    woken: bool  # a release (or the run itself) took the token to wake it; cleared when it checks again

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "Waiter":
        return cls(holder=item["holder"], run_id=item.get("run_id", ""), enqueued_at_ms=int(item["enqueued_at_ms"]),
                   instance_types=tuple(item.get("instance_types", [])), instances=int(item.get("instances", 1)),
                   task_token=item.get("task_token"), woken="woken_at" in item)


@dataclass
class CapacityLedger:
    """Reservations table: PK instance_type, SK holder (execution ARN); one counter item per type;
    the queue of waiting runs under PK `#queue`, SK holder."""

    table: Any  # boto3 DynamoDB Table resource

    def _pages(self, **kwargs: Any) -> Iterator[list[dict[str, Any]]]:
        """The items of a Query, a page at a time."""
        while True:
            page = self.table.query(**kwargs)
            yield page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _query(self, partition: str) -> list[dict[str, Any]]:
        return [item for page in self._pages(KeyConditionExpression="instance_type = :t",
                                             ExpressionAttributeValues={":t": partition}, ConsistentRead=True)
                for item in page]

    def live_reservations(self, instance_type: str, now: int) -> tuple[int, list[dict[str, Any]]]:
        version = 0
        live = []
        for item in self._query(instance_type):
            if item["holder"] == COUNTER_SORT_KEY:
                version = int(item.get("version", 0))
            elif int(item.get("expires_at", 0)) > now:
                live.append(item)
        return version, live

    def versions(self, instance_types: Iterable[str]) -> dict[str, int]:
        found = {}
        for instance_type in instance_types:
            item = self.table.get_item(Key={"instance_type": instance_type, "holder": COUNTER_SORT_KEY},
                                       ConsistentRead=True).get("Item") or {}
            found[instance_type] = int(item.get("version", 0))
        return found

    def _bump(self, instance_type: str, seen: int | None = None) -> dict[str, Any]:
        update: dict[str, Any] = {
            "TableName": self.table.name,
            "Key": {"instance_type": instance_type, "holder": COUNTER_SORT_KEY},
            "UpdateExpression": "ADD version :one",
            "ExpressionAttributeValues": {":one": 1},
        }
        if seen is not None:  # conditioned on the snapshot the decision was made from
            update["ConditionExpression"] = "attribute_not_exists(version) OR version = :seen"
            update["ExpressionAttributeValues"][":seen"] = seen
        return {"Update": update}

    def try_reserve(
        self, *, instance_type: str, holder: str, run_id: str, job_name: str, instances: int,
        limit: float, running_jobs: dict[str, int], ttl_seconds: int, now: int, ahead: int = 0,
    ) -> tuple[bool, int, int]:
        """Reserve if use + instances wanted by runs ahead in line + instances <= limit.
        Returns (reserved, use seen, ledger version seen).

        Use = live reservations + instances of running jobs no reservation accounts for, both
        read from one snapshot of the reservations. Reserving also takes the run out of the queue.
        """
        version, live = self.live_reservations(instance_type, now)
        reserved_jobs = {item["job_name"] for item in live}
        used = sum(int(i["instances"]) for i in live) + sum(
            count for name, count in running_jobs.items() if name not in reserved_jobs)
        if any(item["holder"] == holder for item in live):
            return True, used, version
        if used + ahead + instances > limit:
            return False, used, version
        client = self.table.meta.client
        try:
            client.transact_write_items(TransactItems=[
                self._bump(instance_type, seen=version),
                {"Put": {"TableName": self.table.name, "Item": {
                    "instance_type": instance_type, "holder": holder, "run_id": run_id, "job_name": job_name,
                    "instances": instances, "reserved_at": now, "expires_at": now + ttl_seconds}}},
                {"Delete": {"TableName": self.table.name, "Key": {"instance_type": QUEUE_PARTITION, "holder": holder}}},
            ])
            return True, used + instances, version + 1
        except client.exceptions.TransactionCanceledException:
            return False, used, version

    def release(self, *, holder: str, instance_types: Iterable[str]) -> dict[str, int]:
        """Delete this holder's reservations (bumping each type's version) and its queue place.
        Returns the instances freed per type."""
        client = self.table.meta.client
        released: dict[str, int] = {}
        for instance_type in instance_types:
            key = {"instance_type": instance_type, "holder": holder}
            held = self.table.get_item(Key=key, ConsistentRead=True).get("Item")
            if not held:
                continue
            for attempt in range(RELEASE_ATTEMPTS):
                try:
                    client.transact_write_items(TransactItems=[
                        {"Delete": {"TableName": self.table.name, "Key": key,
                                    "ConditionExpression": "attribute_exists(holder)"}},
                        self._bump(instance_type),
                    ])
                    released[instance_type] = int(held.get("instances", 1))
                    break
                except client.exceptions.TransactionCanceledException as cancelled:
                    if _cancellation_codes(cancelled)[:1] == ["ConditionalCheckFailed"]:
                        break  # released concurrently (a retry, or the status-change rule): idempotent
                    if attempt == RELEASE_ATTEMPTS - 1:
                        raise  # still conflicting: fail loudly rather than leave the slot held
                    time.sleep(random.uniform(0.05, 0.1) * 2 ** attempt)
        self.leave_queue(holder)
        return released

    # --- the queue --------------------------------------------------------------------------------
    def _line_query(self, now: int, *, before_ms: int | None = None, accepting: str | None = None,
                    **query_args: Any) -> Iterator[list[dict[str, Any]]]:
        """Pages of live waiters in line order (the queue-order index), read consistently; only
        those enqueued at or before `before_ms` / accepting an instance type, when given."""
        key_condition, live = "instance_type = :q", "expires_at > :now"
        values: dict[str, Any] = {":q": QUEUE_PARTITION, ":now": now}
        if before_ms is not None:
            key_condition += " AND enqueued_at_ms <= :before"
            values[":before"] = before_ms
        if accepting is not None:
            live += " AND contains(instance_types, :t)"
            values[":t"] = accepting
        return self._pages(IndexName=QUEUE_ORDER_INDEX, ConsistentRead=True, KeyConditionExpression=key_condition,
                           FilterExpression=live, ExpressionAttributeValues=values, **query_args)

    def line(self, now: int, page_size: int = 25) -> Iterator[Waiter]:
        """Live waiters, first in line first, read a page at a time (a release needs only the first few)."""
        for items in self._line_query(now, Limit=page_size):
            # Equal enqueue times (same millisecond) are ordered by holder, as queued_ahead does.
            yield from sorted((Waiter.from_item(item) for item in items), key=lambda w: (w.enqueued_at_ms, w.holder))

    def queued_ahead(self, *, holder: str, queued_at_ms: int, instance_type: str, now: int) -> int:
        """Instances wanted by live runs ahead of `holder` in line that also accept `instance_type`.
        A run on its first check passes the current time: everyone already in line is ahead."""
        ahead = 0
        for items in self._line_query(now, before_ms=queued_at_ms, accepting=instance_type,
                                      ProjectionExpression="holder, enqueued_at_ms, instances"):
            for item in items:
                if (int(item["enqueued_at_ms"]), item["holder"]) < (queued_at_ms, holder):
                    ahead += int(item.get("instances", 1))
        return ahead

    def join_queue(self, *, holder: str, run_id: str, instance_types: list[str], instances: int, enqueued_at_ms: int,
                   expires_at: int) -> None:
        """Take (or keep) a place in line, between a check and parking; the first enqueue time
        wins, so re-checks keep the place."""
        self.table.update_item(
            Key={"instance_type": QUEUE_PARTITION, "holder": holder},
            UpdateExpression="SET #e = if_not_exists(#e, :e), #x = :x, #t = :t, #i = :i, #r = :r REMOVE #w, #k",
            ExpressionAttributeNames={"#e": "enqueued_at_ms", "#x": "expires_at", "#t": "instance_types",
                                      "#i": "instances", "#r": "run_id", "#w": "woken_at", "#k": "task_token"},
            ExpressionAttributeValues={":e": enqueued_at_ms, ":x": expires_at, ":t": list(instance_types),
                                       ":i": instances, ":r": run_id})

    def park(self, *, holder: str, task_token: str, expires_at: int) -> bool:
        """Store the token of a run that joined the line. False if it has no place in line any
        more (taken out by an abort or a release meanwhile): parking must not put it back."""
        return self._update_place_if(holder, "attribute_exists(holder)", "SET task_token = :k, expires_at = :x",
                                     {":k": task_token, ":x": expires_at})

    def take_token(self, *, holder: str, task_token: str) -> bool:
        """Claim a parked waiter's token so that only one release (or the waiter itself) wakes it."""
        return self._update_place_if(holder, "task_token = :k", "REMOVE task_token SET woken_at = :now",
                                     {":k": task_token, ":now": int(time.time())})

    def _update_place_if(self, holder: str, condition: str, update: str, values: dict[str, Any]) -> bool:
        """Update a place in line if `condition` holds; False when it no longer does."""
        try:
            self.table.update_item(Key={"instance_type": QUEUE_PARTITION, "holder": holder}, UpdateExpression=update,
                                   ConditionExpression=condition, ExpressionAttributeValues=values)
            return True
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return False

    def leave_queue(self, holder: str) -> None:
        self.table.delete_item(Key={"instance_type": QUEUE_PARTITION, "holder": holder})


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
    queued_at_ms: int | None = None,
    rng: random.Random | None = None,
    fresh_quotas: bool = False,
) -> Decision:
    """Reserve a slot of the first allowed type that has one free for this run, or decide how long
    to wait. `queued_at_ms`: the run's place in line (its first wait), None on a first check."""
    now = int(time.time()) if now is None else now
    queued_at_ms = now * 1000 if queued_at_ms is None else queued_at_ms
    quotas = read_quotas(quotas_client, instance_order, fresh=fresh_quotas)
    usage = in_progress_usage(sagemaker_client, instance_order)
    seen: dict[str, Any] = {}
    versions: dict[str, int] = {}
    ahead_of_us = 0
    near_front = False  # first in line for some type: worth re-checking on the backoff
    for instance_type in instance_order:
        limit = quotas.get(instance_type)
        if not limit:
            seen[instance_type] = {"quota_name": quota_name(instance_type), "quota": limit or 0, "in_use": None}
            continue
        ahead = ledger.queued_ahead(holder=holder, queued_at_ms=queued_at_ms, instance_type=instance_type, now=now)
        ahead_of_us = max(ahead_of_us, ahead)
        near_front = near_front or ahead == 0
        for _conflict in range(5):
            ok, used, versions[instance_type] = ledger.try_reserve(
                instance_type=instance_type, holder=holder, run_id=run_id, job_name=job_name,
                instances=instances, limit=limit, running_jobs=usage[instance_type], ttl_seconds=ttl_seconds,
                now=now, ahead=ahead,
            )
            seen[instance_type] = {"quota_name": quota_name(instance_type), "quota": limit, "in_use": used,
                                   "queued_ahead": ahead}
            if ok:
                return Decision(True, instance_type, f"reserved {instances} x {instance_type} ({used}/{int(limit)} in use)",
                                quotas=seen, versions=versions)
            if used + ahead + instances > limit:
                break  # full (or promised to runs ahead in line), not a write conflict
    if all(not quotas.get(t) for t in instance_order):
        first = instance_order[0]
        return Decision(
            False, None, exhausted=True, quotas=seen,
            reason=(
                f"No SageMaker training quota for any allowed instance type ({', '.join(instance_order)}): "
                f"the quota '{quota_name(first)}' is 0. " + increase_hint(first, region)
            ),
        )
    checked = [v for v in seen.values() if v["quota"]]
    details = "; ".join(
        f"'{v['quota_name']}' = {int(v['quota'])}, in use {v['in_use']}"
        + (f", {v['queued_ahead']} wanted by runs ahead in line" if v.get("queued_ahead") else "") for v in checked
    )
    full = all(v["in_use"] is not None and v["in_use"] + instances > v["quota"] for v in checked)
    situation = (f"All allowed quotas are in use ({details})" if full
                 else f"Free slots go to runs that waited longer ({details})")
    decision = wait_decision(situation, quotas=seen,
                             hint_type=next(t for t in instance_order if quotas.get(t)), region=region,
                             attempt=attempt, waited_seconds=waited_seconds, wait_initial=wait_initial,
                             wait_max=wait_max, wait_total=wait_total, versions=versions, rng=rng,
                             far_back=not near_front)
    decision.queued_ahead = ahead_of_us
    return decision


def wait_decision(situation: str, *, quotas: dict[str, Any], hint_type: str, region: str, attempt: int,
                  waited_seconds: int, wait_initial: int, wait_max: int, wait_total: int,
                  versions: dict[str, int] | None = None, rng: random.Random | None = None,
                  far_back: bool = False) -> Decision:
    """Wait with backoff, or give up when the total wait budget would be exceeded.
    `far_back`: runs ahead of this one get any freed slot first; sleep longer (a wake-up comes first)."""
    wait = next_wait_seconds(attempt, initial=wait_initial, maximum=wait_max, rng=rng)
    if far_back:
        longer = wait_max * FAR_BACK_WAIT_FACTOR
        far_wait = next_wait_seconds(0, initial=longer, maximum=longer, rng=rng)
        if waited_seconds + far_wait <= wait_total:
            wait = far_wait
    if waited_seconds + wait > wait_total:
        return Decision(False, None, exhausted=True, quotas=quotas, versions=versions or {}, reason=(
            f"Gave up waiting for SageMaker capacity after {waited_seconds} s (limit {wait_total} s): {situation}. "
            + increase_hint(hint_type, region)))
    return Decision(False, None, wait_seconds=wait, quotas=quotas, versions=versions or {},
                    reason=f"{situation}; next check in {wait} s, or sooner when a run releases capacity.")


def _cancellation_codes(cancelled: Exception) -> list[str]:
    """Why DynamoDB cancelled a transaction, one code per item in request order
    ("ConditionalCheckFailed", "TransactionConflict", "None", ...)."""
    return [reason.get("Code", "None") for reason in getattr(cancelled, "response", {}).get("CancellationReasons", [])]
