"""The run's stages as plain functions over AWS clients. Handlers are thin wrappers around these.

Every function takes what it needs explicitly (clients, names, settings) so that the Lambdas,
the offline harness and the tests call the very same code.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from judgeflow import capacity, layout, recipes, results, runs, staging, validation
from judgeflow.settings import Settings


@dataclass(frozen=True, kw_only=True)
class Resources:
    """Names of the deployed resources (from Lambda environment variables)."""

    datasets_bucket: str
    work_bucket: str
    metrics_bucket: str
    runs_table: str
    capacity_table: str
    topic_arn: str
    judge_role_arn: str


def _stream(s3: Any, bucket: str, key: str):
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    return body.iter_chunks(chunk_size=validation.CHUNK_SIZE), body


def notify(sns: Any, topic_arn: str, *, subject: str, message: Mapping[str, Any]) -> None:
    if topic_arn:
        sns.publish(TopicArn=topic_arn, Subject=subject[:100], Message=json.dumps(message, indent=2, default=str))


# --- validate -----------------------------------------------------------------------------

REQUEST_KEYS = ("bucket", "key", "settings", "source", "event_id")


class RequestError(ValueError):
    """The execution input is malformed; the message shows the expected shape."""


def validate_request(*, s3: Any, settings: Settings, request: Mapping[str, Any]) -> dict[str, Any]:
    """Check the execution input shape (console, CLI or S3 event), then validate the dataset."""
    example = '{"bucket": "<datasets bucket>", "key": "incoming/my-data.jsonl", "settings": {"model_a": "..."}}'
    if not isinstance(request, Mapping):
        raise RequestError(f"execution input must be a JSON object like {example}")
    unknown = sorted(set(request) - set(REQUEST_KEYS))
    missing = [k for k in ("bucket", "key") if not isinstance(request.get(k), str) or not request.get(k)]
    if unknown or missing:
        raise RequestError(
            f"execution input: missing {missing} / unknown keys {unknown}; allowed keys {list(REQUEST_KEYS)}; "
            f"example: {example}")
    if settings_value := request.get("settings"):
        if not isinstance(settings_value, Mapping):
            raise RequestError(f"execution input 'settings' must be an object; example: {example}")
    return validate_dataset(s3=s3, settings=settings, bucket=request["bucket"], key=request["key"],
                            requested_settings=request.get("settings"))


def validate_dataset(*, s3: Any, settings: Settings, bucket: str, key: str,
                     requested_settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate settings and content. Writes a rejection report next to the original when invalid."""
    resolved_key = layout.resolve_object_key(s3, bucket, key)
    head = s3.head_object(Bucket=bucket, Key=resolved_key)
    problems: list[dict[str, Any]] = []
    run_settings = None
    try:
        merged = runs.settings_from_metadata(head.get("Metadata", {}))
        merged.update(requested_settings or {})
        run_settings = runs.resolve_run_settings(merged, settings)
        recipe = recipes.choose_recipe(run_settings.task, run_settings.judge_model)
        recipes.allowed_instance_order(recipe, run_settings.instance_types)
    except (runs.RunSettingsError, recipes.RecipeError) as exc:
        problems.append({"line": None, "field": "settings", "kind": "settings", "message": str(exc),
                         "fix": "correct the S3 object metadata or the execution input 'settings'"})
    task = run_settings.task if run_settings else settings.default_task
    chunks, body = _stream(s3, bucket, resolved_key)
    with body:
        report = validation.validate_stream(
            chunks, source=resolved_key, task=task, token_limit=settings.token_limit,
            max_rows=settings.max_rows, max_findings=settings.max_errors_reported,
        )
    document = report.as_dict()
    document["bucket"] = bucket
    document["settings_errors"] = problems
    valid = report.valid and not problems
    document["valid"] = valid
    dataset = {"bucket": bucket, "key": resolved_key, "sha256": report.content_sha256,
               "records": report.records, "bytes": report.bytes_read,
               "version_id": head.get("VersionId")}
    if valid:
        return {"valid": True, "dataset": dataset, "settings": run_settings.identity() | {"rerun": run_settings.rerun},
                "warnings": document["warnings"][:10], "message": report.summary()}
    report_key = layout.rejection_report_key(resolved_key)
    s3.put_object(Bucket=bucket, Key=report_key, Body=json.dumps(document, indent=2, ensure_ascii=False).encode(),
                  ContentType="application/json")
    first = (problems + document["errors"])[:3]
    details = "; ".join(
        f"line {p['line']} field {p['field'] or '-'}: {p['message']}" if p["line"] else p["message"] for p in first
    )
    total = sum(report.error_counts.values()) + len(problems)
    message = (f"Dataset s3://{bucket}/{resolved_key} rejected: {total} error(s). {details}. "
               f"Full report: s3://{bucket}/{report_key}. The original file is kept unchanged.")
    return {"valid": False, "dataset": dataset, "report_key": report_key, "message": message,
            "error_counts": dict(report.error_counts) | ({"settings": len(problems)} if problems else {})}


# --- registry -----------------------------------------------------------------------------

def register_run(*, registry: runs.RunRegistry, settings: Settings, validation_result: Mapping[str, Any],
                 execution_arn: str, execution_name: str) -> dict[str, Any]:
    run_settings = runs.resolve_run_settings(validation_result["settings"], settings)
    dataset = validation_result["dataset"]
    run_id = runs.derive_run_id(dataset["sha256"], run_settings, rerun_nonce=execution_name)
    existing = registry.register(run_id=run_id, item={
        "execution_arn": execution_arn,
        "dataset_bucket": dataset["bucket"],
        "dataset_key": dataset["key"],
        "dataset_sha256": dataset["sha256"],
        "records": dataset["records"],
        "settings": json.dumps(run_settings.identity(), sort_keys=True),
        "task": run_settings.task,
        "judge_model": run_settings.judge_model,
        "model_a": run_settings.model_a,
        "model_b": run_settings.model_b,
    })
    if existing is None:
        return {"run_id": run_id, "duplicate": False}
    message = (f"Not launched again: this dataset and these settings are run {run_id} "
               f"(status {existing.get('status')}, first seen as s3://{existing.get('dataset_bucket')}/"
               f"{existing.get('dataset_key')}, execution {existing.get('execution_arn')}). "
               "To run it again on purpose, set the setting rerun=true.")
    return {"run_id": run_id, "duplicate": True, "duplicate_of": run_id,
            "original_status": existing.get("status"), "message": message}


def record_rejection(*, registry: runs.RunRegistry, sns: Any, topic_arn: str, validation_result: Mapping[str, Any],
                     execution_arn: str, settings: Settings) -> dict[str, Any]:
    dataset = validation_result["dataset"]
    run_id = "jf-rejected-" + (dataset.get("sha256") or "unknown")[:16]
    existing = registry.register(run_id=run_id, item={
        "execution_arn": execution_arn, "dataset_bucket": dataset["bucket"], "dataset_key": dataset["key"],
        "dataset_sha256": dataset.get("sha256", ""),
    })
    registry.finish(run_id, status=runs.REJECTED, reason=validation_result["message"],
                    report_key=validation_result.get("report_key", ""), execution_arn=execution_arn)
    notify(sns, topic_arn, subject=f"judgeflow: dataset rejected ({dataset['key']})",
           message={"status": runs.REJECTED, "run_id": run_id, "reason": validation_result["message"],
                    "previously_recorded": existing is not None})
    return {"run_id": run_id, "status": runs.REJECTED, "message": validation_result["message"]}


def record_failure(*, registry: runs.RunRegistry, sns: Any, topic_arn: str, run_id: str,
                   error: Mapping[str, Any] | None) -> dict[str, Any]:
    error = error or {}
    cause = error.get("Cause") or ""
    try:  # SageMaker sync failures carry the DescribeTrainingJob JSON as the cause
        described = json.loads(cause)
        if isinstance(described, dict) and described.get("FailureReason"):
            cause = f"training job {described.get('TrainingJobName')} {described.get('TrainingJobStatus')}: " \
                    f"{described['FailureReason']}"
    except ValueError:
        pass
    message = f"Run {run_id} failed: {error.get('Error', 'error')}: {cause}".strip()
    registry.finish(run_id, status=runs.FAILED, reason=message)
    notify(sns, topic_arn, subject=f"judgeflow: run {run_id} failed", message={"run_id": run_id, "reason": message})
    return {"run_id": run_id, "status": runs.FAILED, "message": message}


def store_results_token(*, registry: runs.RunRegistry, sfn: Any, run_id: str, task_token: str) -> dict[str, Any]:
    """Park the execution until results arrive; if they already did, release it at once."""
    item = registry.update(run_id, results_task_token=task_token)
    if item.get("results_done"):
        _complete_token(sfn, task_token, item)
    return {"run_id": run_id, "waiting": not item.get("results_done")}


def _task_gone(sfn: Any) -> tuple[type[Exception], ...]:
    """What SendTask* raises when the waiting task already ended (timed out, stopped, completed)."""
    return sfn.exceptions.TaskTimedOut, sfn.exceptions.InvalidToken, sfn.exceptions.TaskDoesNotExist


def _complete_token(sfn: Any, task_token: str, item: Mapping[str, Any]) -> None:
    try:
        if item.get("status") == runs.FAILED:
            sfn.send_task_failure(taskToken=task_token, error="ResultsFailed", cause=item.get("reason", "")[:32000])
        else:
            sfn.send_task_success(taskToken=task_token, output=item["results_summary"])
    except _task_gone(sfn):
        pass  # the other side already completed it, or the execution ended


# --- stage and plan -------------------------------------------------------------------------

def stage_dataset(*, s3: Any, resources: Resources, run_id: str, dataset: Mapping[str, Any]) -> dict[str, Any]:
    chunks, body = _stream(s3, dataset["bucket"], dataset["key"])
    with body, tempfile.TemporaryFile() as staged, tempfile.TemporaryFile() as sidecar:
        items = staging.stage(chunks, staged, sidecar)
        staged.seek(0)
        sidecar.seek(0)
        input_key = layout.staged_input_prefix(run_id) + staging.STAGED_FILE_NAME
        s3.upload_fileobj(staged, resources.work_bucket, input_key)
        s3.upload_fileobj(sidecar, resources.work_bucket, layout.sidecar_key(run_id))
    return {"items": items, "input_prefix": f"s3://{resources.work_bucket}/{layout.staged_input_prefix(run_id)}",
            "input_key": input_key}


def plan_job(*, s3: Any, settings: Settings, resources: Resources, run_id: str,
             run_settings: Mapping[str, Any]) -> dict[str, Any]:
    resolved = runs.resolve_run_settings(run_settings, settings)
    choice = recipes.choose_recipe(resolved.task, resolved.judge_model)
    order = recipes.allowed_instance_order(choice, resolved.instance_types)
    recipe = recipes.render_recipe(choice, run_name=run_id)
    recipe_file = f"{resolved.task}-{resolved.judge_model}.yaml"
    recipe_key = layout.recipe_prefix(run_id) + recipe_file
    text = recipes.recipe_yaml(recipe)
    s3.put_object(Bucket=resources.work_bucket, Key=recipe_key, Body=text.encode(), ContentType="application/x-yaml")
    request = recipes.build_create_training_job_request(
        job_name=runs.training_job_name(run_id),
        recipe=recipe,
        recipe_file_name=recipe_file,
        image_uri=settings.nova_image,
        role_arn=resources.judge_role_arn,
        dataset_s3_prefix=f"s3://{resources.work_bucket}/{layout.staged_input_prefix(run_id)}",
        recipe_s3_prefix=f"s3://{resources.work_bucket}/{layout.recipe_prefix(run_id)}",
        output_s3_path=f"s3://{resources.work_bucket}/{layout.output_prefix(run_id)}",
        instance_type=order[0],
        max_runtime_seconds=settings.max_runtime_seconds,
    )
    return {"recipe_key": recipe_key, "instance_order": order, "instances": int(recipe["run"]["replicas"]),
            "request": request}


# --- capacity -------------------------------------------------------------------------------

def acquire_capacity(*, ledger: capacity.CapacityLedger, quotas_client: Any, sagemaker: Any, settings: Settings,
                     registry: runs.RunRegistry, run_id: str, execution_arn: str, plan: Mapping[str, Any],
                     previous: Mapping[str, Any] | None, sfn: Any = None) -> dict[str, Any]:
    """One capacity check: reserve a slot, or say why and how long to wait (and keep the place in line).

    `previous` is the last check's output, plus what happened since: `woken` (a release woke this
    run), `timed_out` (the wait ran out) or `refused` (CreateTrainingJob said ResourceLimitExceeded).
    """
    previous = previous or {}
    now = time.time()
    attempt = int(previous.get("attempt", -1)) + 1
    planned_wait = int(previous.get("wait_seconds", 0))
    if previous.get("woken") and previous.get("checked_epoch"):
        planned_wait = min(planned_wait, max(0, int(now) - int(previous["checked_epoch"])))
    waited = int(previous.get("waited_seconds", 0)) + planned_wait
    launches = int(previous.get("launches", 0))
    queued_at_ms = int(previous.get("queued_at_ms") or now * 1000)
    job_name = runs.training_job_name(run_id, launches)
    # A CapacityError (no instances in the zone) makes the run avoid that type while others remain.
    avoid = list(previous.get("avoid", [])) + ([previous["unavailable_type"]] if previous.get("unavailable_type") else [])
    order = [t for t in plan["instance_order"] if t not in avoid]
    wait_settings = dict(region=settings.region, attempt=attempt, waited_seconds=waited,
                         wait_initial=settings.capacity_wait_initial_seconds,
                         wait_max=settings.capacity_wait_max_seconds, wait_total=settings.capacity_wait_total_seconds)
    decision = None
    if refused := previous.get("refused"):
        # Our count said there was room, SageMaker said no (a job we cannot see, a stale quota):
        # back off before trying again, without holding a slot.
        capacity.clear_quota_cache()
        decision = capacity.wait_decision(
            f"CreateTrainingJob refused the launch: {refused.get('Cause') or refused.get('Error')}",
            quotas=previous.get("quotas", {}), hint_type=previous.get("instance_type") or plan["instance_order"][0],
            versions=ledger.versions(plan["instance_order"]), **wait_settings)
    elif order:
        decision = capacity.acquire(
            ledger=ledger, quotas_client=quotas_client, sagemaker_client=sagemaker,
            instance_order=order, holder=execution_arn, run_id=run_id, job_name=job_name,
            instances=int(plan["instances"]), ttl_seconds=settings.reservation_ttl_seconds,
            queued_at_ms=queued_at_ms, now=int(now),
            # Back here after a reservation: the job failed; re-read the quota.
            fresh_quotas=bool(previous.get("acquired")), **wait_settings,
        )
    if not refused and (not order or (avoid and not decision.acquired)):
        # The types left have no free quota: wait, then try them all again (CapacityError passes).
        situation = (f"No instance capacity in the zone for {', '.join(avoid)} (CapacityError) and no free "
                     "quota for the other allowed types")
        avoid = []
        decision = capacity.wait_decision(
            situation, quotas=decision.quotas if decision else {}, hint_type=plan["instance_order"][0],
            versions=decision.versions if decision else ledger.versions(plan["instance_order"]), **wait_settings)
    out = {**decision.as_dict(), "attempt": attempt, "waited_seconds": waited, "launches": launches, "avoid": avoid,
           "checked_at": datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="seconds"),
           "checked_epoch": int(now)}
    if decision.acquired:
        out["request"] = recipes.with_instance_type(plan["request"], decision.instance_type, job_name)
        out["launches"] = launches + 1
        out["queued_at_ms"] = queued_at_ms  # kept: after a refusal or a failed launch the run keeps its place
        registry.update(run_id, instance_type=decision.instance_type, job_name=job_name)
        if previous.get("next_check_at") and sfn is not None:
            # This run left the line: the run now first in line takes over re-checking on the backoff.
            wake_waiters(ledger=ledger, sfn=sfn, freed={decision.instance_type: int(plan["instances"])})
        return out
    registry.update(run_id, waiting_reason=decision.reason)
    if decision.exhausted:
        ledger.leave_queue(execution_arn)
        return out
    out["queued_at_ms"] = queued_at_ms
    out["next_check_at"] = datetime.fromtimestamp(now + decision.wait_seconds, timezone.utc).isoformat(
        timespec="seconds")
    ledger.join_queue(holder=execution_arn, run_id=run_id, instance_types=order or plan["instance_order"],
                      instances=int(plan["instances"]), enqueued_at_ms=queued_at_ms,
                      expires_at=capacity.waiter_expires_at(int(now), decision.wait_seconds))
    return out


def park_waiter(*, ledger: capacity.CapacityLedger, sfn: Any, run_id: str, execution_arn: str, task_token: str,
                state: Mapping[str, Any]) -> dict[str, Any]:
    """Park a waiting execution (its check put it in line) with its task token; a release wakes it
    (`wake_waiters`).

    Wake at once instead of sleeping through it if the ledger changed since the check that decided
    to wait (a release may have come in between and found no token to wake), or if the run has no
    place in line any more (its next check puts it back, unless its execution has ended).
    """
    now = int(time.time())
    if not ledger.park(holder=execution_arn, task_token=task_token,
                       expires_at=capacity.waiter_expires_at(now, int(state.get("wait_seconds", 0)))):
        _wake(sfn, task_token, {"woken_by": "no place in line when parking", "at": now})
        return {"run_id": run_id, "parked": False}
    seen = {t: int(v) for t, v in (state.get("versions") or {}).items()}
    changed = ledger.versions(seen) != seen if seen else False
    if changed and ledger.take_token(holder=execution_arn, task_token=task_token):
        _wake(sfn, task_token, {"woken_by": "capacity changed while this run was parking", "at": now})
    return {"run_id": run_id, "parked": not changed}


def _wake(sfn: Any, task_token: str, output: Mapping[str, Any]) -> bool:
    try:
        sfn.send_task_success(taskToken=task_token, output=json.dumps(output))
        return True
    except _task_gone(sfn):
        return False  # its wait already ran out: it is checking again by itself


def wake_waiters(*, ledger: capacity.CapacityLedger, sfn: Any, freed: Mapping[str, int]) -> list[str]:
    """Wake the first runs in line that accept each freed type, as many as instances were freed."""
    now = int(time.time())
    woken: list[str] = []
    chosen: set[str] = set()
    for instance_type, count in freed.items():
        for waiter in ledger.line(now):
            if count <= 0:
                break
            if waiter.holder in chosen or waiter.woken or instance_type not in waiter.instance_types:
                continue  # woken already (by another release): it is on its way to another slot
            if waiter.task_token:
                if not ledger.take_token(holder=waiter.holder, task_token=waiter.task_token):
                    continue  # another release claimed it a moment ago
                if _wake(sfn, waiter.task_token, {"woken_by": f"capacity of {instance_type} changed", "at": now}):
                    woken.append(waiter.run_id)
                # else its wait had just run out: it is checking again by itself
            # Without a token it is between its check and parking: parking sees the new version and wakes it.
            chosen.add(waiter.holder)
            count -= waiter.instances
    return woken


def release_capacity(*, ledger: capacity.CapacityLedger, sfn: Any, execution_arn: str,
                     instance_types: list[str]) -> dict[str, Any]:
    """Give back this execution's slot and queue place, then wake the runs first in line for it."""
    released = ledger.release(holder=execution_arn, instance_types=instance_types)
    woken = wake_waiters(ledger=ledger, sfn=sfn, freed=released) if released else []
    return {"released": sorted(released), "woken": woken}


# --- results --------------------------------------------------------------------------------

def process_results(*, s3: Any, sfn: Any, sns: Any, registry: runs.RunRegistry, resources: Resources,
                    bucket: str, key: str) -> dict[str, Any]:
    run_id = layout.run_id_from_output_key(key)
    if run_id is None:
        raise ValueError(f"s3://{bucket}/{key} is not a judge output archive (runs/<run_id>/output/.../output.tar.gz)")
    item = registry.get(run_id) or {}
    archive = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    try:
        sidecar = s3.get_object(Bucket=resources.work_bucket, Key=layout.sidecar_key(run_id))["Body"].read()
    except s3.exceptions.NoSuchKey:
        sidecar = None
    context = results.RunContext(
        run_id=run_id, dataset_sha256=item.get("dataset_sha256", ""), dataset_key=item.get("dataset_key", ""),
        task=item.get("task", "llm_judge"), judge_model=item.get("judge_model", ""),
        model_a=item.get("model_a", "model_a"), model_b=item.get("model_b", "model_b"),
        instance_type=item.get("instance_type", ""), job_name=key.split("/")[3],
        created_at=int(item.get("created_at", 0)),
    )
    now = datetime.now(timezone.utc)
    try:
        bundle = results.build_results(archive, context=context, sidecar=sidecar,
                                       finished_at=int(now.timestamp()), date=now.strftime("%Y-%m-%d"))
    except Exception as exc:  # corrupt archive, missing summary: recorded, never silent
        reason = f"Results of run {run_id} could not be read from s3://{bucket}/{key}: {exc}"
        updated = registry.finish(run_id, status=runs.FAILED, reason=reason, results_done=True)
        notify(sns, resources.topic_arn, subject=f"judgeflow: run {run_id} results failed",
               message={"run_id": run_id, "reason": reason})
        if updated.get("results_task_token"):
            _complete_token(sfn, updated["results_task_token"], updated)
        return {"run_id": run_id, "status": runs.FAILED, "reason": reason}
    locations = {}
    for relative, data in bundle.files.items():
        s3.put_object(Bucket=resources.metrics_bucket, Key=relative, Body=data)
        locations[relative.rsplit("/", 1)[-1] if relative.startswith(layout.REPORTS_PREFIX) else relative.split("/")[1]] = \
            f"s3://{resources.metrics_bucket}/{relative}"
    stats = bundle.summary["judgeflow_statistics"]
    output = {
        "run_id": run_id,
        "status": bundle.status,
        "produced_by": bundle.summary["produced_by"],
        "verdict": stats["verdict"],
        "verdict_reason": stats["verdict_reason"],
        "counts": {"a": stats["a_wins"], "b": stats["b_wins"], "ties": stats["ties"], "errors": stats["errors"]},
        "service_metrics": {k: bundle.summary["service_metrics"].get(k) for k in ("winrate", "lower_rate", "upper_rate")},
        "judgeflow_b_share": stats["b_share_decisive"],
        "judgeflow_wilson_95": [stats["wilson_low"], stats["wilson_high"]],
        "locations": locations,
    }
    final_status = runs.SUCCEEDED if bundle.status == "SUCCEEDED" else runs.UNRELIABLE
    updated = registry.finish(run_id, status=final_status, reason=stats["verdict_reason"],
                              results_summary=json.dumps(output, default=str), verdict=stats["verdict"],
                              results_done=True)
    notify(sns, resources.topic_arn, subject=f"judgeflow: run {run_id} {stats['verdict']}", message=output)
    if updated.get("results_task_token"):
        _complete_token(sfn, updated["results_task_token"], updated)
    return output
