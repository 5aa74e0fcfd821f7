"""Local Nova emulator: writes a judge job's output.tar.gz in the documented layout.

It exercises the pipeline offline and is NEVER a judge of quality. Everything it produces is
labelled `local-emulator`. Its rule (README "The local emulator") is deterministic:

  score(response) = number of distinct prompt words (4+ letters, case-folded) the response
  contains, plus 1 if the response is between 20 and 600 characters long.
  Higher score wins; equal scores are a tie ([[A=B]]). The backward pass applies the same rule
  with the responses swapped, so both orders agree unless a test injects disagreement.
  Rubric task: two criteria, "relevance" (overlap / prompt words, weight 0.7) and "length"
  (1 inside the 20-600 character band, else 0; weight 0.3); weighted scores decide the label.

Its summary counts judgments as the service does (judgeflow.nova_output.SERVICE_COUNT_UNIT): a
pairwise item is judged in both orders and each order counted; a rubric item once. Which of the
published output forms it writes is an `OutputForm` (FORMS names the ones AWS sources show).
"""

from __future__ import annotations

import ast
import io
import json
import random
import re
import tarfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Literal

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

PRODUCED_BY = "local-emulator"
_WORD = re.compile(r"[^\W\d_]{4,}", re.UNICODE)


@dataclass(frozen=True, kw_only=True)
class OutputForm:
    """The shape of the archive the emulator writes (forms listed in judgeflow.nova_output)."""

    results_folder: str = "eval_results"  # or "eval-result", "eval-results"
    prefix: str = ""  # folders above run.name, e.g. "output/" (a job writing uncompressed output)
    summary_keys: Literal["all+task", "task"] = "all+task"  # "task": only custom|<task>_judge|0, no "all"
    rubric_naming: Literal["documentation", "notebook"] = "documentation"
    details_files: int = 1  # 0: summary only (the guide: the pairwise judge writes no details); >1: split
    predictions: Literal["metrics", "string", "array"] = "metrics"  # rubric: where each row's label is
    utc_timestamps: bool = False  # `...+00-00` stamps, as Nova 2.0 archives have


# The forms AWS's sources show, by where they show them.
FORMS = {
    # amazon-nova-samples Nova 1.0 notebook path + lighteval 0.10's results.all (emulator default).
    "notebook": OutputForm(),
    # SageMaker guide "Accessing and analyzing evaluation results": eval-result/, details under it;
    # the rubric guide's summary schema: the task key only, the guide's rubric names.
    "guide": OutputForm(results_folder="eval-result", summary_keys="task", utc_timestamps=True),
    # nova_evaluation_container_demo notebook: eval-results/; rubric notebook README's names;
    # predictions as a column of its own, as an array.
    "container-demo": OutputForm(results_folder="eval-results", rubric_naming="notebook", predictions="array"),
    # The pairwise judge as the guide documents it: a summary and no details.
    "summary-only": OutputForm(details_files=0),
    # An uncompressed job's tree (output/<run>/eval_results), details split in three,
    # predictions as the text of a Python list.
    "split": OutputForm(prefix="output/", details_files=3, predictions="string"),
}


def _score(prompt_words: set[str], response: str) -> int:
    words = {w.casefold() for w in _WORD.findall(response)}
    return len(prompt_words & words) + (1 if 20 <= len(response) <= 600 else 0)


def judge_pair(prompt: str, first: str, second: str) -> str:
    prompt_words = {w.casefold() for w in _WORD.findall(prompt)}
    s1, s2 = _score(prompt_words, first), _score(prompt_words, second)
    label = "A>B" if s1 > s2 else "B>A" if s2 > s1 else "A=B"
    return (f"[local-emulator] Assistant A scores {s1}, Assistant B scores {s2} under the emulator rule "
            f"(prompt-word overlap + length band). Verdict: [[{label}]]")


def _rubric_metrics(prompt: str, response_a: str, response_b: str) -> dict[str, Any]:
    prompt_words = {w.casefold() for w in _WORD.findall(prompt)} or {""}

    def criteria(response: str) -> dict[str, float]:
        words = {w.casefold() for w in _WORD.findall(response)}
        return {"relevance": len(prompt_words & words) / len(prompt_words),
                "length": 1.0 if 20 <= len(response) <= 600 else 0.0}

    weights = {"relevance": 0.7, "length": 0.3}
    score_a, score_b = criteria(response_a), criteria(response_b)
    weighted_a = round(sum(weights[c] * score_a[c] for c in weights), 4)
    weighted_b = round(sum(weights[c] * score_b[c] for c in weights), 4)
    label = "A>B" if weighted_a > weighted_b else "B>A" if weighted_b > weighted_a else "A=B"
    return {
        "predictions": f"[[{label}]]",
        "weighted_score_A": weighted_a,
        "weighted_score_B": weighted_b,
        "score_margin": round(weighted_a - weighted_b, 4),
        "overall_justification": f"[local-emulator] weighted scores A={weighted_a}, B={weighted_b}",
        "criteria_breakdown": {
            name: {"score_A": round(score_a[name], 4), "score_B": round(score_b[name], 4), "weight": weights[name],
                   "type": "emulated", "description": f"emulator criterion: {name}",
                   "justification_A": "[local-emulator]", "justification_B": "[local-emulator]"}
            for name in weights
        },
    }


def _bootstrap(prefs: list[str], rounds: int = 1000, seed: int = 7) -> tuple[float, float]:
    decisive = [1 if p == "B" else 0 for p in prefs if p in ("A", "B")]
    if not decisive:
        return 0.0, 0.0
    rng = random.Random(seed)
    rates = sorted(sum(rng.choices(decisive, k=len(decisive))) / len(decisive) for _ in range(rounds))
    return rates[int(0.025 * rounds)], rates[int(0.975 * rounds) - 1]


def _order_counts(forward: str, backward: str) -> list[str]:
    """The service's two judgments of a pairwise item, as A/B/tie each (the backward pass shows B first)."""
    first = re.search(r"\[\[(.+?)\]\]", forward).group(1)
    second = re.search(r"\[\[(.+?)\]\]", backward).group(1)
    return [{"A>B": "A", "B>A": "B"}.get(first, "tie"), {"A>B": "B", "B>A": "A"}.get(second, "tie")]


def _stderr(count: int, total: int) -> float:
    share = count / total if total else 0.0
    return round((share * (1 - share) / max(total, 1)) ** 0.5, 4)


def emulate(records: Iterable[dict[str, Any]], recipe_yaml: str, *, error_items: Iterable[int] = (),
            now: datetime | None = None, form: OutputForm = OutputForm()) -> bytes:
    """Judge the staged records and return the output.tar.gz bytes, in `form`."""
    recipe = yaml.safe_load(recipe_yaml)
    run_name = recipe["run"]["name"]
    task = recipe["evaluation"]["task"]
    rubric = task == "rubric_llm_judge"
    now = now or datetime.now(timezone.utc)
    errors = set(error_items)
    rows, judgments, rubric_scores = [], [], []
    for index, record in enumerate(records):
        if index in errors:
            failed = "[local-emulator] inference error (injected)"
            judgments += ["error"] if rubric else ["error", "error"]
            rows.append({"prompt": record["prompt"], "metrics": repr({"predictions": failed}), "predictions": failed}
                        if rubric else {"prompt": record["prompt"], "forward_output": failed, "backward_output": failed})
            continue
        if rubric:
            metrics = _rubric_metrics(record["prompt"], record["response_A"], record["response_B"])
            judgments.append({"A>B": "A", "B>A": "B"}.get(metrics["predictions"].strip("[]"), "tie"))
            rubric_scores.append((metrics["weighted_score_A"], metrics["weighted_score_B"]))
            rows.append({"prompt": record["prompt"], "metrics": repr(metrics), "predictions": metrics["predictions"]})
        else:
            forward = judge_pair(record["prompt"], record["response_A"], record["response_B"])
            backward = judge_pair(record["prompt"], record["response_B"], record["response_A"])
            judgments += _order_counts(forward, backward)
            rows.append({"prompt": record["prompt"], "forward_output": forward, "backward_output": backward})
    summary = _summary(judgments, rubric_scores, rubric=rubric, naming=form.rubric_naming)
    key = f"custom|{task}_judge|0"
    document = {
        "config_general": {"model_name": recipe["run"]["model_name_or_path"], "produced_by": PRODUCED_BY,
                           "start_time": time.time()},
        "results": {key: summary} if form.summary_keys == "task" else {key: summary, "all": summary},
        "versions": {key: 0},
    }
    stamp = now.strftime("%Y-%m-%dT%H-%M-%S.%f") + ("+00-00" if form.utc_timestamps else "")
    folder = f"{form.prefix}{run_name}/{form.results_folder}"
    members = {f"{folder}/results_{stamp}.json": json.dumps(document, indent=2).encode()}
    for part, chunk in enumerate(_chunks(rows, form.details_files)):
        suffix = f"_{part}" if form.details_files > 1 else ""
        details = io.BytesIO()
        pq.write_table(pa.Table.from_pylist([_details_row(row, rubric, form) for row in chunk]), details)
        members[f"{folder}/details/{'rubric_judge_model' if rubric else 'local-emulator'}/{stamp}/"
                f"details_{key}_{stamp}{suffix}.parquet"] = details.getvalue()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(now.timestamp())
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _chunks(rows: list[dict[str, Any]], count: int) -> list[list[dict[str, Any]]]:
    if count <= 0:
        return []
    size = -(-len(rows) // count) or 1
    return [rows[start:start + size] for start in range(0, max(len(rows), 1), size)][:count]


def _details_row(row: dict[str, Any], rubric: bool, form: OutputForm) -> dict[str, Any]:
    row = {**row, "produced_by": PRODUCED_BY}
    prediction = row.pop("predictions", None)
    if rubric and form.predictions != "metrics":
        metrics = ast.literal_eval(row["metrics"])
        metrics.pop("predictions", None)
        row["metrics"] = repr(metrics)
        row["predictions"] = [prediction] if form.predictions == "array" else repr([prediction])
    return row


def _summary(judgments: list[str], rubric_scores: list[tuple[float, float]], *, rubric: bool,
             naming: str) -> dict[str, Any]:
    a, b = judgments.count("A"), judgments.count("B")
    ties, errs = judgments.count("tie"), judgments.count("error")
    total = len(judgments)
    low, high = _bootstrap(judgments)
    summary: dict[str, Any] = {
        "a_scores": float(a), "a_scores_stderr": _stderr(a, total),
        "b_scores": float(b), "b_scores_stderr": _stderr(b, total),
        "ties": float(ties), "ties_stderr": _stderr(ties, total),
        "inference_error": float(errs), "inference_error_stderr": _stderr(errs, total),
        "score": float(b), "score_stderr": _stderr(b, total),
        "winrate": round(b / (a + b), 2) if a + b else 0.0,
        "lower_rate": round(low, 2), "upper_rate": round(high, 2),
    }
    if rubric and rubric_scores:
        mean_a = round(sum(a for a, _ in rubric_scores) / len(rubric_scores), 4)
        mean_b = round(sum(b for _, b in rubric_scores) / len(rubric_scores), 4)
        if naming == "notebook":
            del summary["score"], summary["score_stderr"]
            summary.update({"average_weighted_score_a": mean_a, "average_weighted_score_b": mean_b,
                            "average_margin": round(mean_a - mean_b, 4),
                            "error_rate": round(errs / total, 3) if total else 0.0,
                            "criteria_weights": {"relevance": 0.7, "length": 0.3}})
        else:
            summary.update({"weighted_score_A": mean_a, "weighted_score_A_stderr": 0.0,
                            "weighted_score_B": mean_b, "weighted_score_B_stderr": 0.0,
                            "score_margin": round(mean_a - mean_b, 4), "score_margin_stderr": 0.0})
    return summary
