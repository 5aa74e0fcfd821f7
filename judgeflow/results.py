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

from judgeflow import nova_output, report, stats

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

CRITERION = pa.struct([
    ("name", pa.string()), ("score_a", pa.float64()), ("score_b", pa.float64()), ("weight", pa.float64()),
    ("type", pa.string()), ("description", pa.string()), ("justification_a", pa.string()),
    ("justification_b", pa.string()),
])

ITEMS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("item_index", pa.int64()),
        ("line_number", pa.int64()),
        ("category", pa.string()),
        ("forward_verdict", pa.string()),
        ("backward_verdict", pa.string()),
        ("orders_agree", pa.bool_()),
        ("preference", pa.string()),
        ("weighted_score_a", pa.float64()),
        ("weighted_score_b", pa.float64()),
        ("score_margin", pa.float64()),
        ("criteria", pa.list_(CRITERION)),
        ("justification", pa.string()),
        ("sidecar_json", pa.string()),
    ]
)


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


def _forward_preference(label: str | None) -> str | None:
    return {"A>B": "A", "B>A": "B", "A=B": "tie", "A=B (bothbad)": "tie"}.get(label or "")


def _backward_preference(label: str | None) -> str | None:
    # The backward pass shows the responses in (B, A) order: its "A" is response_B.
    return {"A>B": "B", "B>A": "A", "A=B": "tie", "A=B (bothbad)": "tie"}.get(label or "")


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _rubric_fields(metrics: Mapping[str, Any]) -> dict[str, Any]:
    breakdown = metrics.get("criteria_breakdown") or {}
    criteria = [
        {"name": str(name), "score_a": _float(c.get("score_A")), "score_b": _float(c.get("score_B")),
         "weight": _float(c.get("weight")), "type": c.get("type"), "description": c.get("description"),
         "justification_a": c.get("justification_A"), "justification_b": c.get("justification_B")}
        for name, c in breakdown.items() if isinstance(c, Mapping)
    ]
    return {"weighted_score_a": _float(metrics.get("weighted_score_A")),
            "weighted_score_b": _float(metrics.get("weighted_score_B")),
            "score_margin": _float(metrics.get("score_margin")), "criteria": criteria or None}


def _verdicts(detail: Mapping[str, Any]) -> tuple[str | None, str | None, str, dict[str, Any], Any]:
    """(forward, backward, preference, rubric fields, justification) of one details row."""
    if "metrics" in detail:  # rubric judge: one verdict per item, scores per criterion
        metrics = nova_output.parse_rubric_metrics(detail["metrics"])
        preference = _forward_preference(nova_output.label_of(metrics.get("predictions"))) or "error"
        return None, None, preference, _rubric_fields(metrics), metrics.get("overall_justification")
    forward = _forward_preference(nova_output.label_of(detail.get("forward_output")))
    backward = _backward_preference(nova_output.label_of(detail.get("backward_output")))
    if forward is None or backward is None:
        preference = "error"
    elif forward == backward:
        preference = forward
    else:
        preference = "tie"  # the two orders disagree: position bias, not a preference
    return forward, backward, preference, {}, detail.get("forward_output")


def item_rows(run_id: str, details: list[dict[str, Any]], sidecar: Mapping[int, Mapping[str, Any]]) -> list[dict]:
    rows = []
    for index, detail in enumerate(details):
        forward, backward, preference, rubric, justification = _verdicts(detail)
        extra = dict(sidecar.get(index, {}))
        line_number = extra.pop("_line", None)
        category = extra.get("category")
        rows.append(
            {
                "run_id": run_id,
                "item_index": index,
                "line_number": line_number,
                "category": str(category) if category is not None else None,
                "forward_verdict": forward,
                "backward_verdict": backward,
                "orders_agree": (forward == backward) if forward and backward else None,
                "preference": preference,
                **{"weighted_score_a": None, "weighted_score_b": None, "score_margin": None, "criteria": None,
                   **rubric},
                "justification": justification,
                "sidecar_json": json.dumps(extra, ensure_ascii=False, sort_keys=True) if extra else None,
            }
        )
    return rows


def _int(summary: Mapping[str, Any], key: str) -> int:
    value = summary.get(key)
    return int(round(float(value))) if value is not None else 0


def per_category(rows: list[dict]) -> list[dict[str, Any]]:
    groups: dict[str, list[dict]] = {}
    for row in rows:
        if row["category"] is not None:
            groups.setdefault(row["category"], []).append(row)
    out = []
    for name, items in sorted(groups.items()):
        counts = {p: sum(1 for r in items if r["preference"] == p) for p in ("A", "B", "tie", "error")}
        s = stats.pairwise_stats(counts["A"], counts["B"], counts["tie"], counts["error"])
        out.append({"category": name, **counts, "b_share": s.b_share_decisive,
                    "wilson_low": s.wilson_low, "wilson_high": s.wilson_high})
    return out


def criteria_means(rows: list[dict]) -> list[dict[str, Any]]:
    """Mean score of A and B per rubric criterion (empty for the pairwise judge)."""
    sums: dict[str, list[float]] = {}
    for row in rows:
        for criterion in row.get("criteria") or []:
            if criterion["score_a"] is None or criterion["score_b"] is None:
                continue
            entry = sums.setdefault(criterion["name"], [0.0, 0.0, 0])
            entry[0] += criterion["score_a"]
            entry[1] += criterion["score_b"]
            entry[2] += 1
    return [{"name": name, "mean_a": a / n, "mean_b": b / n, "items": n} for name, (a, b, n) in sorted(sums.items())]


def _parquet_bytes(rows: list[dict], schema: pa.Schema) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), sink, compression="zstd")
    return sink.getvalue()


def build_results(
    archive: bytes,
    *,
    context: RunContext,
    sidecar: Mapping[int, Mapping[str, Any]] | None = None,
    finished_at: int,
    date: str,
) -> ResultBundle:
    files = nova_output.read_archive(archive)
    output = nova_output.parse_output(files)
    if output.produced_by != context.produced_by:
        context = dataclasses.replace(context, produced_by=output.produced_by)
    service = output.summary
    rows = item_rows(context.run_id, output.details, sidecar or {})
    ours = stats.pairwise_stats(
        _int(service, "a_scores"), _int(service, "b_scores"), _int(service, "ties"), _int(service, "inference_error")
    )
    agreeing = [r["orders_agree"] for r in rows if r["orders_agree"] is not None]
    agreement = sum(agreeing) / len(agreeing) if agreeing else None
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
        "items": len(rows),
        "jf_b_share_decisive": ours.b_share_decisive,
        "jf_wilson_low": ours.wilson_low,
        "jf_wilson_high": ours.wilson_high,
        "jf_tie_half_win_rate": ours.tie_half_win_rate,
        "jf_error_rate": ours.error_rate,
        "jf_agreement_rate": agreement,
        "verdict": ours.verdict,
        "verdict_reason": ours.verdict_reason,
    }
    categories = per_category(rows)
    criteria = criteria_means(rows)
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
    bundle.files[f"lake/runs/{partition}/{context.run_id}.parquet"] = _parquet_bytes([runs_row], RUNS_SCHEMA)
    bundle.files[f"lake/items/{partition}/{context.run_id}.parquet"] = _parquet_bytes(rows, ITEMS_SCHEMA)
    bundle.files[f"reports/{context.run_id}/report.png"] = report.render_png(summary)
    bundle.files[f"reports/{context.run_id}/summary.json"] = json.dumps(summary, indent=2, default=str).encode()
    bundle.files[f"reports/{context.run_id}/summary.md"] = report.render_markdown(summary).encode()
    return bundle
