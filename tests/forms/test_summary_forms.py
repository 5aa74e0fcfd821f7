"""Summary JSON forms: results.all, the task key alone, both rubric namings, unknown keys kept."""

from __future__ import annotations

import json

import pytest

from judgeflow import nova_output, stats
from tests.forms import published as p

SUMMARY = "run/eval_results/results_2025-06-26T22-02-09.817675.json"


def test_the_blog_example_under_results_all_is_kept_verbatim_and_counted_as_judgments():
    bundle = p.build({SUMMARY: p.json_bytes(p.lighteval_document(p.BLOG_PAIRWISE))})
    run = p.run_row(bundle)
    assert json.loads(run["service_metrics_json"]) == p.BLOG_PAIRWISE
    assert (run["service_winrate"], run["service_lower_rate"], run["service_upper_rate"]) == (0.38, 0.23, 0.56)
    assert (run["service_a_scores"], run["service_b_scores"], run["service_ties"],
            run["service_inference_error"]) == (16.0, 10.0, 0.0, 0.0)
    assert run["summary_key"] == "all" and run["results_folder"] == "run/eval_results"
    # No details: judgeflow's interval is over the service's 26 judgments, and says so.
    low, high = stats.wilson_interval(10, 26)
    assert (run["a_wins"], run["b_wins"], run["jf_count_unit"]) == (16, 10, "judgment")
    assert (run["jf_wilson_low"], run["jf_wilson_high"]) == pytest.approx((low, high))
    assert "over 26 decisive judgments" in run["verdict_reason"]


def test_the_notebook_run_counts_two_judgments_per_item():
    """The Nova 1.0 notebook: 6 questions, 12 evaluations. Staged 6 items: the counts add up; staged
    7: a warning with both numbers."""
    document = p.json_bytes(p.lighteval_document(p.NOTEBOOK_PAIRWISE))
    agreeing = p.build({p.NOTEBOOK_PAIRWISE_PATH: document}, records=p.NOTEBOOK_PAIRWISE_ITEMS)
    assert json.loads(p.run_row(agreeing)["warnings_json"]) == [
        "no details Parquet in the archive (the pairwise judge writes none): per-item verdicts are unavailable, "
        "statistics are over the service's counts"]
    run = p.run_row(agreeing)
    assert (run["service_winrate"], run["service_lower_rate"], run["service_upper_rate"]) == (0.75, 0.091, 0.917)
    assert run["results_folder"] == "nova-micro-llm-judge-eval-job/eval_results"
    off = p.build({p.NOTEBOOK_PAIRWISE_PATH: document}, records=7)
    assert ("the summary counts 12 judgments for 7 staged items (2 judgments per item: 14 expected)"
            in off.summary["warnings"])


def test_the_rubric_guide_schema_has_the_task_key_only():
    bundle = p.build({p.RUBRIC_NOTEBOOK_SUMMARY_PATH: p.json_bytes(p.RUBRIC_GUIDE_DOCUMENT)}, task="rubric_llm_judge")
    run = p.run_row(bundle)
    assert run["summary_key"] == p.RUBRIC_KEY
    assert (run["service_weighted_score_a"], run["service_weighted_score_b"], run["service_score_margin"]) == (
        0.495, 0.630, -0.135)
    assert (run["service_winrate"], run["service_lower_rate"], run["service_upper_rate"]) == (0.70, 0.40, 0.909)
    assert json.loads(run["service_metrics_json"]) == p.RUBRIC_GUIDE_DOCUMENT["results"][p.RUBRIC_KEY]
    assert (run["a_wins"], run["b_wins"], run["ties"], run["inference_errors"]) == (3, 7, 0, 1)


def test_the_rubric_notebook_names_are_read_and_criteria_weights_kept_verbatim():
    document = p.lighteval_document(p.RUBRIC_NOTEBOOK, key=p.RUBRIC_KEY)
    bundle = p.build({p.RUBRIC_NOTEBOOK_SUMMARY_PATH: p.json_bytes(document)}, task="rubric_llm_judge")
    run = p.run_row(bundle)
    assert (run["service_weighted_score_a"], run["service_weighted_score_b"], run["service_score_margin"],
            run["service_error_rate"]) == (0.495, 0.630, -0.135, 0.091)
    assert json.loads(run["service_metrics_json"])["criteria_weights"] == {"accuracy": 0.6, "completeness": 0.25,
                                                                           "clarity": 0.15}
    assert run["service_count_unit"] == "judgment" and run["jf_error_rate"] == pytest.approx(1 / 11)


def test_unknown_keys_and_lighteval_sections_never_fail_and_are_kept():
    metrics = {**p.BLOG_PAIRWISE, "position_bias": 0.1, "new_breakdown": {"x": [1, 2]}, "note": "text"}
    document = p.lighteval_document(metrics, config_tasks={"t": {}}, summary_tasks={}, summary_general={"n": 1})
    bundle = p.build({SUMMARY: p.json_bytes(document)})
    assert json.loads(p.run_row(bundle)["service_metrics_json"]) == metrics


def test_a_gen_qa_shaped_summary_with_equal_entries_reads_all():
    entry = {**p.BLOG_PAIRWISE}
    document = {"results": {p.PAIRWISE_KEY: entry, "all": entry}}
    assert p.run_row(p.build({SUMMARY: p.json_bytes(document)}))["summary_key"] == "all"


def test_equal_task_entries_without_all_read_the_runs_own_key():
    document = {"results": {"custom|other|0": p.BLOG_PAIRWISE, p.PAIRWISE_KEY: p.BLOG_PAIRWISE}}
    assert p.run_row(p.build({SUMMARY: p.json_bytes(document)}))["summary_key"] == p.PAIRWISE_KEY


def test_a_single_task_entry_under_another_name_is_read():
    """The SDK v3 reader takes the one entry there is, whatever its name."""
    document = {"results": {"custom|llm_judge|0": p.BLOG_PAIRWISE}}
    bundle = p.build({SUMMARY: p.json_bytes(document)})
    assert p.run_row(bundle)["summary_key"] == "custom|llm_judge|0"
    assert (f"{SUMMARY}: read the summary's only entry, 'custom|llm_judge|0', not named after the run's task "
            f"('{p.PAIRWISE_KEY}')") in bundle.summary["warnings"]


def test_several_differing_task_entries_are_an_error_naming_them():
    document = {"results": {p.PAIRWISE_KEY: p.BLOG_PAIRWISE, "custom|gen_qa_gen_qa|0": {"rouge1": 0.5}}}
    with pytest.raises(nova_output.OutputError) as raised:
        p.build({SUMMARY: p.json_bytes(document)})
    assert str(raised.value) == (
        f"{SUMMARY}: field 'results' has no 'all' and several task entries that differ (custom|gen_qa_gen_qa|0, "
        f"{p.PAIRWISE_KEY}); judgeflow cannot tell which one is the run's")


@pytest.mark.parametrize("results, words", [
    ({}, "holds neither 'all' nor a task entry such as 'custom|llm_judge_judge|0'"),
    ({p.PAIRWISE_KEY: {"a_scores": "3"}}, f"field 'results['{p.PAIRWISE_KEY}'].a_scores' must be a count"),
    ({p.RUBRIC_KEY: {"average_margin": "x"}}, "average_margin' must be a finite number"),
], ids=["empty", "task-key-count-as-text", "notebook-name-not-a-number"])
def test_a_malformed_task_entry_names_the_file_and_the_field(results, words):
    with pytest.raises(nova_output.OutputError, match=f"^{SUMMARY}: ") as raised:
        p.build({SUMMARY: p.json_bytes({"results": results})})
    assert words in str(raised.value)
