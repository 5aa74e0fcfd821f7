"""Local Nova emulator: writes a judge job's output.tar.gz in the documented layout.

It exercises the pipeline offline and is NEVER a judge of quality. Everything it produces is
labelled `local-emulator`. Its rule (README "The local emulator") is deterministic:

  score(response) = number of distinct prompt words (4+ letters, case-folded) the response
  contains, plus 1 if the response is between 20 and 600 characters long.
  Higher score wins; equal scores are a tie ([[A=B]]). The backward pass applies the same rule
  with the responses swapped, so both orders agree unless a test injects disagreement.
  Rubric task: two criteria, "relevance" (overlap / prompt words, weight 0.7) and "length"
  (1 inside the 20-600 character band, else 0; weight 0.3); weighted scores decide the label.
"""

from __future__ import annotations

import io
import json
import random
import re
import tarfile
import time
from datetime import datetime, timezone
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

PRODUCED_BY = "local-emulator"
_WORD = re.compile(r"[^\W\d_]{4,}", re.UNICODE)


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


def emulate(records: Iterable[dict[str, Any]], recipe_yaml: str, *, error_items: Iterable[int] = (),
            now: datetime | None = None) -> bytes:
    """Judge the staged records and return the output.tar.gz bytes."""
    recipe = yaml.safe_load(recipe_yaml)
    run_name = recipe["run"]["name"]
    task = recipe["evaluation"]["task"]
    now = now or datetime.now(timezone.utc)
    stamp = now.strftime("%Y%m%dT%H%M%S")
    errors = set(error_items)
    rows, prefs, rubric_scores = [], [], []
    for index, record in enumerate(records):
        if index in errors:
            failed = "[local-emulator] inference error (injected)"
            prefs.append("error")
            rows.append({"prompt": record["prompt"], "metrics": repr({"predictions": failed}),
                         "produced_by": PRODUCED_BY} if task == "rubric_llm_judge" else
                        {"prompt": record["prompt"], "forward_output": failed, "backward_output": failed,
                         "produced_by": PRODUCED_BY})
            continue
        if task == "rubric_llm_judge":
            metrics = _rubric_metrics(record["prompt"], record["response_A"], record["response_B"])
            label = metrics["predictions"].strip("[]")
            rubric_scores.append((metrics["weighted_score_A"], metrics["weighted_score_B"]))
            rows.append({"prompt": record["prompt"], "metrics": repr(metrics), "produced_by": PRODUCED_BY})
        else:
            forward = judge_pair(record["prompt"], record["response_A"], record["response_B"])
            backward = judge_pair(record["prompt"], record["response_B"], record["response_A"])
            label = re.search(r"\[\[(.+?)\]\]", forward).group(1)
            rows.append({"prompt": record["prompt"], "forward_output": forward, "backward_output": backward,
                         "produced_by": PRODUCED_BY})
        prefs.append({"A>B": "A", "B>A": "B"}.get(label, "tie"))
    a, b = prefs.count("A"), prefs.count("B")
    ties, errs = prefs.count("tie"), prefs.count("error")
    low, high = _bootstrap(prefs)
    n = max(len(prefs), 1)
    summary = {
        "a_scores": float(a), "a_scores_stderr": round((a / n * (1 - a / n) / n) ** 0.5, 4),
        "b_scores": float(b), "b_scores_stderr": round((b / n * (1 - b / n) / n) ** 0.5, 4),
        "ties": float(ties), "ties_stderr": round((ties / n * (1 - ties / n) / n) ** 0.5, 4),
        "inference_error": float(errs), "inference_error_stderr": round((errs / n * (1 - errs / n) / n) ** 0.5, 4),
        "score": float(b), "score_stderr": round((b / n * (1 - b / n) / n) ** 0.5, 4),
        "winrate": round(b / (a + b), 2) if a + b else 0.0,
        "lower_rate": round(low, 2), "upper_rate": round(high, 2),
    }
    if task == "rubric_llm_judge" and rubric_scores:
        mean_a = sum(a for a, _ in rubric_scores) / len(rubric_scores)
        mean_b = sum(b for _, b in rubric_scores) / len(rubric_scores)
        summary.update({"weighted_score_A": round(mean_a, 4), "weighted_score_A_stderr": 0.0,
                        "weighted_score_B": round(mean_b, 4), "weighted_score_B_stderr": 0.0,
                        "score_margin": round(mean_a - mean_b, 4), "score_margin_stderr": 0.0})
    document = {
        "config_general": {"model_name": recipe["run"]["model_name_or_path"], "produced_by": PRODUCED_BY,
                           "start_time": time.time()},
        "results": {f"custom|{task}_judge|0": summary, "all": summary},
        "versions": {"local-emulator": "1"},
    }
    details = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), details)
    dt = now.strftime("%Y-%m-%dT%H-%M-%S.%f")
    members = {
        f"{run_name}/eval_results/results_{stamp}.json": json.dumps(document, indent=2).encode(),
        f"{run_name}/eval_results/details/local-emulator/{dt}/details_custom|{task}_judge|0_{dt}.parquet":
            details.getvalue(),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(now.timestamp())
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
