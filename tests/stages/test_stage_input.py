"""Stage-input stage: the Nova-strict file keeps text byte for byte; extras go to the sidecar."""

from __future__ import annotations

import json

import pytest


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


def test_a_dataset_larger_than_tmp_stages_s3_to_s3(deployed):
    # 1 MB of /tmp for this function (AWS's least is 512 MB; a small budget lets a 10 MB file show
    # what a file over 512 MB would do): staging must not go through /tmp. 10 MB also takes the
    # multipart path (8 MiB parts).
    import dataclasses

    (name,) = [n for logical, n in deployed.jf.d.functions.items() if logical.startswith("StageInputStage")]
    lambdas = deployed.jf.aws.lambdas
    lambdas.register(dataclasses.replace(lambdas.functions[name], ephemeral_storage_mb=1))
    filler = "x" * 1000
    records = [{"prompt": f"p{i} {filler}", "response_A": "a", "response_B": "b", "category": f"c{i % 3}"}
               for i in range(10_000)]
    body = "".join(json.dumps(r) + "\n" for r in records).encode()
    deployed.put_dataset("big/large.jsonl", body)
    result = deployed.invoke("StageInputStage", {"run_id": "jf-big", "dataset": {
        "bucket": deployed.jf.d.datasets_bucket, "key": "big/large.jsonl", "bytes": len(body)}})
    assert result["items"] == len(records)
    staged = deployed.jf.read(deployed.jf.d.work_bucket, "runs/jf-big/input/llm_judge.jsonl").splitlines()
    assert len(staged) == len(records) and json.loads(staged[-1])["prompt"] == records[-1]["prompt"]
    sidecar = deployed.jf.read(deployed.jf.d.work_bucket, "runs/jf-big/sidecar/sidecar.jsonl").splitlines()
    assert json.loads(sidecar[-1]) == {"_line": len(records), "category": "c0"}
    assert not lambdas.storage_overruns


def stage(deployed, key: str, body: bytes, run_id: str) -> tuple[dict, bytes, bytes]:
    deployed.put_dataset(key, body)
    result = deployed.invoke("StageInputStage", {"run_id": run_id, "dataset": {
        "bucket": deployed.jf.d.datasets_bucket, "key": key, "bytes": len(body)}})
    work = deployed.jf.d.work_bucket
    return (result, deployed.jf.read(work, f"runs/{run_id}/input/llm_judge.jsonl"),
            deployed.jf.read(work, f"runs/{run_id}/sidecar/sidecar.jsonl"))


def test_crlf_dataset_stages_with_lf_line_ends_only(deployed):
    records = [{"prompt": "two\r\nlines", "response_A": "a", "response_B": "b", "category": "c"},
               {"prompt": "q", "response_A": "a\r", "response_B": "b", "id": 2}]
    body = b"".join(json.dumps(r).encode() + b"\r\n" for r in records) + b"\r\n"
    result, staged, sidecar = stage(deployed, "manual/windows.jsonl", body, "jf-crlf")
    assert result["items"] == 2
    assert b"\r" not in staged and b"\r" not in sidecar  # a CR in the text stays escaped (\r) in JSON
    assert staged.count(b"\n") == 2 and sidecar.count(b"\n") == 2
    assert [json.loads(line) for line in staged.splitlines()] == [
        {name: r[name] for name in ("prompt", "response_A", "response_B")} for r in records]
    assert [json.loads(line) for line in sidecar.splitlines()] == [{"_line": 1, "category": "c"}, {"_line": 2, "id": 2}]


def test_extra_fields_at_the_nesting_bound_stage_in_the_lambda_runtime(deployed):
    from judgeflow.validation import MAX_NESTING_DEPTH

    deep_list, deep_object = 1, 1
    for _ in range(MAX_NESTING_DEPTH - 1):  # the record itself is the first level
        deep_list, deep_object = [deep_list], {"a": deep_object}
    record = {"prompt": "p", "response_A": "a", "response_B": "b", "meta": deep_list, "tree": deep_object}
    result, staged, sidecar = stage(deployed, "manual/deep.jsonl", json.dumps(record).encode() + b"\n", "jf-deep")
    assert result["items"] == 1 and json.loads(staged) == {"prompt": "p", "response_A": "a", "response_B": "b"}
    assert json.loads(sidecar) == {"_line": 1, "meta": deep_list, "tree": deep_object}


def test_the_sidecar_never_lets_a_field_replace_the_line_number():
    from judgeflow.stages.stage_input import sidecar_line

    record = {"prompt": "p", "response_A": "a", "response_B": "b", "_line": 99}
    with pytest.raises(ValueError, match="reserved field '_line'"):
        sidecar_line(3, record)
    del record["_line"]
    row = sidecar_line(3, {**record, "line": 99, "category": {"k": [1]}, "id": "x"})
    assert row.startswith(b'{"_line":3,"category":{"k":[1]}') and json.loads(row) == {
        "_line": 3, "category": {"k": [1]}, "line": 99, "id": "x"}
