"""Stage-input stage: the Nova-strict file keeps text byte for byte; extras go to the sidecar."""

from __future__ import annotations

import json


def test_staged_file_has_exactly_the_three_fields_and_unchanged_text(deployed):
    records = [{"id": 1, "category": "ja", "prompt": "日本の首都は？", "response_A": "東京です。", "response_B": "Tōkyō — naïve “quotes”"},
               {"prompt": "emoji 🙂", "response_A": "a\\nb", "response_B": "tab\tin"}]
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    deployed.put_dataset("manual/unicode.jsonl", body)
    result = deployed.invoke("StageInputStage", {"run_id": "jf-test", "dataset": {"bucket": deployed.jf.d.datasets_bucket,
                                                                            "key": "manual/unicode.jsonl"}})
    assert result["items"] == 2
    staged = deployed.jf.read(deployed.jf.d.work_bucket, "runs/jf-test/input/llm_judge.jsonl")
    assert "東京です。".encode() in staged and b"\\u" not in staged
    lines = [json.loads(line) for line in staged.decode().splitlines()]
    assert [list(line) for line in lines] == [["prompt", "response_A", "response_B"]] * 2
    assert [line["response_B"] for line in lines] == [r["response_B"] for r in records]
    sidecar = [json.loads(line) for line in deployed.jf.read(deployed.jf.d.work_bucket,
                                                              "runs/jf-test/sidecar/sidecar.jsonl").decode().splitlines()]
    assert sidecar == [{"_line": 1, "id": 1, "category": "ja"}, {"_line": 2}]
