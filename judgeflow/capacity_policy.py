"""The capacity policy: what a run may reserve, how long it waits, who is next in line. Pure code
over plain values; the DynamoDB ledger (judgeflow.adapters.ledger) and the Service Quotas and
SageMaker reads (judgeflow.adapters.quotas) supply the values, judgeflow.stages.capacity applies
the decisions.

Use of an instance type = instances of InProgress training jobs no reservation accounts for + live
(unexpired) reservations. Runs that must wait stand in one line (first wait first served): a run
may take a slot of a type only when the runs queued ahead of it that also accept that type leave
one free. Only the runs the quota could serve next re-check on the backoff; a release wakes the
others.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

QUOTA_SERVICE_CODE = "sagemaker"
# A waiter whose execution vanished without the status-change event stops holding its place
# this long after its next check was due.
QUEUE_GRACE_SECONDS = 300
# Only the first run in line re-checks on the backoff (for capacity freed outside judgeflow);
# the runs behind it sleep until a release or the line moving up wakes them, with this many
# backoff maxima as a safety net.
FAR_BACK_WAIT_FACTOR = 20


# The account-wide cap on training instances of every type together, beside each type's own quota.
# Read by name like the others; a region that does not list it is not checked against it.
ACCOUNT_INSTANCES_QUOTA = "Number of instances across all training jobs"


def quota_name(instance_type: str) -> str:
    return f"{instance_type} for training job usage"


def increase_hint(quota: str, region: str, code: str | None = None) -> str:
    """How to ask for more of `quota` (a quota name), with its code once a read has seen it."""
    return (
        f"Request an increase of the Service Quotas quota '{quota}'"
        + (f" (code {code})" if code else "")
        + f" (service '{QUOTA_SERVICE_CODE}') in {region}: Service Quotas console > AWS services > Amazon "
        f"SageMaker, or `aws service-quotas request-service-quota-increase --service-code sagemaker --quota-code "
        f"{code or '<code>'} --desired-value 1 --region {region}`."
    )


@dataclass
class Decision:
    """One capacity check's outcome: a slot of `instance_type`, or wait `wait_seconds`, or give up."""

    acquired: bool
    instance_type: str | None = None
    reason: str = ""
    wait_seconds: int = 0
    exhausted: bool = False
    quotas: dict[str, Any] = field(default_factory=dict)  # per type: quota name, value, use, runs ahead
    versions: dict[str, int] = field(default_factory=dict)  # ledger versions seen, per instance type
    queued_ahead: int = 0


@dataclass(frozen=True)
class Waiter:
    """A run in the capacity line."""

    holder: str
    run_id: str
    enqueued_at_ms: int
    instance_types: tuple[str, ...]
    instances: int
    task_token: str | None  # set while parked
    woken: bool  # a release (or the run itself) took the token to wake it; cleared when it checks again

    @property
    def place(self) -> tuple[int, str]:
        """Order in line: enqueue time, then holder for runs queued in the same millisecond."""
        return self.enqueued_at_ms, self.holder


def instances_in_use(reservations: Iterable[Mapping[str, Any]], running_jobs: Mapping[str, int]) -> int:
    """Live reservations plus instances of running jobs no reservation accounts for."""
    reservations = list(reservations)
    reserved_jobs = {item["job_name"] for item in reservations}
    return sum(int(item["instances"]) for item in reservations) + sum(
        count for name, count in running_jobs.items() if name not in reserved_jobs)


def fits(*, used: int, ahead: int, instances: int, limit: float) -> bool:
    """Room for `instances` after what is in use and what runs ahead in line want."""
    return used + ahead + instances <= limit


def instances_ahead(line: Iterable[Waiter], *, place: tuple[int, str], instance_type: str) -> int:
    """Instances wanted by runs ahead of `place` in line that also accept `instance_type`."""
    return sum(w.instances for w in line if w.place < place and instance_type in w.instance_types)


def wake_candidates(line: Iterable[Waiter], instance_type: str) -> Iterator[Waiter]:
    """Runs a freed slot of `instance_type` may wake, first in line first: those that accept the
    type and are not already woken (by another release; they are on their way to another slot)."""
    for waiter in sorted(line, key=lambda w: w.place):
        if not waiter.woken and instance_type in waiter.instance_types:
            yield waiter


def waiter_expires_at(now: int, wait_seconds: int) -> int:
    """When a place in line stops counting if its run neither checks again nor leaves."""
    return now + wait_seconds + QUEUE_GRACE_SECONDS


def next_wait_seconds(attempt: int, *, initial: int, maximum: int, rng: random.Random | None = None) -> int:
    """Exponential backoff with +-20% jitter, capped."""
    rng = rng or random.Random()
    base = min(maximum, initial * (2 ** min(attempt, 20)))
    return max(1, min(maximum, int(base * rng.uniform(0.8, 1.2))))


@dataclass(frozen=True, kw_only=True)
class WaitBudget:
    """How long a run may keep waiting, and how far into its backoff it is."""

    region: str
    attempt: int
    waited_seconds: int
    initial: int
    maximum: int
    total: int


def wait_decision(situation: str, budget: WaitBudget, *, quotas: dict[str, Any], hint_type: str,
                  versions: dict[str, int] | None = None, rng: random.Random | None = None,
                  far_back: bool = False) -> Decision:
    """Wait with backoff, or give up when the total wait budget would be exceeded.
    `far_back`: runs ahead of this one get any freed slot first; sleep longer (a wake-up comes first).
    `hint_type`: the instance type (or ACCOUNT_INSTANCES_QUOTA) whose quota the give-up names."""
    wait = next_wait_seconds(budget.attempt, initial=budget.initial, maximum=budget.maximum, rng=rng)
    if far_back:
        longer = budget.maximum * FAR_BACK_WAIT_FACTOR
        far_wait = next_wait_seconds(0, initial=longer, maximum=longer, rng=rng)
        if budget.waited_seconds + far_wait <= budget.total:
            wait = far_wait
    if budget.waited_seconds + wait > budget.total:
        return Decision(False, None, exhausted=True, quotas=quotas, versions=versions or {}, reason=(
            f"Gave up waiting for SageMaker capacity after {budget.waited_seconds} s (limit {budget.total} s): "
            f"{situation}. " + _hint(hint_type, quotas, budget.region)))
    return Decision(False, None, wait_seconds=wait, quotas=quotas, versions=versions or {},
                    reason=f"{situation}; next check in {wait} s, or sooner when a run releases capacity.")


def _hint(key: str, quotas: Mapping[str, Any], region: str) -> str:
    seen = quotas.get(key) or {}
    return increase_hint(seen.get("quota_name") or quota_name(key), region, seen.get("quota_code"))


def no_quota_decision(instance_order: list[str], quotas: dict[str, Any], region: str) -> Decision:
    """Every allowed type has a quota of 0 (or none): waiting cannot help."""
    first = instance_order[0]
    return Decision(False, None, exhausted=True, quotas=quotas, reason=(
        f"No SageMaker training quota for any allowed instance type ({', '.join(instance_order)}): "
        f"the quota '{quota_name(first)}' is 0. " + _hint(first, quotas, region)))


def account_too_small_decision(limit: float, instances: int, quotas: dict[str, Any], region: str) -> Decision:
    """The account-wide instance quota is below what one job needs: waiting cannot help."""
    return Decision(False, None, exhausted=True, quotas=quotas, reason=(
        f"The account-wide quota '{ACCOUNT_INSTANCES_QUOTA}' is {int(limit)}, below the {instances} instance(s) "
        "one judge job needs. " + _hint(ACCOUNT_INSTANCES_QUOTA, quotas, region)))


def account_full_situation(seen: Mapping[str, Any], instances: int) -> str:
    return (f"The account-wide quota '{ACCOUNT_INSTANCES_QUOTA}' = {int(seen['quota'])} is in use "
            f"({seen['in_use']} instances of all types; this run needs {instances})")


def full_situation(seen: Mapping[str, Mapping[str, Any]], instances: int) -> str:
    """Why no slot was reserved: every quota is in use, or free slots are promised to runs ahead."""
    checked = [v for v in seen.values() if v["quota"] and v["quota_name"] != ACCOUNT_INSTANCES_QUOTA]
    details = "; ".join(
        f"'{v['quota_name']}' = {int(v['quota'])}, in use {v['in_use']}"
        + (f", {v['queued_ahead']} wanted by runs ahead in line" if v.get("queued_ahead") else "") for v in checked
    )
    full = all(v["in_use"] is not None and v["in_use"] + instances > v["quota"] for v in checked)
    return (f"All allowed quotas are in use ({details})" if full
            else f"Free slots go to runs that waited longer ({details})")
