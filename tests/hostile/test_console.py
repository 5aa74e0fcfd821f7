"""Hostile console and CLI executions: every mistake a person can make in the execution input ends
as a recorded rejection whose cause is a sentence, and nothing is read from another bucket."""

from __future__ import annotations

import pytest

from tests.hostile.promises import check_promises, record_of, uploads
from tests.hostile.test_drops import dataset

pytestmark = pytest.mark.e2e

# (id, execution input with BUCKET for the datasets bucket, words of the cause)
MISTAKES = [
    ("a-string", "incoming/console/data.jsonl", "must be a JSON object"),
    ("an-array", ["BUCKET", "incoming/console/data.jsonl"], "got an array"),
    ("empty-object", {}, "missing ['bucket', 'key']"),
    ("other-bucket", {"bucket": "attacker-bucket", "key": "incoming/console/data.jsonl"},
     "only reads datasets from its datasets bucket"),
    ("missing-object", {"bucket": "BUCKET", "key": "incoming/console/nope.jsonl"}, "does not exist"),
    ("settings-a-string", {"bucket": "BUCKET", "key": "incoming/console/data.jsonl", "settings": "fast"},
     "'settings' must be an object, got a string"),
    ("unknown-setting", {"bucket": "BUCKET", "key": "incoming/console/data.jsonl", "settings": {"modelA": "x"}},
     "allowed keys"),
    ("missing-version", {"bucket": "BUCKET", "key": "incoming/console/data.jsonl", "version_id": "nope-123"},
     "does not exist"),
]


@pytest.fixture(scope="module")
def console(assembly):
    from offline.pipeline import OfflineJudgeflow
    from offline.synth import default_context
    from tests.conftest import STACKS

    with OfflineJudgeflow(assembly, stack_order=STACKS, region=default_context()["region"]) as jf:
        s3 = jf.client("s3")
        # Two uploads (each runs from its own event); a console run below judges the first on purpose.
        first = s3.put_object(Bucket=jf.d.datasets_bucket, Key="incoming/console/data.jsonl",
                              Body=dataset("console-v1"))["VersionId"]
        s3.put_object(Bucket=jf.d.datasets_bucket, Key="incoming/console/data.jsonl",
                      Body=dataset("console-v2", rows=2))
        jf.wait_for(2)
        originals = uploads(jf)
        arns = {}
        for case, execution_input, _words in MISTAKES:
            execution_input = _with_bucket(execution_input, jf.d.datasets_bucket)
            arns[case] = jf.start_console_run(execution_input)
        arns["earlier-version"] = jf.start_console_run(
            {"bucket": jf.d.datasets_bucket, "key": "incoming/console/data.jsonl", "version_id": first,
             "settings": {"model_a": "console"}})
        results = jf.wait_for(len(arns) + 2, timeout=180)
        yield jf, {case: jf.result(arn) for case, arn in arns.items()}, results, originals


def _with_bucket(value, bucket):
    if value == "BUCKET":
        return bucket
    if isinstance(value, list):
        return [_with_bucket(v, bucket) for v in value]
    if isinstance(value, dict):
        return {k: _with_bucket(v, bucket) for k, v in value.items()}
    return value


@pytest.mark.parametrize("case, words", [(c, w) for c, _i, w in MISTAKES], ids=[c for c, _i, _w in MISTAKES])
def test_a_console_mistake_is_a_recorded_rejection_with_a_sentence(console, case, words):
    jf, by_case, _results, _originals = console
    result = by_case[case]
    assert result.status == "FAILED" and result.error == "DatasetRejected", result
    assert words in result.cause
    assert "Traceback" not in result.cause and "stackTrace" not in result.cause
    record = record_of(jf, result)
    assert record["status"] == "REJECTED" and record["reason"] == result.cause


def test_a_console_run_of_an_earlier_version_judges_that_version(console):
    jf, by_case, _results, _originals = console
    result = by_case["earlier-version"]
    assert result.status == "SUCCEEDED", result.cause
    record = record_of(jf, result)
    assert record["records"] == 24 and record["model_a"] == "console"


def test_the_promises_hold_for_every_console_run(console):
    jf, _by_case, results, originals = console
    check_promises(jf, results, originals)
