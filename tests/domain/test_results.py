"""build_results: counts, our statistics next to the service's, rubric items, categories."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from judgeflow.stages import results
from offline import nova_emulator as emulator

PAIRWISE = "run: {name: r, model_name_or_path: nova-micro/prod}\nevaluation: {task: llm_judge}\n"
RUBRIC = "run: {name: r, model_name_or_path: nova-lite-2/prod}\nevaluation: {task: rubric_llm_judge}\n"
RECORDS = [
    {"prompt": "capital of France", "response_A": "The capital of France is Paris.", "response_B": "Lyon"},
    {"prompt": "largest ocean", "response_A": "?", "response_B": "The largest ocean is the Pacific."},
    {"prompt": "boiling point of water", "response_A": "100 C", "response_B": "Water boils at 100 C at sea level."},
    {"prompt": "hello", "response_A": "same", "response_B": "same"},
]


def build(archive: bytes, task: str = "llm_judge", sidecar: bytes | None = None) -> results.ResultBundle:
    return results.build_results(archive, context=results.RunContext(run_id="jf-t", task=task),
                                 sidecar=sidecar, finished_at=1_700_000_000, date="2026-11-23")


def table(bundle, kind: str):
    (key,) = [k for k in bundle.files if k.startswith(f"lake/{kind}/")]
    assert key == f"lake/{kind}/dt=2026-11-23/jf-t.parquet"
    return pq.read_table(io.BytesIO(bundle.files[key])).to_pylist()


def test_pairwise_counts_statistics_and_labels():
    bundle = build(emulator.emulate(RECORDS, PAIRWISE))
    (run,) = table(bundle, "runs")
    assert (run["a_wins"], run["b_wins"], run["ties"], run["inference_errors"]) == (1, 2, 1, 0)
    assert run["service_winrate"] == 0.67  # the service's (emulated) number, verbatim
    assert run["jf_b_share_decisive"] == pytest.approx(2 / 3)
    assert run["jf_tie_half_win_rate"] == pytest.approx(2.5 / 4)
    assert run["jf_agreement_rate"] == 1.0 and run["produced_by"] == "local-emulator"
    # The service counts judgments, both orders of each item: 2 for the item A wins in both.
    assert json.loads(run["service_metrics_json"])["a_scores"] == 2.0 and run["service_a_scores"] == 2.0
    assert run["jf_count_unit"] == "item" and run["service_count_unit"] == "judgment"
    items = table(bundle, "items")
    assert [i["preference"] for i in items] == ["A", "B", "B", "tie"]
    assert items[0]["forward_verdict"] == "A" and items[0]["backward_verdict"] == "A"


def test_rubric_items_carry_weighted_scores_and_criteria():
    bundle = build(emulator.emulate(RECORDS, RUBRIC), task="rubric_llm_judge")
    items = table(bundle, "items")
    assert items[1]["preference"] == "B" and items[1]["weighted_score_b"] > items[1]["weighted_score_a"]
    assert {c["name"] for c in items[0]["criteria"]} == {"relevance", "length"}
    (run,) = table(bundle, "runs")
    assert run["service_weighted_score_b"] is not None and run["service_score_margin"] is not None
    assert [c["name"] for c in bundle.summary["criteria"]] == ["length", "relevance"]
    assert bundle.files["reports/jf-t/report.png"].startswith(b"\x89PNG")


def test_per_category_rates_join_the_sidecar():
    sidecar = b"".join(json.dumps(row).encode() + b"\n" for row in [
        {"_line": 1, "category": "geo"}, {"_line": 2, "category": "geo", "id": 7},
        {"_line": 3, "category": "sci"}, {"_line": 5, "category": "sci"}])
    bundle = build(emulator.emulate(RECORDS, PAIRWISE), sidecar=sidecar)
    categories = {c["category"]: c for c in bundle.summary["per_category"]}
    assert (categories["geo"]["A"], categories["geo"]["B"]) == (1, 1)
    assert categories["geo"]["b_share"] == 0.5
    items = table(bundle, "items")
    assert [i["line_number"] for i in items] == [1, 2, 3, 5]
    assert json.loads(items[1]["sidecar_json"]) == {"_line": 2, "category": "geo", "id": 7}


def test_sidecar_with_mixed_types_still_joins():
    sidecar = b'{"_line": 1, "category": 3}\n{"_line": 2, "category": ["x", "y"]}\n{"_line": 4}\n'
    items = table(build(emulator.emulate(RECORDS, PAIRWISE), sidecar=sidecar), "items")
    assert [i["category"] for i in items] == ["3", '["x", "y"]', None, None]
    assert [i["line_number"] for i in items] == [1, 2, 4, None]


def test_extra_fields_at_the_nesting_bound_pass_validation_staging_and_the_items_parquet():
    from judgeflow.stages.stage_input import iter_records, sidecar_line
    from judgeflow.validation import MAX_NESTING_DEPTH, validate_stream

    deep_list, deep_object = "leaf", "leaf"
    for _ in range(MAX_NESTING_DEPTH - 1):  # the record itself is the first level
        deep_list, deep_object = [deep_list, 2], {"a": deep_object, "b": None}
    dataset = b"".join(json.dumps({**r, "meta": deep_list, "tree": deep_object}).encode() + b"\n" for r in RECORDS)
    assert validate_stream([dataset], source="d.jsonl", task="llm_judge", token_limit=7000, max_rows=10).valid
    sidecar = b"".join(sidecar_line(n, r) for n, r in iter_records([dataset]))
    items = table(build(emulator.emulate(RECORDS, PAIRWISE), sidecar=sidecar), "items")
    assert [i["line_number"] for i in items] == [1, 2, 3, 4]
    assert all(json.loads(i["sidecar_json"])["meta"] == deep_list for i in items)
    assert all(json.loads(i["sidecar_json"])["tree"] == deep_object for i in items)


def staged_sidecar(records: list[dict]) -> bytes:
    """The sidecar staging writes for `records`, after checking they pass validation."""
    from judgeflow.stages.stage_input import iter_records, sidecar_line
    from judgeflow.validation import validate_stream

    dataset = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)
    report = validate_stream([dataset], source="d.jsonl", task="llm_judge", token_limit=7000, max_rows=10)
    assert report.valid, report.summary()
    return b"".join(sidecar_line(n, r) for n, r in iter_records([dataset]))


def test_a_category_of_any_json_type_is_kept_and_grouped_by_its_json_text():
    categories = [3, {"name": "café", "tags": ["a", "b"]}, None, 'say "hi"']
    sidecar = staged_sidecar([{**r, "category": c, "id": i} for i, (r, c) in enumerate(zip(RECORDS, categories))])
    bundle = build(emulator.emulate(RECORDS, PAIRWISE), sidecar=sidecar)
    items = table(bundle, "items")
    assert [i["category"] for i in items] == ["3", '{"name": "café", "tags": ["a", "b"]}', None, 'say "hi"']
    assert [json.loads(i["sidecar_json"]) for i in items] == [
        {"_line": n + 1, "category": c, "id": n} for n, c in enumerate(categories)]
    assert {c["category"] for c in bundle.summary["per_category"]} >= {"3", 'say "hi"'}


def test_staged_sidecar_rows_are_read_without_parsing_each_row(monkeypatch):
    """Staging writes compact JSON ({"_line":1,...}): the vectorized head regex must read it, so
    100,000 rows never go through json.loads one by one."""
    from judgeflow import items as items_module

    sidecar = staged_sidecar([{**r, "category": c, "id": i} for i, (r, c) in
                              enumerate(zip(RECORDS, ["geo", "日本", "geo", "sci"]))])

    def no_row_parsing(text):
        raise AssertionError(f"row parsed one by one: {text}")

    import types
    monkeypatch.setattr(items_module, "json", types.SimpleNamespace(loads=no_row_parsing, dumps=json.dumps))
    line_numbers, categories, rows = items_module._sidecar_columns(sidecar, np.arange(4))
    assert line_numbers.to_pylist() == [1, 2, 3, 4] and categories.to_pylist() == ["geo", "日本", "geo", "sci"]
    assert rows.to_pylist() == sidecar.decode().splitlines()


def test_label_is_the_last_one_and_missing_labels_are_errors():
    from judgeflow.items import items_table
    import pyarrow as pa
    from judgeflow.nova_output import Details
    details = pa.table({"item_index": [0, 1, 2],
                        "forward_output": ["maybe [[B>A]]... final [[A>B]]", "no label", "[[A=B (bothbad)]]"],
                        "backward_output": ["[[B>A]]", "[[A>B]]", "[[A=B]]"]})
    rows = items_table("r", Details(table=details, files=("d",), complete=True), None, task="llm_judge").to_pylist()
    assert [(r["forward_verdict"], r["backward_verdict"], r["preference"]) for r in rows] == [
        ("A", "A", "A"), (None, "B", "error"), ("tie", "tie", "tie")]
    assert [r["orders_agree"] for r in rows] == [True, None, True]


def test_missing_details_keep_the_summary():
    import tarfile
    buffer = io.BytesIO()
    doc = json.dumps({"results": {"all": {"a_scores": 3.0, "b_scores": 1.0, "ties": 0.0, "inference_error": 0.0,
                                          "winrate": 0.25, "lower_rate": 0.1, "upper_rate": 0.6}}}).encode()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("r/eval_results/results_1.json")
        info.size = len(doc)
        tar.addfile(info, io.BytesIO(doc))
    bundle = build(buffer.getvalue())
    (run,) = table(bundle, "runs")
    assert (run["a_wins"], run["b_wins"], run["items"]) == (3, 1, 0)
    assert run["jf_count_unit"] == "judgment" and "over 4 decisive judgments" in run["verdict_reason"]
    assert "no details Parquet" in bundle.summary["warnings"][0]


def test_empty_judge_output_is_unreliable_not_silent():
    bundle = build(emulator.emulate([], PAIRWISE))
    assert bundle.status == "UNRELIABLE"
    assert bundle.summary["judgeflow_statistics"]["verdict_reason"] == "nothing was judged (0 items)"
    assert table(bundle, "items") == []
