"""The counting unit: the service counts judgments (a pairwise item twice, once per order);
judgeflow counts items, each once, from the details, and says which unit its interval is over
when only the summary exists (runs row, verdict reason, report, summary.md)."""

from __future__ import annotations

import json

import pytest

from judgeflow import report, stats
from tests.domain.test_report import drawn  # noqa: F401 (the fixture)
from tests.forms import published as p

SUMMARY = "run/eval_results/results_2025-06-26T22-02-09.817675.json"
DETAILS = "run/eval_results/details/model/2025-06-26T22-02-09.817675/details_x.parquet"
# Item 0: B in both orders; item 1: the orders disagree (A first, then B); item 2: A in both.
# The service counts each order: a_scores 3, b_scores 3 of 6 judgments.
ROWS = [{"forward_output": "[[B>A]]", "backward_output": "[[A>B]]"},
        {"forward_output": "[[A>B]]", "backward_output": "[[A>B]]"},
        {"forward_output": "[[A>B]]", "backward_output": "[[B>A]]"}]
JUDGMENTS = {"a_scores": 3.0, "b_scores": 3.0, "ties": 0.0, "inference_error": 0.0, "winrate": 0.5,
             "lower_rate": 0.1, "upper_rate": 0.9}


def test_with_details_each_item_counts_once_and_a_split_item_is_one_tie():
    bundle = p.build({SUMMARY: p.json_bytes(p.lighteval_document(JUDGMENTS)), DETAILS: p.parquet(ROWS)}, records=3)
    run = p.run_row(bundle)
    assert (run["a_wins"], run["b_wins"], run["ties"], run["inference_errors"], run["items"]) == (1, 1, 1, 0, 3)
    assert run["jf_count_unit"] == "item" and run["service_count_unit"] == "judgment"
    assert (run["service_a_scores"], run["service_b_scores"], run["service_winrate"]) == (3.0, 3.0, 0.5)
    assert run["jf_tie_half_win_rate"] == pytest.approx(0.5) and run["jf_agreement_rate"] == pytest.approx(2 / 3)
    assert (run["jf_wilson_low"], run["jf_wilson_high"]) == pytest.approx(stats.wilson_interval(1, 2))
    assert json.loads(run["warnings_json"]) == []
    assert "over 2 decisive items" in run["verdict_reason"]
    shown = report.markdown_text("items, each counted once (from the details)")
    assert f"| counted over | {shown} |" in bundle.files["reports/jf-form/summary.md"].decode()


def test_summary_only_says_the_interval_is_over_judgments_everywhere(drawn):  # noqa: F811
    bundle = p.build({SUMMARY: p.json_bytes(p.lighteval_document(p.BLOG_PAIRWISE))})
    run = p.run_row(bundle)
    assert run["jf_count_unit"] == "judgment" and "over 26 decisive judgments" in run["verdict_reason"]
    statistics = bundle.summary["judgeflow_statistics"]
    assert statistics["unit"] == "judgment" and bundle.summary["service_count_unit"] == "judgment"
    markdown = bundle.files["reports/jf-form/summary.md"].decode()
    shown = report.markdown_text("the service's judgments (no per-item details; the service judges an item more "
                                 "than once, the pairwise judge in both orders, so this interval is narrower than one "
                                 "over items)")
    assert f"| counted over | {shown} |" in markdown
    assert "| A / B / ties / errors (judgments) | 16 / 10 / 0 / 0 |" in markdown
    assert "(judgments) | 16.0 / 10.0 / 0.0 / 0.0 |" in markdown
    report.render_png(bundle.summary)
    texts = [text for text, _ in drawn["text"]]
    assert "service judgments (no details)" in texts and "judgments" in texts
    assert "B wins 38% of decisive judgments" in texts


def test_the_unit_is_never_items_for_counts_that_came_from_the_summary():
    """An unreadable details file leaves the summary's counts: judgments, said so."""
    bundle = p.build({SUMMARY: p.json_bytes(p.lighteval_document(JUDGMENTS)), DETAILS: b"not parquet"})
    run = p.run_row(bundle)
    assert (run["jf_count_unit"], run["a_wins"], run["b_wins"]) == ("judgment", 3, 3)
