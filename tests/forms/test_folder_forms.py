"""Folder trees: the results folder under each published spelling, at any depth; the folder found
is recorded; several summaries or details elsewhere are said, not silently mixed."""

from __future__ import annotations

import json

import pytest

from judgeflow import nova_output
from tests.forms import published as p

STAMP = "2025-06-26T22-02-09.817675"
# Item 0: B wins in both orders (the backward pass shows B first); item 1: A wins in both.
PAIRWISE_ROWS = [{"forward_output": "[[B>A]]", "backward_output": "[[A>B]]"},
                 {"forward_output": "[[A>B]]", "backward_output": "[[B>A]]"}]


def tree(folder: str, *, stamp: str = STAMP) -> dict[str, bytes]:
    """A summary and one details file under `folder` (the guide's drawing: details/<model>/<time>/)."""
    return {f"{folder}/results_{stamp}.json": p.json_bytes(p.lighteval_document(
                {"a_scores": 2.0, "b_scores": 2.0, "ties": 0.0, "inference_error": 0.0})),
            f"{folder}/details/model/{stamp}/details_{p.PAIRWISE_KEY}_{stamp}.parquet": p.parquet(PAIRWISE_ROWS)}


@pytest.mark.parametrize("folder", [
    "nova-micro-llm-judge-eval-job/eval_results",  # real archives (Nova 1.0 and 2.0 notebooks)
    "job_name/eval-result",  # SageMaker/Nova guide, "Accessing and analyzing evaluation results"
    "job_name/eval-results",  # nova_evaluation_container_demo notebook
    "output/BaseInference/eval_results",  # an uncompressed job's tree (output/output/<run>/eval_results)
    "eval_results",  # no top folder
    "a/b/c/d/eval-results",  # deeper
])
def test_the_results_folder_is_found_under_each_spelling_at_any_depth(folder):
    bundle = p.build(tree(folder))
    run = p.run_row(bundle)
    assert run["results_folder"] == folder and run["details_files"] == 1
    assert (run["jf_count_unit"], run["a_wins"], run["b_wins"], run["items"]) == ("item", 1, 1, 2)
    assert bundle.summary["source"]["summary"] == f"{folder}/results_{STAMP}.json"
    assert json.loads(run["warnings_json"]) == []


@pytest.mark.parametrize("name", ["eval_result", "evalresults", "eval-results-old", "results"])
def test_a_folder_no_source_names_is_not_taken_for_the_results(name):
    with pytest.raises(nova_output.OutputError, match="no summary JSON"):
        p.build(tree(f"run/{name}"))


def test_both_timestamp_forms_are_read():
    for stamp in (STAMP, p.RUBRIC_STAMP):
        assert p.run_row(p.build(tree("run/eval_results", stamp=stamp)))["details_files"] == 1


def test_of_two_summaries_the_newest_is_read_and_the_other_named():
    older = tree("run/eval_results", stamp="2025-06-26T22-02-09.817675")
    newer = {f"run/eval_results/results_2025-06-27T08-00-00.000000.json": p.json_bytes(p.lighteval_document(
        {"a_scores": 0.0, "b_scores": 4.0, "ties": 0.0, "inference_error": 0.0}))}
    bundle = p.build({**older, **newer})
    run = p.run_row(bundle)
    assert run["service_b_scores"] == 4.0
    assert any("2 summaries; read the newest, run/eval_results/results_2025-06-27T08-00-00.000000.json" in w
               and "results_2025-06-26T22-02-09.817675.json" in w for w in bundle.summary["warnings"])


def test_details_outside_the_summarys_folder_are_named_not_mixed_in():
    stray = tree("other-run/eval-result")
    bundle = p.build({**tree("run/eval_results"), **{k: v for k, v in stray.items() if "/details/" in k}})
    assert p.run_row(bundle)["details_files"] == 1
    assert any(w.startswith("details outside run/eval_results/ not read: other-run/eval-result/details/")
               for w in bundle.summary["warnings"])
