"""Validate stage: construct settings and the handler on real S3 objects."""

from __future__ import annotations

import json
from urllib.parse import quote_plus

import pytest

from tests.bad_inputs import BAD_INPUTS, GOOD, jsonl
from tests.conftest import sample_dataset
from tests.stages.conftest import LambdaError

EXECUTION = {"execution_arn": "arn:aws:states:us-east-1:123456789012:execution:m:e1", "execution_name": "e1"}


def validate(deployed, key, **request):
    return deployed.invoke("ValidateStage", {"request": {"bucket": deployed.jf.d.datasets_bucket, "key": key,
                                                         **request}, **EXECUTION})


def test_construct_gives_a_long_timeout_and_the_settings(stateless_template):
    functions = stateless_template.find_resources("AWS::Lambda::Function")
    (validate_fn,) = [f for k, f in functions.items() if k.startswith("ValidateStageValidate")]
    props = validate_fn["Properties"]
    assert props["Timeout"] == 900 and props["Runtime"] == "python3.14"
    assert props["Handler"] == "lambdas.validate.handler.lambda_handler"
    assert props["TracingConfig"] == {"Mode": "Active"}
    settings = json.loads(props["Environment"]["Variables"]["JUDGEFLOW_SETTINGS"])
    assert settings["token_limit"] == 7000


def test_valid_dataset_with_metadata_settings(deployed):
    deployed.put_dataset("manual/ok.jsonl", sample_dataset(), {"model-a": "aurora", "judge-model": "lite"})
    result = validate(deployed, "manual/ok.jsonl")
    assert result["valid"] is True
    assert result["dataset"]["records"] == 24 and len(result["dataset"]["sha256"]) == 64
    assert result["settings"]["model_a"] == "aurora" and result["settings"]["judge_model"] == "lite"


@pytest.mark.parametrize("key", ["manual/with space.jsonl", "manual/plus+sign.jsonl", "manual/ünï/cödé 日本.jsonl",
                                 "manual/nested/deeper/100%.jsonl"])
def test_url_encoded_event_keys_resolve(deployed, key):
    deployed.put_dataset(key, sample_dataset())
    assert validate(deployed, quote_plus(key, safe="/"))["dataset"]["key"] == key
    assert validate(deployed, key)["dataset"]["key"] == key


def test_bad_settings_reject_with_allowed_values_and_keep_the_original(deployed):
    deployed.put_dataset("manual/bad-settings.jsonl", sample_dataset(), {"judge-model": "huge"})
    result = validate(deployed, "manual/bad-settings.jsonl")
    assert result["valid"] is False
    assert "'huge' is not allowed; use one of ['micro', 'lite', 'pro', 'lite-2']" in result["message"]
    report = json.loads(deployed.jf.read(deployed.jf.d.datasets_bucket, "rejected/manual/bad-settings.jsonl.report.json"))
    assert report["settings_errors"][0]["field"] == "settings"
    assert deployed.jf.read(deployed.jf.d.datasets_bucket, "manual/bad-settings.jsonl") == sample_dataset()


def test_a_misspelt_metadata_setting_is_rejected_with_the_right_key(deployed):
    deployed.put_dataset("manual/unknown.jsonl", sample_dataset(), {"judge-modle": "lite"})
    result = validate(deployed, "manual/unknown.jsonl")
    assert result["valid"] is False
    assert "unknown S3 metadata key 'x-amz-meta-judge-modle': did you mean 'x-amz-meta-judge-model'?" in result["message"]


def test_metadata_from_upload_tools_is_ignored_with_a_warning_naming_it(deployed):
    deployed.put_dataset("manual/rclone.jsonl", sample_dataset(),
                         {"mtime": "1732449600.123456789", "s3cmd-attrs": "uid:1000/gid:1000", "model-a": "aurora"})
    result = validate(deployed, "manual/rclone.jsonl")
    assert result["valid"] is True and result["settings"]["model_a"] == "aurora"
    assert [(w["kind"], w["field"]) for w in result["warnings"]] == [
        ("ignored_metadata", "x-amz-meta-mtime"), ("ignored_metadata", "x-amz-meta-s3cmd-attrs")]


CONSOLE_MISTAKES = [
    # (id, execution input (BUCKET: the datasets bucket), words the sentence must hold)
    ("input-a-string", "incoming/x.jsonl", ["must be a JSON object", "got a string"]),
    ("input-an-array", ["BUCKET", "incoming/x.jsonl"], ["must be a JSON object", "got an array"]),
    ("input-null", None, ["must be a JSON object", "got null"]),
    ("key-missing", {"bucket": "BUCKET"}, ["missing ['key']", "example"]),
    ("key-not-a-string", {"bucket": "BUCKET", "key": 7}, ["missing ['key']"]),
    ("unknown-key", {"bucket": "BUCKET", "key": "incoming/x.jsonl", "model_a": "m"},
     ["unknown keys ['model_a']", "allowed keys"]),
    ("settings-a-string", {"bucket": "BUCKET", "key": "incoming/x.jsonl", "settings": "model_a=m"},
     ["'settings' must be an object, got a string"]),
    ("settings-an-array", {"bucket": "BUCKET", "key": "incoming/x.jsonl", "settings": ["m"]},
     ["'settings' must be an object, got an array"]),
    ("other-bucket", {"bucket": "someone-elses-bucket", "key": "incoming/x.jsonl"},
     ["someone-elses-bucket", "only reads datasets from its datasets bucket", "copy the file there"]),
    ("object-missing", {"bucket": "BUCKET", "key": "incoming/never-uploaded.jsonl"},
     ["incoming/never-uploaded.jsonl does not exist", "case-sensitive"]),
    ("version-missing", {"bucket": "BUCKET", "key": "manual/versioned.jsonl", "version_id": "AbC123notThere"},
     ["version 'AbC123notThere'", "does not exist"]),
    ("version-not-a-string", {"bucket": "BUCKET", "key": "manual/versioned.jsonl", "version_id": 12},
     ["'version_id' must be an S3 version id"]),
]


@pytest.mark.parametrize("request_input, words", [c[1:] for c in CONSOLE_MISTAKES], ids=[c[0] for c in CONSOLE_MISTAKES])
def test_every_console_mistake_is_a_rejection_with_a_sentence(shared_deployment, request_input, words):
    bucket = shared_deployment.jf.d.datasets_bucket
    shared_deployment.put_dataset("manual/versioned.jsonl", sample_dataset())
    request_input = json.loads(json.dumps(request_input).replace('"BUCKET"', json.dumps(bucket)))
    result = shared_deployment.invoke("ValidateStage", {"request": request_input, **EXECUTION})
    assert result["valid"] is False
    assert result["message"].startswith("Execution input rejected: ")
    for word in words:
        assert word in result["message"]
    assert "Traceback" not in result["message"] and result["upload"] == "execution:e1"


def test_the_version_the_event_names_is_judged_even_after_an_overwrite(shared_deployment):
    deployed = shared_deployment
    first = deployed.put_dataset("manual/overwritten.jsonl", jsonl(GOOD))
    deployed.put_dataset("manual/overwritten.jsonl", jsonl(GOOD, {**GOOD, "prompt": "another"}))
    result = validate(deployed, "manual/overwritten.jsonl", version_id=first)
    assert result["dataset"]["records"] == 1 and result["dataset"]["version_id"] == first
    assert result["upload"].endswith(f"?versionId={first}")
    current = validate(deployed, "manual/overwritten.jsonl")
    assert current["dataset"]["records"] == 2 and current["upload"] != result["upload"]


@pytest.mark.parametrize("name, data, expected", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_handler_rejects_every_bad_input_with_its_location(shared_deployment, name, data, expected):
    jf = shared_deployment.jf
    key = f"incoming-like/{name}.jsonl"  # not under incoming/: no run is started
    shared_deployment.put_dataset(key, data)
    result = validate(shared_deployment, key)

    assert result["valid"] is False
    report = json.loads(jf.read(jf.d.datasets_bucket, result["report_key"]))
    first = report["errors"][0]
    assert (first["line"], first["field"], first["kind"]) == expected
    assert result["report_key"] == f"rejected/incoming-like/{name}.jsonl.report.json"
    assert jf.read(jf.d.datasets_bucket, key) == data
    versions = jf.client("s3").list_object_versions(Bucket=jf.d.datasets_bucket, Prefix=key)["Versions"]
    assert [v["Key"] for v in versions] == [key]


def test_handler_accepts_warnings(shared_deployment):
    shared_deployment.put_dataset("manual/warn.txt", jsonl(GOOD, GOOD))
    result = validate(shared_deployment, "manual/warn.txt")
    assert result["valid"] is True
    assert {w["kind"] for w in result["warnings"]} == {"duplicate_row", "file_extension"}


def test_handler_accepts_crlf_line_ends_with_one_warning(shared_deployment):
    data = jsonl(GOOD, {**GOOD, "prompt": "another"}).replace(b"\n", b"\r\n")
    shared_deployment.put_dataset("manual/windows.jsonl", data)
    result = validate(shared_deployment, "manual/windows.jsonl")
    assert result["valid"] is True and result["dataset"]["records"] == 2
    assert [(w["kind"], w["line"]) for w in result["warnings"]] == [("crlf_line_end", 1)]
    import hashlib
    assert result["dataset"]["sha256"] == hashlib.sha256(data).hexdigest()
