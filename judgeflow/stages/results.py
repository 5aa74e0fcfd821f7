"""Results stage: a judge job's output.tar.gz -> the metrics lake (runs and items Parquet), our
statistics beside the service's, the report, the registry and the waiting execution's output.

`build_results` is pure over bytes; the results Lambda (`process_results`) and
`judgeflow ingest-results` both call it and differ only in where they write the files it returns.
"""

from __future__ import annotations

import dataclasses
import io
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, BinaryIO, Mapping

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import BotoCoreError, ClientError

from judgeflow import items, lake, layout, nova_output, report, runs, stats
from judgeflow.adapters import s3 as objects
from judgeflow.adapters import tasks
from judgeflow.adapters.notifications import notify
from judgeflow.adapters.registry import RESULTS_APPLIED, RESULTS_APPLYING, RunRegistry
from judgeflow.environment import Resources

RUNS_SCHEMA = items.arrow_schema(lake.RUNS_COLUMNS)
ITEMS_SCHEMA = items.ITEMS_SCHEMA


@dataclass(frozen=True, kw_only=True)
class RunContext:
    """What the registry knows about the run, joined into the runs row."""

    run_id: str
    dataset_sha256: str = ""
    dataset_key: str = ""
    task: str = "llm_judge"
    judge_model: str = ""
    model_a: str = "model_a"
    model_b: str = "model_b"
    instance_type: str = ""
    job_name: str = ""
    produced_by: str = "sagemaker"
    created_at: int = 0
    records: int | None = None  # lines staged for the judge (the validated records), when known


@dataclass
class ResultBundle:
    summary: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)  # relative path -> content
    status: str = runs.SUCCEEDED


def _int(summary: Mapping[str, Any], key: str) -> int:
    value = summary.get(key)
    return int(round(float(value))) if value is not None else 0


def per_category(table: pa.Table) -> list[dict[str, Any]]:
    out = []
    for name, counts in sorted(items.preference_counts(table, by="category").items(), key=lambda kv: str(kv[0])):
        if name is None:
            continue
        s = stats.pairwise_stats(counts["A"], counts["B"], counts["tie"], counts["error"])
        out.append({"category": name, **counts, "b_share": s.b_share_decisive,
                    "wilson_low": s.wilson_low, "wilson_high": s.wilson_high})
    return out


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)  # snappy, pyarrow's default: what Athena and most readers expect
    return sink.getvalue()


def judgeflow_statistics(output: nova_output.JudgeOutput, table: pa.Table) -> stats.PairwiseStats:
    """Our statistics and the unit they count: items, each once, from the details when every
    details file was read; else the service's counts, which count judgments (SERVICE_COUNT_UNIT)."""
    if output.details is not None and output.details.complete:
        counts = items.preference_counts(table).get(None, {"A": 0, "B": 0, "tie": 0, "error": 0})
        return stats.pairwise_stats(counts["A"], counts["B"], counts["tie"], counts["error"])
    service = output.summary
    return stats.pairwise_stats(_int(service, "a_scores"), _int(service, "b_scores"), _int(service, "ties"),
                                _int(service, "inference_error"), unit=nova_output.SERVICE_COUNT_UNIT)


def build_results(archive: bytes | BinaryIO, *, context: RunContext, sidecar: bytes | None = None,
                  finished_at: int, date: str,
                  limits: nova_output.ArchiveLimits = nova_output.ArchiveLimits()) -> ResultBundle:
    files = nova_output.read_archive(archive, limits=limits)
    output = nova_output.parse_output(files, task=context.task)
    if output.produced_by != context.produced_by:
        context = dataclasses.replace(context, produced_by=output.produced_by)
    service = output.summary
    table = items.items_table(context.run_id, output.details, sidecar, task=context.task)
    ours = judgeflow_statistics(output, table)
    staged = context.records if context.records is not None else items.sidecar_rows(sidecar)
    warnings = output.warnings + nova_output.count_mismatches(
        service, task=context.task, details_items=table.num_rows if output.details is not None else None,
        input_items=staged)
    agreement = items.agreement_rate(table)
    status = runs.UNRELIABLE if ours.verdict == stats.UNRELIABLE else runs.SUCCEEDED
    runs_row = {
        **{k: getattr(context, k) for k in ("run_id", "dataset_sha256", "dataset_key", "task", "judge_model",
                                             "model_a", "model_b", "instance_type", "job_name", "produced_by")},
        "created_at": context.created_at or finished_at,
        "finished_at": finished_at,
        "status": status,
        "service_metrics_json": json.dumps(service, sort_keys=True),
        "service_winrate": service.get("winrate"),
        "service_lower_rate": service.get("lower_rate"),
        "service_upper_rate": service.get("upper_rate"),
        "service_weighted_score_a": output.figure("weighted_score_a"),
        "service_weighted_score_b": output.figure("weighted_score_b"),
        "service_score_margin": output.figure("score_margin"),
        "service_error_rate": output.figure("error_rate"),
        "service_a_scores": service.get("a_scores"), "service_b_scores": service.get("b_scores"),
        "service_ties": service.get("ties"), "service_inference_error": service.get("inference_error"),
        "service_count_unit": nova_output.SERVICE_COUNT_UNIT,
        "a_wins": ours.a_wins, "b_wins": ours.b_wins, "ties": ours.ties, "inference_errors": ours.errors,
        "items": table.num_rows,
        "jf_count_unit": ours.unit,
        "jf_b_share_decisive": ours.b_share_decisive,
        "jf_wilson_low": ours.wilson_low,
        "jf_wilson_high": ours.wilson_high,
        "jf_tie_half_win_rate": ours.tie_half_win_rate,
        "jf_error_rate": ours.error_rate,
        "jf_agreement_rate": agreement,
        "verdict": ours.verdict,
        "verdict_reason": ours.verdict_reason,
        "results_folder": output.results_folder,
        "summary_key": output.summary_key,
        "details_files": len(output.details.files) if output.details is not None else 0,
        "warnings_json": json.dumps(warnings, ensure_ascii=False),
    }
    summary = {
        "run_id": context.run_id,
        "produced_by": context.produced_by,
        "task": context.task,
        "judge_model": context.judge_model,
        "model_a": context.model_a,
        "model_b": context.model_b,
        "status": status,
        "service_metrics": service,
        "service_count_unit": nova_output.SERVICE_COUNT_UNIT,
        "judgeflow_statistics": {**ours.as_dict(), "agreement_rate": agreement},
        "per_category": per_category(table),
        "criteria": items.criteria_means(table),
        "source": {"summary": output.summary_path, "summary_key": output.summary_key,
                   "results_folder": output.results_folder,
                   "details": list(output.details.files) if output.details is not None else []},
        "warnings": warnings,
    }
    bundle = ResultBundle(summary=summary, status=status)
    reports = layout.report_prefix(context.run_id)
    bundle.files[layout.lake_key(lake.RUNS_TABLE, date, context.run_id)] = parquet_bytes(
        pa.Table.from_pylist([runs_row], schema=RUNS_SCHEMA))
    bundle.files[layout.lake_key(lake.ITEMS_TABLE, date, context.run_id)] = parquet_bytes(table)
    bundle.files[f"{reports}report.png"] = report.render_png(summary)
    bundle.files[f"{reports}summary.json"] = json.dumps(summary, indent=2, default=str).encode()
    bundle.files[f"{reports}summary.md"] = report.render_markdown(summary).encode()
    return bundle


def _location_name(key: str) -> str:
    """How the execution output names a file it wrote: `runs`/`items` for the lake, else the file name."""
    return key.split("/")[1] if key.startswith(layout.LAKE_PREFIX) else key.rsplit("/", 1)[-1]


def process_results(*, s3: Any, sfn: Any, sns: Any, registry: RunRegistry, resources: Resources,
                    limits: nova_output.ArchiveLimits, bucket: str, key: str, version_id: str | None = None,
                    claimant: str, stale_after_seconds: int) -> dict[str, Any]:
    """Apply one judge output archive to its run, once. An archive for no known run, for a run
    that is not waiting for results, or delivered again changes nothing but a note on the run."""
    key, head = objects.head_version(s3, bucket, key, version_id=version_id)
    archive_id = objects.upload_identity(bucket, key, head)
    run_id = layout.run_id_from_output_key(key)
    if run_id is None:
        return _ignored(None, archive_id, "not a judge output archive (runs/<run_id>/output/.../output.tar.gz)")
    claimed, item = registry.claim_results(run_id, archive=archive_id, claimant=claimant,
                                           stale_after_seconds=stale_after_seconds)
    if not claimed:
        return _not_applied(registry, run_id, item, archive_id)
    context = RunContext(
        run_id=run_id, dataset_sha256=item.get("dataset_sha256", ""), dataset_key=item.get("dataset_key", ""),
        task=item.get("task", "llm_judge"), judge_model=item.get("judge_model", ""),
        model_a=item.get("model_a", "model_a"), model_b=item.get("model_b", "model_b"),
        instance_type=item.get("instance_type", ""), job_name=layout.job_name_from_output_key(key),
        created_at=int(item.get("created_at", 0)),
        records=int(item["records"]) if item.get("records") is not None else None,
    )
    now = datetime.now(timezone.utc)
    # The lake partition is the run's start day, not today: a retried delivery rewrites the same
    # objects instead of adding a second set of rows under another day.
    started = datetime.fromtimestamp(context.created_at or now.timestamp(), timezone.utc)
    sidecar = objects.read_bytes_if_present(s3, resources.work_bucket, layout.sidecar_key(run_id))
    try:
        archive = objects.open_version(s3, bucket, key, version_id=head.get("VersionId"))
        with archive:
            bundle = build_results(archive, context=context, sidecar=sidecar, limits=limits,
                                   finished_at=int(now.timestamp()), date=started.strftime("%Y-%m-%d"))
    except (BotoCoreError, ClientError):
        raise  # AWS failed us, not the archive: the delivery is retried and the claim lets it in again
    except Exception as exc:  # corrupt archive, missing summary, over a bound: recorded, never silent
        reason = f"Results of run {run_id} could not be read from s3://{bucket}/{key}: {exc}"
        return _finish(registry, sfn, sns, resources, run_id, status=runs.FAILED, reason=reason,
                       subject=f"judgeflow: run {run_id} results failed", message={"run_id": run_id, "reason": reason},
                       reply={"run_id": run_id, "status": runs.FAILED, "reason": reason})
    locations = {}
    for relative, data in bundle.files.items():
        s3.put_object(Bucket=resources.metrics_bucket, Key=relative, Body=data)
        locations[_location_name(relative)] = f"s3://{resources.metrics_bucket}/{relative}"
    statistics = bundle.summary["judgeflow_statistics"]
    output = {
        "run_id": run_id,
        "status": bundle.status,
        "produced_by": bundle.summary["produced_by"],
        "verdict": statistics["verdict"],
        "verdict_reason": statistics["verdict_reason"],
        # judgeflow's counts, in `count_unit`: items, each once (from the details), else the service's judgments.
        "counts": {"a": statistics["a_wins"], "b": statistics["b_wins"], "ties": statistics["ties"],
                   "errors": statistics["errors"]},
        "count_unit": statistics["unit"],
        "service_metrics": {k: bundle.summary["service_metrics"].get(k) for k in ("winrate", "lower_rate", "upper_rate")},
        "service_count_unit": bundle.summary["service_count_unit"],
        "judgeflow_b_share": statistics["b_share_decisive"],
        "judgeflow_wilson_95": [statistics["wilson_low"], statistics["wilson_high"]],
        "judgeflow_error_rate": statistics["error_rate"],
        "warnings": bundle.summary["warnings"],
        "locations": locations,
    }
    return _finish(registry, sfn, sns, resources, run_id, status=bundle.status, reason=statistics["verdict_reason"],
                   subject=f"judgeflow: run {run_id} {statistics['verdict']}", message=output, reply=output,
                   results_summary=json.dumps(output, default=str), verdict=statistics["verdict"],
                   count_unit=statistics["unit"], results_source=bundle.summary["source"],
                   results_warnings=bundle.summary["warnings"])


def _finish(registry: RunRegistry, sfn: Any, sns: Any, resources: Resources, run_id: str, *, status: str,
            reason: str, subject: str, message: Mapping[str, Any], reply: dict[str, Any],
            **fields: Any) -> dict[str, Any]:
    """End the run with its results, then tell: only the call that ended it notifies, so a retried
    delivery never sends a second notification."""
    updated = registry.finish(run_id, status=status, reason=reason, results_done=True,
                              results_state=RESULTS_APPLIED, **fields)
    if updated is None:  # ended meanwhile (stopped while its results were applied): it stays as it ended
        item = registry.get(run_id) or {}
        registry.note(run_id, "results_not_applied", f"results written under reports/ and lake/ but the run had "
                                                     f"already ended {item.get('status')}")
        return {**reply, "status": item.get("status"), "applied": False}
    notify(sns, resources.topic_arn, subject=subject, message=message)
    if updated.get("results_task_token"):
        tasks.complete_results_wait(sfn, updated["results_task_token"], updated)
    return reply


def _not_applied(registry: RunRegistry, run_id: str, item: Mapping[str, Any] | None,
                 archive_id: str) -> dict[str, Any]:
    if item is None:
        return _ignored(None, archive_id, f"no run {run_id} in the registry")
    if item.get("results_archive") == archive_id:
        state = "being applied" if item.get("results_state") == RESULTS_APPLYING else "applied"
        return _ignored(registry, archive_id, f"already {state} to run {run_id} (a repeated delivery)", item)
    if item.get("status") == runs.ABORTED:
        registry.update(run_id, late_results=archive_id)
        registry.note(run_id, "results_not_applied", f"{archive_id}: the job wrote output after the run was "
                                                     "stopped; kept in place, not applied (the run stays ABORTED)")
        return _ignored(None, archive_id, f"run {run_id} was stopped; its output is kept, not applied", item)
    why = (f"run {run_id} already has its results from {item['results_archive']}" if item.get("results_archive")
           else f"run {run_id} is {item.get('status')}, not waiting for results")
    return _ignored(registry, archive_id, why, item)


def _ignored(registry: RunRegistry | None, archive_id: str, why: str,
             item: Mapping[str, Any] | None = None) -> dict[str, Any]:
    if registry is not None and item is not None:
        registry.note(item["run_id"], "results_not_applied", f"{archive_id}: {why}")
    return {"run_id": item.get("run_id") if item else None, "status": "IGNORED", "applied": False,
            "reason": f"{archive_id} not applied: {why}"}
