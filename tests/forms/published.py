"""Nova judge output as AWS's sources publish it, and archives built from it for the form tests.

Every value names its source; judgeflow/nova_output.py lists the forms and ../shared/NOVA-REFERENCE.md
the sources. Where a source prints no value (a details row's criterion scores), the test says what
it made up, and makes it agree with what the source does print.
"""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq

from judgeflow.stages import results

PAIRWISE_KEY = "custom|llm_judge_judge|0"
RUBRIC_KEY = "custom|rubric_llm_judge_judge|0"

# AWS ML blog "Evaluating generative AI models with Amazon Nova LLM-as-a-Judge on Amazon SageMaker
# AI" and the Nova 1.0 notebook's metrics cell (aws-samples/amazon-nova-samples, customization/
# Nova_1.0/SageMakerTrainingJobs/Amazon-Nova-LLM-As-A-Judge): the example summary, printed flat.
BLOG_PAIRWISE = {"a_scores": 16.0, "a_scores_stderr": 0.03, "b_scores": 10.0, "b_scores_stderr": 0.09,
                 "ties": 0.0, "ties_stderr": 0.0, "inference_error": 0.0, "inference_error_stderr": 0.0,
                 "score": 10.0, "score_stderr": 0.09, "winrate": 0.38, "lower_rate": 0.23, "upper_rate": 0.56}

# The same notebook's own run: 6 SQuAD questions judged; its summary path, and the figures its
# results cell reports (the JSON itself is not printed): 12 evaluations, A 3, B 9, ties 0, errors 0,
# win rate 0.75, interval [0.091, 0.917].
NOTEBOOK_PAIRWISE_PATH = "nova-micro-llm-judge-eval-job/eval_results/results_2025-06-26T22-02-09.817675.json"
NOTEBOOK_PAIRWISE_ITEMS = 6
NOTEBOOK_PAIRWISE = {"a_scores": 3.0, "b_scores": 9.0, "ties": 0.0, "inference_error": 0.0, "winrate": 0.75,
                     "lower_rate": 0.091, "upper_rate": 0.917}

# Rubric figures of the rubric notebook's README and the rubric blog (Part 2): 11 evaluations, A 3,
# B 7, ties 0, 1 inference error, win rate 0.70 [0.400, 0.909], weighted A 0.495, B 0.630, margin
# -0.135, error rate 0.091 (customization/Nova_2.0/04_eval/Amazon-Nova-Rubric-Based-LLM-As-A-Judge).
RUBRIC_NOTEBOOK = {"a_scores": 3.0, "a_scores_stderr": 0.02, "b_scores": 7.0, "b_scores_stderr": 0.05,
                   "ties": 0.0, "ties_stderr": 0.0, "inference_error": 1.0, "inference_error_stderr": 0.01,
                   "winrate": 0.70, "lower_rate": 0.40, "upper_rate": 0.909, "average_weighted_score_a": 0.495,
                   "average_weighted_score_b": 0.630, "average_margin": -0.135, "error_rate": 0.091,
                   "criteria_weights": {"accuracy": 0.6, "completeness": 0.25, "clarity": 0.15}}
RUBRIC_NOTEBOOK_RUN = "jmoul-rubric-demo"  # run.name of the notebook's recipe
RUBRIC_STAMP = "2025-12-09T01-39-55.025383+00-00"
RUBRIC_NOTEBOOK_SUMMARY_PATH = f"{RUBRIC_NOTEBOOK_RUN}/eval_results/results_{RUBRIC_STAMP}.json"
RUBRIC_NOTEBOOK_DETAILS_PATH = (f"{RUBRIC_NOTEBOOK_RUN}/eval_results/details/rubric_judge_model/{RUBRIC_STAMP}/"
                                f"details_{RUBRIC_KEY}_{RUBRIC_STAMP}.parquet")
# The README's 7 detailed rows: B wins rows 0, 3 and 6, A wins rows 1 and 2, 5 valid of 7 (rows 4
# and 5 carry no verdict).
RUBRIC_NOTEBOOK_ROW_LABELS = ["[[B>A]]", "[[A>B]]", "[[A>B]]", "[[B>A]]", None, None, "[[B>A]]"]

# The rubric guide's output schema (SageMaker "Rubric based judge", "Evaluation output"): top-level
# config_general, results and versions; results holds the task key only, no "all", with the guide's
# names. Values: the same published run (weighted_score_A/B, score_margin = A - B).
RUBRIC_GUIDE_DOCUMENT = {
    "config_general": {"lighteval_sha": "", "num_fewshot_seeds": 1, "max_samples": None, "job_id": 0,
                       "start_time": 0.0, "end_time": 0.0, "total_evaluation_time_secondes": "0",
                       "model_name": "nova-lite-2/prod", "model_sha": "", "model_dtype": None, "model_size": ""},
    "results": {RUBRIC_KEY: {
        "a_scores": 3.0, "a_scores_stderr": 0.02, "b_scores": 7.0, "b_scores_stderr": 0.05, "ties": 0.0,
        "ties_stderr": 0.0, "inference_error": 1.0, "inference_error_stderr": 0.01, "score": 7.0,
        "score_stderr": 0.05, "weighted_score_A": 0.495, "weighted_score_A_stderr": 0.0,
        "weighted_score_B": 0.630, "weighted_score_B_stderr": 0.0, "score_margin": -0.135,
        "score_margin_stderr": 0.0, "winrate": 0.70, "lower_rate": 0.40, "upper_rate": 0.909}},
    "versions": {RUBRIC_KEY: 0},
}


def lighteval_document(metrics: dict[str, Any], key: str = PAIRWISE_KEY, **extra: Any) -> dict[str, Any]:
    """A summary as lighteval 0.10 writes it: the task entry and `all` with the same values."""
    return {"config_general": {"model_name": "nova-micro/prod"}, "results": {key: metrics, "all": metrics},
            "versions": {key: 0}, **extra}


def rubric_metrics(label: str | None, *, weighted_a: float = 0.5, weighted_b: float = 0.6) -> str:
    """A rubric details row's `metrics`, as AWS's notebook reads it (a Python literal). The keys are
    the notebook's; the criterion scores are made up (no row's values are printed)."""
    if label is None:
        return repr({"predictions": "inference error: no verdict"})
    weights = RUBRIC_NOTEBOOK["criteria_weights"]
    return repr({
        "predictions": label, "a_scores": float(label == "[[A>B]]"), "b_scores": float(label == "[[B>A]]"),
        "weighted_score_A": weighted_a, "weighted_score_B": weighted_b, "score_margin": weighted_a - weighted_b,
        "overall_justification": f"verdict {label}",
        "criteria_breakdown": {name: {"score_A": 3, "score_B": 4, "weight": weight, "type": "scale",
                                      "description": f"{name} of the answer", "justification_A": "ok",
                                      "justification_B": "better"} for name, weight in weights.items()}})


def json_bytes(document: Any) -> bytes:
    return json.dumps(document, indent=2).encode()


def parquet(table: pa.Table | list[dict[str, Any]]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table if isinstance(table, pa.Table) else pa.Table.from_pylist(table), sink)
    return sink.getvalue()


def archive(members: dict[str, bytes], tweak: Callable[[tarfile.TarInfo], Any] | None = None) -> bytes:
    """A .tar.gz of `members`; `tweak` changes each entry's header (a link, a device) before it is added."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            if tweak:
                tweak(info)
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buffer.getvalue()


def build(members: dict[str, bytes], *, task: str = "llm_judge", records: int | None = None,
          sidecar: bytes | None = None) -> results.ResultBundle:
    return results.build_results(archive(members), sidecar=sidecar, finished_at=1_700_000_000, date="2026-11-24",
                                 context=results.RunContext(run_id="jf-form", task=task, records=records))


def lake_rows(bundle: results.ResultBundle, table: str) -> list[dict[str, Any]]:
    (key,) = [key for key in bundle.files if key.startswith(f"lake/{table}/")]
    return pq.read_table(io.BytesIO(bundle.files[key])).to_pylist()


def run_row(bundle: results.ResultBundle) -> dict[str, Any]:
    (row,) = lake_rows(bundle, "runs")
    return row


def sidecar(categories: list[str]) -> bytes:
    """A staged sidecar: one row per staged line, as staging writes it."""
    return b"".join(json.dumps({"_line": n + 1, "category": c}, separators=(",", ":")).encode() + b"\n"
                    for n, c in enumerate(categories))
