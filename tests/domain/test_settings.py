"""Settings from cdk.json context: validated once, with messages that name the key."""

from __future__ import annotations

import json

import pytest

from judgeflow.runs import RunSettingsError, resolve_run_settings, settings_from_metadata
from judgeflow.environment import SETTINGS_VARIABLE, Resources, lambda_environment
from judgeflow.settings import Settings, SettingsError
from offline.synth import default_context


def test_cdk_json_context_is_valid_and_round_trips_through_the_lambda_environment():
    settings = Settings.from_mapping(default_context())
    assert Settings.from_json(lambda_environment(Resources(), settings)[SETTINGS_VARIABLE]) == settings
    assert settings.nova_image.startswith("708977205387.dkr.ecr.us-east-1.amazonaws.com/nova-evaluation-repo:")


@pytest.mark.parametrize("values, message", [
    ({"bogus": 1}, "unknown keys ['bogus']"),
    ({"token_limit": 0}, "judgeflow.token_limit must be a positive integer"),
    ({"region": "eu-west-9"}, "No Nova evaluation image configured for region 'eu-west-9'"),
    ({"default_judge_model": "huge"}, "default_judge_model must be one of"),
    ({"instance_preferences": ["g5.12xlarge"]}, "like 'ml.g5.12xlarge'"),
    ({"capacity_wait_initial_seconds": 1000, "capacity_wait_max_seconds": 10}, "must not exceed"),
])
def test_bad_context_values_name_the_key(values, message):
    with pytest.raises(SettingsError, match=message.replace("[", "\\[").replace("]", "\\]").replace("(", "\\(")):
        Settings.from_mapping(values)


def test_run_settings_from_metadata_and_defaults():
    defaults = Settings.from_mapping(None)
    requested = settings_from_metadata({"model-a": "x", "instance-types": "ml.g5.24xlarge, ml.g5.12xlarge",
                                        "rerun": "TRUE"}).requested
    resolved = resolve_run_settings(requested, defaults)
    assert resolved.instance_types == ("ml.g5.24xlarge", "ml.g5.12xlarge") and resolved.rerun is True
    assert resolved.judge_model == "micro" and resolved.model_b == "model_b"
    with pytest.raises(RunSettingsError, match="allowed keys"):
        resolve_run_settings({"colour": "red"}, defaults)
    with pytest.raises(RunSettingsError, match="'true' or 'false'"):
        settings_from_metadata({"rerun": "yes"})
    assert json.dumps(resolved.identity())  # JSON-serialisable for the run id


@pytest.mark.parametrize("metadata", [
    {"mtime": "1732449600.123456789"},  # rclone
    {"s3cmd-attrs": "atime:1732449600/ctime:1732449600/gid:1000/mode:33188/uid:1000"},  # s3cmd --preserve
    {"uid": "1000", "gid": "1000", "mode": "33188", "atime": "1", "ctime": "1"},  # s3fs-fuse
    {"md5chksum": "1B2M2Y8AsgTpgAmY7PhCfg=="},
    {"colour": "red"},  # anything else unlike a setting
])
def test_metadata_that_upload_tools_add_is_ignored_and_named(metadata):
    parsed = settings_from_metadata({"model-a": "aurora", **metadata})
    assert parsed.requested == {"model_a": "aurora"}
    assert parsed.ignored == tuple(f"x-amz-meta-{key}" for key in metadata)


@pytest.mark.parametrize("key, meant", [("judge-modle", "judge-model"), ("judgemodel", "judge-model"),
                                        ("ModelB", "model-b"), ("instance", "instance-types"),
                                        ("instance-type", "instance-types"), ("re-run", "rerun"), ("tasks", "task")])
def test_a_misspelt_setting_is_an_error_that_names_the_right_key(key, meant):
    with pytest.raises(RunSettingsError, match=f"did you mean 'x-amz-meta-{meant}'"):
        settings_from_metadata({key: "x"})


def test_metadata_values_s3_returns_mime_encoded_are_decoded():
    from judgeflow import runs

    # What S3 returns for x-amz-meta-model-a: "élan-7b 日本" (RFC 2047, base64 and quoted-printable).
    assert runs.settings_from_metadata({"model-a": "=?UTF-8?B?w6lsYW4tN2Ig5pel5pys?="}).requested == {
        "model_a": "élan-7b 日本"}
    assert runs.settings_from_metadata({"model-b": "=?UTF-8?Q?caf=C3=A9?="}).requested == {"model_b": "café"}
    assert runs.settings_from_metadata({"model-b": "plain =? text"}).requested == {"model_b": "plain =? text"}


@pytest.mark.parametrize("metadata", [{"model-a": "x", "model_a": "y"}, {"Judge-Model": "lite", "judge_model": "pro"}])
def test_a_setting_given_twice_in_metadata_is_refused_naming_both(metadata):
    from judgeflow import runs
    from judgeflow.errors import RunSettingsError

    first, second = (key.lower() for key in metadata)
    with pytest.raises(RunSettingsError, match=f"'x-amz-meta-{first}' and 'x-amz-meta-{second}'; keep one"):
        runs.settings_from_metadata(metadata)
