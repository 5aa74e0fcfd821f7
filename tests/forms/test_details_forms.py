"""Details forms: every details file read, rows matched to items by their index, the reader chosen
by the run's task, predictions as a string or an array, counts that disagree said with numbers."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pytest

from judgeflow import nova_output
from tests.forms import published as p

RUBRIC = "rubric_llm_judge"
FOLDER = f"{p.RUBRIC_NOTEBOOK_RUN}/eval_results"
DETAILS_DIR = f"{FOLDER}/details/rubric_judge_model/{p.RUBRIC_STAMP}"
RUBRIC_SUMMARY = {p.RUBRIC_NOTEBOOK_SUMMARY_PATH: p.json_bytes(p.lighteval_document(p.RUBRIC_NOTEBOOK,
                                                                                    key=p.RUBRIC_KEY))}
CATEGORIES = ["news", "history", "org", "dates", "misc", "misc", "places"]


def notebook_rows() -> list[dict]:
    return [{"metrics": p.rubric_metrics(label), "example": f"question {n}"}
            for n, label in enumerate(p.RUBRIC_NOTEBOOK_ROW_LABELS)]


def details_name(part: str = "") -> str:
    return f"{DETAILS_DIR}/details_{p.RUBRIC_KEY}_{p.RUBRIC_STAMP}{part}.parquet"


def test_the_rubric_notebooks_details_count_each_item_once():
    """7 rows (B rows 0, 3, 6; A rows 1, 2; rows 4, 5 without a verdict) against a summary of 11
    judgments: judgeflow's figures are over the 7 items, the service's stay as published."""
    bundle = p.build({**RUBRIC_SUMMARY, p.RUBRIC_NOTEBOOK_DETAILS_PATH: p.parquet(notebook_rows())},
                     task=RUBRIC, sidecar=p.sidecar(CATEGORIES))
    run = p.run_row(bundle)
    assert (run["a_wins"], run["b_wins"], run["ties"], run["inference_errors"], run["items"]) == (2, 3, 0, 2, 7)
    assert run["jf_count_unit"] == "item" and run["jf_error_rate"] == pytest.approx(2 / 7)
    assert run["verdict"] == "unreliable"  # 29% of items without a verdict, over the 20% limit
    assert (run["service_a_scores"], run["service_b_scores"], run["service_inference_error"]) == (3.0, 7.0, 1.0)
    assert json.loads(run["warnings_json"]) == []  # 11 judgments for 7 items is what the service publishes
    items = p.lake_rows(bundle, "items")
    assert [row["preference"] for row in items] == ["B", "A", "A", "B", "error", "error", "B"]
    assert [row["category"] for row in items] == CATEGORIES
    assert {c["name"] for c in items[0]["criteria"]} == {"accuracy", "completeness", "clarity"}
    assert items[0]["criteria"][0]["weight"] in (0.6, 0.25, 0.15)
    assert {row["details_file"] for row in items} == {p.RUBRIC_NOTEBOOK_DETAILS_PATH}


@pytest.mark.parametrize("predictions", [
    "[[B>A]]",  # a plain string
    "['[[B>A]]']",  # the text of a Python list (the container demo notebook handles this)
    ["[[B>A]]"],  # an array
    ["thinking... [[A>B]] no wait", "final: [[B>A]]"],  # several texts: the last label wins
], ids=["string", "list-text", "array", "array-of-two"])
def test_predictions_in_a_column_of_their_own_as_a_string_or_an_array(predictions):
    rows = [{"metrics": repr({"weighted_score_A": 0.4, "weighted_score_B": 0.7}), "predictions": predictions}]
    bundle = p.build({**RUBRIC_SUMMARY, details_name(): p.parquet(rows)}, task=RUBRIC)
    (item,) = p.lake_rows(bundle, "items")
    assert (item["preference"], item["weighted_score_b"]) == ("B", 0.7)


def test_split_details_are_all_read_in_name_order():
    """Three files, named so text order would put part10 before part2: rows follow natural order."""
    labels = p.RUBRIC_NOTEBOOK_ROW_LABELS
    parts = {details_name("_part1"): labels[0:3], details_name("_part2"): labels[3:5], details_name("_part10"): labels[5:]}
    files = {name: p.parquet([{"metrics": p.rubric_metrics(label)} for label in chunk]) for name, chunk in parts.items()}
    bundle = p.build({**RUBRIC_SUMMARY, **files}, task=RUBRIC, sidecar=p.sidecar(CATEGORIES))
    run = p.run_row(bundle)
    assert (run["details_files"], run["items"], run["a_wins"], run["b_wins"]) == (3, 7, 2, 3)
    items = p.lake_rows(bundle, "items")
    assert [row["item_index"] for row in items] == list(range(7))
    assert [row["line_number"] for row in items] == list(range(1, 8))
    assert [row["details_file"] for row in items] == [details_name("_part1")] * 3 + [details_name("_part2")] * 2 + [
        details_name("_part10")] * 2


def _pandas_parquet(frame: pd.DataFrame) -> bytes:
    return p.parquet(pa.Table.from_pandas(frame))  # keeps the DataFrame index, as DataFrame.to_parquet does


def test_rows_written_out_of_order_are_matched_by_their_stored_index():
    """A file written from a DataFrame keeps its index: a shuffled file, and a second file whose
    range index continues the first, land on their own input lines."""
    labels = p.RUBRIC_NOTEBOOK_ROW_LABELS
    shuffled = pd.DataFrame({"metrics": [p.rubric_metrics(labels[i]) for i in (3, 0, 2, 1)]}, index=[3, 0, 2, 1])
    rest = pd.DataFrame({"metrics": [p.rubric_metrics(label) for label in labels[4:]]}, index=pd.RangeIndex(4, 7))
    bundle = p.build({**RUBRIC_SUMMARY, details_name("_0"): _pandas_parquet(shuffled),
                      details_name("_1"): _pandas_parquet(rest)}, task=RUBRIC, sidecar=p.sidecar(CATEGORIES))
    items = p.lake_rows(bundle, "items")
    assert [row["preference"] for row in items] == ["B", "A", "A", "B", "error", "error", "B"]
    assert [row["category"] for row in items] == CATEGORIES
    assert bundle.summary["warnings"] == []


def test_stored_indexes_that_overlap_fall_back_to_position_and_say_so():
    labels = p.RUBRIC_NOTEBOOK_ROW_LABELS
    first = pd.DataFrame({"metrics": [p.rubric_metrics(label) for label in labels[:4]]})  # index 0..3
    second = pd.DataFrame({"metrics": [p.rubric_metrics(label) for label in labels[4:]]})  # index 0..2 again
    bundle = p.build({**RUBRIC_SUMMARY, details_name("_0"): _pandas_parquet(first),
                      details_name("_1"): _pandas_parquet(second)}, task=RUBRIC)
    assert [row["item_index"] for row in p.lake_rows(bundle, "items")] == list(range(7))
    assert ("the 2 details files' stored indexes overlap: rows are matched to items by position, files in name "
            "order") in bundle.summary["warnings"]


def test_a_count_that_differs_from_the_staged_input_is_a_warning_with_both_numbers():
    bundle = p.build({**RUBRIC_SUMMARY, p.RUBRIC_NOTEBOOK_DETAILS_PATH: p.parquet(notebook_rows()[:5])},
                     task=RUBRIC, records=7)
    assert "the details hold 5 items but 7 were staged for the judge" in bundle.summary["warnings"]


def test_pairwise_details_that_disagree_with_the_summary_are_a_warning_with_both_numbers():
    summary = {"a_scores": 2.0, "b_scores": 4.0, "ties": 0.0, "inference_error": 0.0}
    rows = [{"forward_output": "[[B>A]]", "backward_output": "[[A>B]]"}] * 2
    bundle = p.build({"r/eval_results/results_1.json": p.json_bytes(p.lighteval_document(summary)),
                      "r/eval_results/details/m/t/details_x.parquet": p.parquet(rows)})
    assert ("the summary counts 6 judgments but the details hold 2 items (2 judgments per item: 4 expected)"
            in bundle.summary["warnings"])


def test_pairwise_judgments_inside_a_metrics_column_are_read():
    rows = [{"metrics": repr({"forward_output": "[[B>A]]", "backward_output": "[[A>B]]"})}]
    bundle = p.build({"r/eval_results/results_1.json": p.json_bytes(p.lighteval_document({"b_scores": 2.0})),
                      "r/eval_results/details/m/t/details_x.parquet": p.parquet(rows)})
    (item,) = p.lake_rows(bundle, "items")
    assert (item["forward_verdict"], item["backward_verdict"], item["preference"]) == ("B", "B", "B")


@pytest.mark.parametrize("task, rows, words", [
    ("llm_judge", [{"metrics": p.rubric_metrics("[[B>A]]")}],
     "a pairwise (llm_judge) details file needs columns forward_output and backward_output, or a metrics column "
     "holding them; found columns ['metrics'] (the columns of a rubric_llm_judge details file)"),
    (RUBRIC, [{"forward_output": "[[A>B]]", "backward_output": "[[B>A]]"}],
     "a rubric (rubric_llm_judge) details file needs a metrics or a predictions column; found columns "
     "['backward_output', 'forward_output'] (the columns of a llm_judge details file)"),
    ("llm_judge", [{"gold": "x", "example": "y"}],
     "found columns ['example', 'gold']; check the run's task"),
    (RUBRIC, [{"gold": "x", "example": "y"}], "found columns ['example', 'gold']; check the run's task"),
], ids=["rubric-file-in-pairwise-run", "pairwise-file-in-rubric-run", "neither-pairwise", "neither-rubric"])
def test_the_reader_is_the_runs_tasks_and_columns_fitting_neither_are_named(task, rows, words):
    name = "r/eval_results/details/m/t/details_x.parquet"
    with pytest.raises(nova_output.OutputError) as raised:
        p.build({"r/eval_results/results_1.json": p.json_bytes(p.lighteval_document({"a_scores": 1.0})),
                 name: p.parquet(rows)}, task=task)
    assert str(raised.value).startswith(f"{name}: ") and words in str(raised.value)


def test_an_unreadable_details_file_keeps_the_rest_and_counts_judgments():
    good = p.parquet(notebook_rows()[:3])
    bundle = p.build({**RUBRIC_SUMMARY, details_name("_0"): good, details_name("_1"): b"PAR1 not parquet"},
                     task=RUBRIC)
    run = p.run_row(bundle)
    assert (run["details_files"], run["items"], run["jf_count_unit"]) == (1, 3, "judgment")
    assert (run["a_wins"], run["b_wins"], run["inference_errors"]) == (3, 7, 1)  # the service's 11 judgments
    assert any(w.startswith(f"details Parquet {details_name('_1')} is unreadable") for w in bundle.summary["warnings"])
