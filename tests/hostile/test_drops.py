"""Hostile S3 drops, all through one offline deployment at once: overwrites racing their own events,
events delivered twice or out of order, re-uploads, odd keys, hostile metadata and labels. Each case
asserts its outcome; `test_the_promises_hold_for_every_drop` checks the README's promises over all."""

from __future__ import annotations

import io
import json
from typing import Callable

import pyarrow.parquet as pq
import pytest

from offline.pipeline import ExecutionResult, OfflineJudgeflow
from tests.bad_inputs import GOOD, jsonl
from tests.conftest import sample_dataset
from tests.hostile.promises import check_promises, record_of

pytestmark = pytest.mark.e2e

HOSTILE_LABEL_A = "$\\frac{1}{2}$ <script>alert(1)</script> **bold**"
HOSTILE_LABEL_B = "b|c\\n`rm -rf /` [x](javascript:alert(1))"
HOSTILE_CATEGORIES = ["../../etc/passwd", "$x^2$", "<b>bold</b>", "a\nb"]


def dataset(tag: str, *, rows: int | None = None) -> bytes:
    """The sample dataset made unique to a case (same content would be one run across cases)."""
    lines = sample_dataset().decode().splitlines()[:rows]
    return "".join(json.dumps({**json.loads(line), "prompt": f"{json.loads(line)['prompt']} [{tag}]"},
                              ensure_ascii=False) + "\n" for line in lines).encode()


class Drops:
    """What the module uploaded: case -> [(key, version)], and every upload's bytes."""

    def __init__(self, jf: OfflineJudgeflow) -> None:
        self.jf = jf
        self.by_case: dict[str, list[tuple[str, str]]] = {}
        self.bodies: dict[tuple[str, str], bytes] = {}
        self.results: list[ExecutionResult] = []

    def put(self, case: str, name: str, body: bytes, metadata: dict[str, str] | None = None) -> tuple[str, str]:
        key = f"incoming/{case}/{name}"
        version = self.jf.client("s3").put_object(Bucket=self.jf.d.datasets_bucket, Key=key, Body=body,
                                                  Metadata=metadata or {})["VersionId"]
        self.by_case.setdefault(case, []).append((key, version))
        self.bodies[(key, version)] = body
        return key, version

    def executions(self, case: str) -> list[ExecutionResult]:
        keys = {key for key, _version in self.by_case[case]}
        sfn = self.jf.client("stepfunctions")
        return [r for r in self.results
                if json.loads(sfn.describe_execution(executionArn=r.arn)["input"]).get("key") in keys]

    def records(self, case: str) -> list[dict]:
        return [record_of(self.jf, result) for result in self.executions(case)]


def _overwrite_races_its_event(drops: Drops) -> None:
    # v1's event is held until v2 is written, then delivered after v2's: validation of v1 must
    # still read v1.
    jf = drops.jf
    jf.aws.hold_events = lambda rule, event: "overwrite" in event.get("detail", {}).get("object", {}).get("key", "")
    drops.put("overwrite", "data.jsonl", dataset("overwrite-v1"))
    drops.put("overwrite", "data.jsonl", dataset("overwrite-v2", rows=3))
    jf.aws.release_held_events(newest_first=True)


def _delivered_twice(drops: Drops, case: str, body: bytes, metadata: dict[str, str] | None = None) -> None:
    key, version = drops.put(case, "data.jsonl", body, metadata)
    drops.jf.aws.redeliver_object_created(drops.jf.d.datasets_bucket, key, version)


ACTIONS: dict[str, Callable[[Drops], None]] = {
    "overwrite": _overwrite_races_its_event,
    "same-file-two-names": lambda d: [d.put("same-file-two-names", name, dataset("twins"))
                                      for name in ("first.jsonl", "second name.jsonl")],
    "event-twice": lambda d: _delivered_twice(d, "event-twice", dataset("event-twice")),
    "rerun-event-twice": lambda d: _delivered_twice(d, "rerun-event-twice", dataset("rerun-twice"), {"rerun": "true"}),
    "rerun-uploaded-twice": lambda d: [d.put("rerun-uploaded-twice", "data.jsonl", dataset("rerun-up"),
                                             {"rerun": "true"}) for _ in range(2)],
    "rejected-uploaded-twice": lambda d: [d.put("rejected-uploaded-twice", "bad.jsonl", jsonl({"prompt": "p"}))
                                          for _ in range(2)],
    "rejected-event-twice": lambda d: _delivered_twice(d, "rejected-event-twice", jsonl({"prompt": "q"})),
    "mime-metadata": lambda d: d.put("mime-metadata", "data.jsonl", dataset("mime"),
                                     {"model-a": "=?UTF-8?B?w6lsYW4tN2Ig5pel5pys?="}),
    "odd-key": lambda d: d.put("odd-key", "ünï cödé+plus 日本 100%.jsonl", dataset("odd")),
    "hostile-labels": lambda d: d.put("hostile-labels", "data.jsonl", dataset("labels"),
                                      {"model-a": HOSTILE_LABEL_A, "model-b": HOSTILE_LABEL_B}),
    "label-too-long": lambda d: d.put("label-too-long", "data.jsonl", dataset("long"), {"model-b": "m" * 129}),
    "crlf": lambda d: d.put("crlf", "data.jsonl", dataset("crlf").replace(b"\n", b"\r\n")),
    "hostile-categories": lambda d: d.put("hostile-categories", "data.jsonl", jsonl(
        *[{**GOOD, "prompt": f"capital question {i}", "category": HOSTILE_CATEGORIES[i % 4]} for i in range(8)])),
    "empty-file": lambda d: d.put("empty-file", "empty.jsonl", b""),
    "gzip-file": lambda d: d.put("gzip-file", "data.jsonl.gz", __import__("gzip").compress(dataset("gz"))),
    "reserved-field": lambda d: d.put("reserved-field", "data.jsonl", jsonl({**GOOD, "_line": 99})),
    "nested-too-deep": lambda d: d.put("nested-too-deep", "data.jsonl",
                                       jsonl({**GOOD, "meta": json.loads("[" * 200 + "]" * 200)})),
    "bad-judge-model": lambda d: d.put("bad-judge-model", "data.jsonl", dataset("judge"), {"judge-model": "huge"}),
}


@pytest.fixture(scope="module")
def drops(assembly):
    from offline.pipeline import OfflineJudgeflow
    from offline.synth import default_context
    from tests.conftest import STACKS

    with OfflineJudgeflow(assembly, stack_order=STACKS, region=default_context()["region"],
                          quotas={"ml.g5.12xlarge": 50}) as jf:
        done = Drops(jf)
        for act in ACTIONS.values():
            act(done)
        expected = sum(len(keys) for keys in done.by_case.values()) + 3  # + the three redeliveries
        done.results = jf.wait_for(expected, timeout=300)
        yield done


def _one(results: list[ExecutionResult]) -> ExecutionResult:
    assert len(results) == 1, results
    return results[0]


def test_an_overwrite_before_validation_judges_each_upload_under_its_own_run(drops):
    records = sorted(drops.records("overwrite"), key=lambda r: r["records"])
    assert [r["status"] for r in records] == ["SUCCEEDED", "SUCCEEDED"]
    (v1_key, v1), (_key, v2) = drops.by_case["overwrite"]
    assert [(r["records"], r["dataset_version_id"]) for r in records] == [(3, v2), (24, v1)]
    assert records[0]["run_id"] != records[1]["run_id"]


def test_the_same_file_under_two_names_is_one_paid_job(drops):
    results = drops.executions("same-file-two-names")
    assert sorted(r.status for r in results) == ["SUCCEEDED", "SUCCEEDED"]
    assert sum("Already run - not launched again" in r.steps for r in results) == 1
    assert len({record["run_id"] for record in drops.records("same-file-two-names")}) == 1


@pytest.mark.parametrize("case", ["event-twice", "rerun-event-twice"])
def test_an_event_delivered_twice_launches_one_job(drops, case):
    results = drops.executions(case)
    assert len(results) == 2 and sum("Run Nova judge" in r.steps for r in results) == 1
    assert sum("Already run - not launched again" in r.steps for r in results) == 1


def test_rerun_uploaded_twice_is_two_runs_one_per_upload(drops):
    records = drops.records("rerun-uploaded-twice")
    assert len({r["run_id"] for r in records}) == 2 and {r["status"] for r in records} == {"SUCCEEDED"}
    assert {r["dataset_version_id"] for r in records} == {v for _k, v in drops.by_case["rerun-uploaded-twice"]}


def test_two_rejected_uploads_keep_two_consistent_records(drops):
    jf = drops.jf
    records = drops.records("rejected-uploaded-twice")
    assert len({r["run_id"] for r in records}) == 2 and {r["status"] for r in records} == {"REJECTED"}
    for record in records:
        report = jf.client("s3").get_object(Bucket=jf.d.datasets_bucket, Key=record["report_key"],
                                            VersionId=record["report_version_id"])["Body"].read()
        assert json.loads(report)["version_id"] == record["dataset_version_id"]


def test_a_rejection_delivered_twice_is_one_record_and_one_notification(drops):
    results = drops.executions("rejected-event-twice")
    assert [r.status for r in results] == ["FAILED", "FAILED"]
    assert len({record_of(drops.jf, r)["run_id"] for r in results}) == 1
    assert len([r for r in drops.jf.run_records() if "rejected-event-twice" in r.get("dataset_key", "")]) == 1
    told = [m for m in drops.jf.aws.published_messages() if "rejected-event-twice" in m["Subject"]]
    assert len(told) == 1


def test_mime_encoded_metadata_is_decoded(drops):
    (record,) = drops.records("mime-metadata")
    assert record["status"] == "SUCCEEDED" and record["model_a"] == "élan-7b 日本"


@pytest.mark.parametrize("case, words", [
    ("label-too-long", "model_b"),
    ("empty-file", "empty"),
    ("gzip-file", "binary"),
    ("bad-judge-model", "'huge' is not allowed"),
    ("reserved-field", "_line"),
    ("nested-too-deep", "64"),
])
def test_a_bad_drop_is_rejected_with_a_sentence_and_recorded(drops, case, words):
    result = _one(drops.executions(case))
    assert result.status == "FAILED" and result.error == "DatasetRejected"
    assert words in result.cause and "Traceback" not in result.cause
    (record,) = drops.records(case)
    assert record["status"] == "REJECTED" and words in record["reason"]


def test_odd_keys_run(drops):
    (record,) = drops.records("odd-key")
    assert record["status"] == "SUCCEEDED" and record["dataset_key"] == "incoming/odd-key/ünï cödé+plus 日本 100%.jsonl"


def test_hostile_labels_stay_verbatim_data(drops):
    jf = drops.jf
    result = _one(drops.executions("hostile-labels"))
    assert result.status == "SUCCEEDED", result.cause
    runs_row = pq.read_table(io.BytesIO(jf.read(*_split(result.output["locations"]["runs"])))).to_pylist()[0]
    assert (runs_row["model_a"], runs_row["model_b"]) == (HOSTILE_LABEL_A, HOSTILE_LABEL_B)
    markdown = jf.read(*_split(result.output["locations"]["summary.md"])).decode()
    assert "<script>" not in markdown and "&lt;script&gt;" in markdown
    told = [json.loads(m["Message"]) for m in jf.aws.published_messages()
            if json.loads(m["Message"]).get("run_id") == result.output["run_id"]]
    assert len(told) == 1


def test_crlf_is_accepted_and_staged_with_lf(drops):
    jf = drops.jf
    (record,) = drops.records("crlf")
    assert record["status"] == "SUCCEEDED"
    staged = jf.read(jf.d.work_bucket, f"runs/{record['run_id']}/input/llm_judge.jsonl")
    assert b"\r" not in staged and staged.count(b"\n") == 24


def test_hostile_categories_are_kept_verbatim_in_the_items(drops):
    jf = drops.jf
    result = _one(drops.executions("hostile-categories"))
    assert result.status == "SUCCEEDED", result.cause
    items = pq.read_table(io.BytesIO(jf.read(*_split(result.output["locations"]["items"])))).to_pylist()
    assert [row["category"] for row in items] == [HOSTILE_CATEGORIES[i % 4] for i in range(8)]
    assert not [k for k in jf.keys(jf.d.metrics_bucket) if "passwd" in k or "etc/" in k]


def test_the_promises_hold_for_every_drop(drops):
    check_promises(drops.jf, drops.results, drops.bodies)


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key
