"""Register stage: the run's record. A run is registered once (its id derives from the content
and the settings), rejections and failures are recorded with their reason and notified, and the
execution waits here until the results stage reports."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any, Mapping

from judgeflow import runs
from judgeflow.adapters import tasks
from judgeflow.adapters.notifications import notify
from judgeflow.adapters.registry import RunRegistry
from judgeflow.settings import Settings


def register_run(*, registry: RunRegistry, settings: Settings, validation_result: Mapping[str, Any],
                 execution_arn: str, execution_name: str) -> dict[str, Any]:
    run_settings = runs.resolve_run_settings(validation_result["settings"], settings)
    dataset = validation_result["dataset"]
    upload = validation_result.get("upload") or f"execution:{execution_name}"
    # A re-run is new once per upload: an event delivered twice carries the same upload.
    run_id = runs.derive_run_id(dataset["sha256"], run_settings, rerun_nonce=upload)
    existing = registry.register(run_id=run_id, item={
        "execution_arn": execution_arn,
        "dataset_bucket": dataset["bucket"],
        "dataset_key": dataset["key"],
        "dataset_version_id": dataset.get("version_id") or "",
        "dataset_sha256": dataset["sha256"],
        "upload": upload,
        "records": dataset["records"],
        "settings": json.dumps(run_settings.identity(), sort_keys=True),
        "task": run_settings.task,
        "judge_model": run_settings.judge_model,
        "model_a": run_settings.model_a,
        "model_b": run_settings.model_b,
    })
    if existing is None or existing.get("execution_arn") == execution_arn:
        # Ours, or ours already: Step Functions retried this step after its reply was lost.
        return {"run_id": run_id, "duplicate": False}
    again = ("Upload the file again with rerun=true to run it once more" if run_settings.rerun
             else "To run it again on purpose, set the setting rerun=true")
    message = (f"Not launched again: this dataset and these settings are run {run_id} "
               f"(status {existing.get('status')}, first seen as s3://{existing.get('dataset_bucket')}/"
               f"{existing.get('dataset_key')}, execution {existing.get('execution_arn')}). {again}.")
    return {"run_id": run_id, "duplicate": True, "duplicate_of": run_id,
            "original_status": existing.get("status"), "message": message}


def rejected_run_id(upload: str) -> str:
    """One record per rejected upload (or per rejected execution input): two uploads of the same
    bad file are two records, an event delivered twice is one."""
    return "jf-rejected-" + hashlib.sha256(upload.encode("utf-8")).hexdigest()[:20]


def record_rejection(*, registry: RunRegistry, sns: Any, topic_arn: str, validation_result: Mapping[str, Any],
                     execution_arn: str) -> dict[str, Any]:
    dataset = validation_result["dataset"]
    upload = validation_result.get("upload") or f"execution:{execution_arn}"
    run_id = rejected_run_id(upload)
    message = validation_result["message"]
    existing = registry.register(run_id=run_id, item={
        "status": runs.REJECTED, "reason": message, "finished_at": int(time.time()), "upload": upload,
        "execution_arn": execution_arn, "dataset_bucket": dataset.get("bucket") or "",
        "dataset_key": dataset.get("key") or "", "dataset_version_id": dataset.get("version_id") or "",
        "dataset_sha256": dataset.get("sha256") or "", "report_key": validation_result.get("report_key", ""),
        "report_version_id": validation_result.get("report_version_id") or "",
    })
    if existing is None:
        subject = f"judgeflow: dataset rejected ({dataset.get('key') or 'execution input'})"
        notify(sns, topic_arn, subject=subject, message={"status": runs.REJECTED, "run_id": run_id, "reason": message})
    # else: this upload's rejection is recorded and notified already (a second delivery of its event)
    return {"run_id": run_id, "status": runs.REJECTED, "message": message, "previously_recorded": existing is not None}


def failure_message(run_id: str, error: Mapping[str, Any] | None) -> str:
    """The reason a run failed, from the error a state caught; a SageMaker job's failure reason is
    read out of the job description it carries."""
    error = error or {}
    cause = error.get("Cause") or ""
    try:
        described = json.loads(cause)
        if isinstance(described, dict) and described.get("FailureReason"):
            cause = (f"training job {described.get('TrainingJobName')} {described.get('TrainingJobStatus')}: "
                     f"{described['FailureReason']}")
    except ValueError:
        pass
    return f"Run {run_id} failed: {error.get('Error', 'error')}: {cause}".strip()


def record_failure(*, registry: RunRegistry, sns: Any, topic_arn: str, run_id: str,
                   error: Mapping[str, Any] | None) -> dict[str, Any]:
    message = failure_message(run_id, error)
    if registry.finish(run_id, status=runs.FAILED, reason=message) is None:
        # Already ended, and told, by the stage that saw it first (the results stage, a retried step).
        item = registry.get(run_id) or {}
        return {"run_id": run_id, "status": item.get("status", runs.FAILED), "message": item.get("reason") or message}
    notify(sns, topic_arn, subject=f"judgeflow: run {run_id} failed", message={"run_id": run_id, "reason": message})
    return {"run_id": run_id, "status": runs.FAILED, "message": message}


def store_results_token(*, registry: RunRegistry, sfn: Any, run_id: str, task_token: str) -> dict[str, Any]:
    """Park the execution until results arrive; if they already did, release it at once."""
    item = registry.update(run_id, results_task_token=task_token)
    if item.get("results_done"):
        tasks.complete_results_wait(sfn, task_token, item)
    return {"run_id": run_id, "waiting": not item.get("results_done")}
