"""From a judge job's output to the metrics lake: items/runs Parquet rows, statistics, summary.

Pure functions over bytes; the results Lambda and `judgeflow ingest-results` both call
`build_results` and only differ in where they write the files it returns.
"""

from __future__ import annotations

import dataclasses
import io
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

import pyarrow as pa
import pyarrow.parquet as pq

from judgeflow import items, layout, nova_output, report, stats

RUNS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("dataset_sha256", pa.string()),
        ("dataset_key", pa.string()),
        ("task", pa.string()),
        ("judge_model", pa.string()),
        ("model_a", pa.string()),
        ("model_b", pa.string()),
        ("instance_type", pa.string()),
        ("job_name", pa.string()),
        ("produced_by", pa.string()),
        ("created_at", pa.timestamp("s", tz="UTC")),
        ("finished_at", pa.timestamp("s", tz="UTC")),
        ("status", pa.string()),
        ("service_metrics_json", pa.string()),
        ("service_winrate", pa.float64()),
        ("service_lower_rate", pa.float64()),
        ("service_upper_rate", pa.float64()),
        ("service_weighted_score_a", pa.float64()),
        ("service_weighted_score_b", pa.float64()),
        ("service_score_margin", pa.float64()),
        ("a_wins", pa.int64()),
        ("b_wins", pa.int64()),
        ("ties", pa.int64()),
        ("inference_errors", pa.int64()),
        ("items", pa.int64()),
        ("jf_b_share_decisive", pa.float64()),
        ("jf_wilson_low", pa.float64()),
        ("jf_wilson_high", pa.float64()),
        ("jf_tie_half_win_rate", pa.float64()),
        ("jf_error_rate", pa.float64()),
        ("jf_agreement_rate", pa.float64()),
        ("verdict", pa.string()),
        ("verdict_reason", pa.string()),
    ]
)

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


@dataclass
class ResultBundle:
    summary: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)  # relative path -> content
    status: str = "SUCCEEDED"


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


def build_results(
    archive: bytes,
    *,
    context: RunContext,
    sidecar: bytes | None = None,
    finished_at: int,
    date: str,
) -> ResultBundle:
    files = nova_output.read_archive(archive)
    output = nova_output.parse_output(files)
    if output.produced_by != context.produced_by:
        context = dataclasses.replace(context, produced_by=output.produced_by)
    service = output.summary
    table = items.items_table(context.run_id, output.details, sidecar)
    ours = stats.pairwise_stats(
        _int(service, "a_scores"), _int(service, "b_scores"), _int(service, "ties"), _int(service, "inference_error")
    )
    agreement = items.agreement_rate(table)
    status = "UNRELIABLE" if ours.verdict == stats.UNRELIABLE else "SUCCEEDED"
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
        "service_weighted_score_a": service.get("weighted_score_A"),
        "service_weighted_score_b": service.get("weighted_score_B"),
        "service_score_margin": service.get("score_margin"),
        "a_wins": ours.a_wins, "b_wins": ours.b_wins, "ties": ours.ties, "inference_errors": ours.errors,
        "items": table.num_rows,
        "jf_b_share_decisive": ours.b_share_decisive,
        "jf_wilson_low": ours.wilson_low,
        "jf_wilson_high": ours.wilson_high,
        "jf_tie_half_win_rate": ours.tie_half_win_rate,
        "jf_error_rate": ours.error_rate,
        "jf_agreement_rate": agreement,
        "verdict": ours.verdict,
        "verdict_reason": ours.verdict_reason,
    }
    categories = per_category(table)
    criteria = items.criteria_means(table)
    summary = {
        "run_id": context.run_id,
        "produced_by": context.produced_by,
        "task": context.task,
        "judge_model": context.judge_model,
        "model_a": context.model_a,
        "model_b": context.model_b,
        "status": status,
        "service_metrics": service,
        "judgeflow_statistics": {**ours.as_dict(), "agreement_rate": agreement},
        "per_category": categories,
        "criteria": criteria,
        "warnings": output.warnings,
    }
    bundle = ResultBundle(summary=summary, status=status)
    partition = f"dt={date}"
    lake, reports = layout.LAKE_PREFIX, f"{layout.REPORTS_PREFIX}{context.run_id}/"
    bundle.files[f"{lake}runs/{partition}/{context.run_id}.parquet"] = parquet_bytes(pa.Table.from_pylist([runs_row], schema=RUNS_SCHEMA))
    bundle.files[f"{lake}items/{partition}/{context.run_id}.parquet"] = parquet_bytes(table)
    bundle.files[f"{reports}report.png"] = report.render_png(summary)
    bundle.files[f"{reports}summary.json"] = json.dumps(summary, indent=2, default=str).encode()
    bundle.files[f"{reports}summary.md"] = report.render_markdown(summary).encode()
    return bundle
