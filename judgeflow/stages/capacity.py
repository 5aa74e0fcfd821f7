"""Capacity stage: reserve a quota slot or say how long to wait, wait in line, release on every path.

The decisions are judgeflow.capacity_policy's; this module reads the values they need (quotas,
running jobs, the ledger) and writes what they decide.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, Mapping

from judgeflow import capacity_policy as policy
from judgeflow import runs
from judgeflow.adapters import quotas as quota_reads
from judgeflow.adapters import tasks
from judgeflow.adapters.ledger import CapacityLedger
from judgeflow.adapters.registry import RunRegistry
from judgeflow.settings import Settings

# Write conflicts on the type's version item before a check gives up on that type for now.
RESERVE_ATTEMPTS = 5


@dataclass(kw_only=True)
class CapacityState:
    """`$.capacity` of an execution: the last check's outcome, plus what happened since (set by the
    state machine): `woken` (a release woke the run), `timed_out` (its wait ran out), `refused`
    (CreateTrainingJob answered ResourceLimitExceeded), `unavailable_type` (the job failed with
    CapacityError on that type)."""

    acquired: bool = False
    instance_type: str | None = None
    reason: str = ""
    wait_seconds: int = 0
    exhausted: bool = False
    quotas: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    queued_ahead: int = 0
    attempt: int = -1
    waited_seconds: int = 0
    launches: int = 0
    avoid: list[str] = field(default_factory=list)
    checked_at: str | None = None
    checked_epoch: int | None = None
    queued_at_ms: int | None = None
    next_check_at: str | None = None
    request: dict[str, Any] | None = None
    woken: dict[str, Any] | None = None
    timed_out: dict[str, Any] | None = None
    refused: dict[str, Any] | None = None
    unavailable_type: str | None = None

    @classmethod
    def from_event(cls, value: Mapping[str, Any] | None) -> "CapacityState":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (value or {}).items() if k in known})

    def to_event(self) -> dict[str, Any]:
        """What the state machine keeps: unset fields are left out (JSONPath tests for presence)."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True, kw_only=True)
class Plan:
    """What the plan stage decided: instance types in preference order, instances per job, and the
    CreateTrainingJob request (its instance type and name are set when a slot is reserved)."""

    instance_order: list[str]
    instances: int
    request: dict[str, Any]

    @classmethod
    def from_event(cls, value: Mapping[str, Any]) -> "Plan":
        return cls(instance_order=list(value["instance_order"]), instances=int(value["instances"]),
                   request=dict(value["request"]))


def request_for(request: Mapping[str, Any], instance_type: str, job_name: str) -> dict[str, Any]:
    """The planned CreateTrainingJob request for the slot reserved."""
    updated = copy.deepcopy(dict(request))
    updated["ResourceConfig"]["InstanceType"] = instance_type
    updated["TrainingJobName"] = job_name
    return updated


def reserve_first_free(*, ledger: CapacityLedger, quotas_client: Any, sagemaker_client: Any, instance_order: list[str],
                       holder: str, run_id: str, job_name: str, instances: int, ttl_seconds: int,
                       budget: policy.WaitBudget, now: int, queued_at_ms: int, rng: Any = None,
                       fresh_quotas: bool = False) -> policy.Decision:
    """Reserve a slot of the first allowed type that has one free for this run, or decide how long
    to wait. `queued_at_ms`: the run's place in line (its first wait; now on a first check)."""
    names = {t: policy.quota_name(t) for t in instance_order}
    values = quota_reads.read_quota_values(quotas_client, [*names.values(), policy.ACCOUNT_INSTANCES_QUOTA],
                                           fresh=fresh_quotas)
    quotas = {t: values[name] for t, name in names.items()}
    usage = quota_reads.in_progress_usage(sagemaker_client, instance_order)
    place = (queued_at_ms, holder)
    seen: dict[str, Any] = {}
    versions: dict[str, int] = {}
    account_limit = values[policy.ACCOUNT_INSTANCES_QUOTA]
    # Ledger snapshots read for the account-wide count serve as each type's first reservation attempt.
    snapshots: dict[str, Any] = {}
    if account_limit is not None:
        # Every type counts here: this run's (reservations and jobs) and any other running.
        snapshots = {t: ledger.snapshot(t, now) for t in instance_order}
        in_use = sum(policy.instances_in_use(snapshots[t].live, usage[t]) for t in instance_order) + sum(
            count for t, jobs in usage.items() if t not in names for count in jobs.values())
        account = {"quota_name": policy.ACCOUNT_INSTANCES_QUOTA, "quota": account_limit, "in_use": in_use,
                   "quota_code": quota_reads.code_of(quotas_client, policy.ACCOUNT_INSTANCES_QUOTA)}
        seen[policy.ACCOUNT_INSTANCES_QUOTA] = account
        # A run that already holds a slot (a retried check) is within the quota by its own count.
        holds = any(item["holder"] == holder for snapshot in snapshots.values() for item in snapshot.live)
        if not holds and account_limit < instances:
            return policy.account_too_small_decision(account_limit, instances, seen, budget.region)
        if not holds and in_use + instances > account_limit:
            # Another type's launch racing this check can still overshoot: CreateTrainingJob then
            # refuses it and that run backs off (the refused path).
            return policy.wait_decision(policy.account_full_situation(account, instances), budget, quotas=seen,
                                        hint_type=policy.ACCOUNT_INSTANCES_QUOTA,
                                        versions={t: snap.version for t, snap in snapshots.items()}, rng=rng)
    ahead_of_us = 0
    near_front = False  # first in line for some type: worth re-checking on the backoff
    for instance_type in instance_order:
        limit = quotas.get(instance_type)
        code = quota_reads.code_of(quotas_client, names[instance_type])
        if not limit:
            seen[instance_type] = {"quota_name": policy.quota_name(instance_type), "quota": limit or 0, "in_use": None,
                                   "quota_code": code}
            continue
        ahead = policy.instances_ahead(
            ledger.waiters_up_to(queued_at_ms=queued_at_ms, instance_type=instance_type, now=now),
            place=place, instance_type=instance_type)
        ahead_of_us = max(ahead_of_us, ahead)
        near_front = near_front or ahead == 0
        for _conflict in range(RESERVE_ATTEMPTS):
            snapshot = snapshots.pop(instance_type, None) or ledger.snapshot(instance_type, now)
            versions[instance_type] = snapshot.version
            used = policy.instances_in_use(snapshot.live, usage[instance_type])
            seen[instance_type] = {"quota_name": policy.quota_name(instance_type), "quota": limit, "in_use": used,
                                   "queued_ahead": ahead, "quota_code": code}
            held = any(item["holder"] == holder for item in snapshot.live)
            if not held and not policy.fits(used=used, ahead=ahead, instances=instances, limit=limit):
                break  # full (or promised to runs ahead in line), not a write conflict
            if held or ledger.reserve(instance_type=instance_type, seen_version=snapshot.version, holder=holder,
                                      run_id=run_id, job_name=job_name, instances=instances,
                                      ttl_seconds=ttl_seconds, now=now):
                in_use = used if held else used + instances
                return policy.Decision(True, instance_type,
                                       f"reserved {instances} x {instance_type} ({in_use}/{int(limit)} in use)",
                                       quotas=seen, versions=versions)
    if all(not quotas.get(t) for t in instance_order):
        return policy.no_quota_decision(instance_order, seen, budget.region)
    decision = policy.wait_decision(policy.full_situation(seen, instances), budget, quotas=seen,
                                    hint_type=next(t for t in instance_order if quotas.get(t)), versions=versions,
                                    rng=rng, far_back=not near_front)
    decision.queued_ahead = ahead_of_us
    return decision


def acquire_capacity(*, ledger: CapacityLedger, quotas_client: Any, sagemaker: Any, settings: Settings,
                     registry: RunRegistry, run_id: str, execution_arn: str, plan: Plan,
                     previous: CapacityState, sfn: Any = None) -> CapacityState:
    """One capacity check: reserve a slot, or say why and how long to wait (and keep the place in line)."""
    now = time.time()
    attempt = previous.attempt + 1
    planned_wait = previous.wait_seconds
    if previous.woken and previous.checked_epoch:
        planned_wait = min(planned_wait, max(0, int(now) - previous.checked_epoch))
    waited = previous.waited_seconds + planned_wait
    launches = previous.launches
    queued_at_ms = previous.queued_at_ms or int(now * 1000)
    job_name = runs.training_job_name(run_id, launches)
    # A CapacityError (no instances in the zone) makes the run avoid that type while others remain.
    avoid = previous.avoid + ([previous.unavailable_type] if previous.unavailable_type else [])
    order = [t for t in plan.instance_order if t not in avoid]
    budget = policy.WaitBudget(region=settings.region, attempt=attempt, waited_seconds=waited,
                               initial=settings.capacity_wait_initial_seconds,
                               maximum=settings.capacity_wait_max_seconds, total=settings.capacity_wait_total_seconds)
    decision = None
    if previous.refused:
        # Our count said there was room, SageMaker said no (a job we cannot see, a stale quota):
        # back off before trying again, without holding a slot.
        quota_reads.clear_quota_cache()
        decision = policy.wait_decision(
            f"CreateTrainingJob refused the launch: {previous.refused.get('Cause') or previous.refused.get('Error')}",
            budget, quotas=previous.quotas, hint_type=previous.instance_type or plan.instance_order[0],
            versions=ledger.versions(plan.instance_order))
    elif order:
        decision = reserve_first_free(
            ledger=ledger, quotas_client=quotas_client, sagemaker_client=sagemaker, instance_order=order,
            holder=execution_arn, run_id=run_id, job_name=job_name, instances=plan.instances,
            ttl_seconds=settings.reservation_ttl_seconds, budget=budget, now=int(now), queued_at_ms=queued_at_ms,
            # Back here after a reservation: the job failed; re-read the quota.
            fresh_quotas=previous.acquired)
    if not previous.refused and (not order or (avoid and not decision.acquired)):
        # The types left have no free quota: wait, then try them all again (CapacityError passes).
        situation = (f"No instance capacity in the zone for {', '.join(avoid)} (CapacityError) and no free "
                     "quota for the other allowed types")
        avoid = []
        decision = policy.wait_decision(
            situation, budget, quotas=decision.quotas if decision else {}, hint_type=plan.instance_order[0],
            versions=decision.versions if decision else ledger.versions(plan.instance_order))
    state = CapacityState(
        acquired=decision.acquired, instance_type=decision.instance_type, reason=decision.reason,
        wait_seconds=decision.wait_seconds, exhausted=decision.exhausted, quotas=decision.quotas,
        versions=decision.versions, queued_ahead=decision.queued_ahead, attempt=attempt, waited_seconds=waited,
        launches=launches, avoid=avoid, checked_epoch=int(now),
        checked_at=datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="seconds"))
    if decision.acquired:
        state.request = request_for(plan.request, decision.instance_type, job_name)
        state.launches = launches + 1
        state.queued_at_ms = queued_at_ms  # kept: after a refusal or a failed launch the run keeps its place
        registry.update(run_id, instance_type=decision.instance_type, job_name=job_name)
        if previous.next_check_at and sfn is not None:
            # This run left the line: the run now first in line takes over re-checking on the backoff.
            wake_waiters(ledger=ledger, sfn=sfn, freed={decision.instance_type: plan.instances})
        return state
    if not decision.exhausted:
        state.next_check_at = datetime.fromtimestamp(now + decision.wait_seconds, timezone.utc).isoformat(
            timespec="seconds")
    # What `judgeflow show` tells of a waiting run: each quota, its value and use, the runs ahead in
    # line and the next check (JSON: the registry takes no floats, and quota values can be).
    registry.update(run_id, waiting_reason=decision.reason, waiting_json=json.dumps(
        {"quotas": decision.quotas, "queued_ahead": decision.queued_ahead, "checked_at": state.checked_at,
         "next_check_at": state.next_check_at}, default=str))
    if decision.exhausted:
        ledger.leave_queue(execution_arn)
        return state
    state.queued_at_ms = queued_at_ms
    ledger.join_queue(holder=execution_arn, run_id=run_id, instance_types=order or plan.instance_order,
                      instances=plan.instances, enqueued_at_ms=queued_at_ms,
                      expires_at=policy.waiter_expires_at(int(now), decision.wait_seconds))
    return state


def park_waiter(*, ledger: CapacityLedger, sfn: Any, run_id: str, execution_arn: str, task_token: str,
                state: CapacityState) -> dict[str, Any]:
    """Park a waiting execution (its check put it in line) with its task token; a release wakes it
    (`wake_waiters`).

    Wake at once instead of sleeping through it if the ledger changed since the check that decided
    to wait (a release may have come in between and found no token to wake), or if the run has no
    place in line any more (its next check puts it back, unless its execution has ended).
    """
    now = int(time.time())
    if not ledger.park(holder=execution_arn, task_token=task_token,
                       expires_at=policy.waiter_expires_at(now, state.wait_seconds)):
        tasks.succeed(sfn, task_token, {"woken_by": "no place in line when parking", "at": now})
        return {"run_id": run_id, "parked": False}
    seen = {t: int(v) for t, v in state.versions.items()}
    changed = ledger.versions(seen) != seen if seen else False
    if changed and ledger.take_token(holder=execution_arn, task_token=task_token):
        tasks.succeed(sfn, task_token, {"woken_by": "capacity changed while this run was parking", "at": now})
    return {"run_id": run_id, "parked": not changed}


def wake_waiters(*, ledger: CapacityLedger, sfn: Any, freed: Mapping[str, int]) -> list[str]:
    """Wake the first runs in line that accept each freed type, as many as instances were freed."""
    now = int(time.time())
    woken: list[str] = []
    chosen: set[str] = set()
    for instance_type, count in freed.items():
        for waiter in policy.wake_candidates(ledger.line(now), instance_type):
            if count <= 0:
                break
            if waiter.holder in chosen:
                continue
            if waiter.task_token:
                if not ledger.take_token(holder=waiter.holder, task_token=waiter.task_token):
                    continue  # another release claimed it a moment ago
                if tasks.succeed(sfn, waiter.task_token, {"woken_by": f"capacity of {instance_type} changed", "at": now}):
                    woken.append(waiter.run_id)
                # else its wait had just run out: it is checking again by itself
            # Without a token it is between its check and parking: parking sees the new version and wakes it.
            chosen.add(waiter.holder)
            count -= waiter.instances
    return woken


def release_capacity(*, ledger: CapacityLedger, sfn: Any, execution_arn: str,
                     instance_types: list[str]) -> dict[str, Any]:
    """Give back this execution's slot and queue place, then wake the runs first in line for it."""
    released = ledger.release(holder=execution_arn, instance_types=instance_types)
    woken = wake_waiters(ledger=ledger, sfn=sfn, freed=released) if released else []
    return {"released": sorted(released), "woken": woken}


def release_ended_execution(*, ledger: CapacityLedger, sfn: Any, registry: RunRegistry, settings: Settings,
                            execution_arn: str, status: str, cause: str | None) -> dict[str, Any]:
    """An execution ended without its own release (ABORTED, TIMED_OUT, FAILED before a catch ran):
    release what it held and record the run, if it was still running."""
    item = registry.find_by_execution(execution_arn)
    instance_types = list(settings.instance_preferences)
    if item and item.get("instance_type") and item["instance_type"] not in instance_types:
        instance_types.append(item["instance_type"])
    result = release_capacity(ledger=ledger, sfn=sfn, execution_arn=execution_arn, instance_types=instance_types)
    if item and item.get("status") == runs.RUNNING:
        registry.finish(item["run_id"], status=runs.ABORTED if status == "ABORTED" else runs.FAILED,
                        reason=f"execution {status.lower()}: {cause or 'stopped'}")
        result["run_id"] = item["run_id"]
    return result
