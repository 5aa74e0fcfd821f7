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
                                        "rerun": "TRUE"})
    resolved = resolve_run_settings(requested, defaults)
    assert resolved.instance_types == ("ml.g5.24xlarge", "ml.g5.12xlarge") and resolved.rerun is True
    assert resolved.judge_model == "micro" and resolved.model_b == "model_b"
    with pytest.raises(RunSettingsError, match="allowed keys"):
        resolve_run_settings({"colour": "red"}, defaults)
    with pytest.raises(RunSettingsError, match="'true' or 'false'"):
        settings_from_metadata({"rerun": "yes"})
    assert json.dumps(resolved.identity())  # JSON-serialisable for the run id
