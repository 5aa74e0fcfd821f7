"""Recipes carry the upstream field values; instance types and inference keys are checked."""

from __future__ import annotations

import pytest

from judgeflow import recipes

UPSTREAM = {  # aws/sagemaker-hyperpod-recipes, recipes_collection/recipes/evaluation/nova/
    ("llm_judge", "micro"): ("amazon.nova-micro-v1:0:128k", "nova-micro/prod"),
    ("llm_judge", "lite"): ("amazon.nova-lite-v1:0:300k", "nova-lite/prod"),
    ("llm_judge", "pro"): ("amazon.nova-pro-v1:0:300k", "nova-pro/prod"),
    ("rubric_llm_judge", "lite-2"): ("amazon.nova-2-lite-v1:0:256k", "nova-lite-2/prod"),
}


@pytest.mark.parametrize("task, judge", list(UPSTREAM))
def test_recipe_fields_match_upstream(task, judge):
    recipe = recipes.render_recipe(recipes.choose_recipe(task, judge), run_name="jf-1")
    assert (recipe["run"]["model_type"], recipe["run"]["model_name_or_path"]) == UPSTREAM[(task, judge)]
    assert recipe["run"]["name"] == "jf-1" and recipe["run"]["replicas"] == 1
    assert recipe["evaluation"] == {"task": task, "strategy": "judge", "metric": "all"}
    assert recipe["inference"]["temperature"] == 0 and recipe["inference"]["top_k"] == 50


def test_instance_types_follow_preferences_within_what_the_recipe_allows():
    micro = recipes.choose_recipe("llm_judge", "micro")
    assert recipes.allowed_instance_order(micro, ["ml.g5.48xlarge", "ml.g5.24xlarge", "ml.g5.12xlarge"]) == [
        "ml.g5.24xlarge", "ml.g5.12xlarge"]
    with pytest.raises(recipes.RecipeError, match="allowed: \\['ml.p5.48xlarge'\\]"):
        recipes.allowed_instance_order(recipes.choose_recipe("llm_judge", "pro"), ["ml.g5.12xlarge"])


def test_inference_settings_the_recipe_does_not_allow_are_rejected():
    micro = recipes.choose_recipe("llm_judge", "micro")
    with pytest.raises(recipes.RecipeError, match="max_new_tokens"):
        recipes.render_recipe(micro, run_name="x", inference={"max_new_tokens": 10})
    rubric = recipes.choose_recipe("rubric_llm_judge", "lite-2")
    assert recipes.render_recipe(rubric, run_name="x", inference={"max_new_tokens": 12000})["inference"][
        "max_new_tokens"] == 12000
    with pytest.raises(recipes.RecipeError, match="no recipe for judge model 'micro'"):
        recipes.choose_recipe("rubric_llm_judge", "micro")


def test_request_has_the_sdk_shape():
    recipe = recipes.render_recipe(recipes.choose_recipe("llm_judge", "micro"), run_name="jf-1")
    request = recipes.build_create_training_job_request(
        job_name="jf-1-judge-0", recipe=recipe, recipe_file_name="r.yaml", image_uri="img", role_arn="role",
        dataset_s3_prefix="s3://b/in/", recipe_s3_prefix="s3://b/recipe/", output_s3_path="s3://b/out/",
        instance_type="ml.g5.12xlarge")
    assert request["HyperParameters"] == {"base_model": "nova-micro/prod", "model_type": "amazon.nova-micro-v1:0:128k",
                                          "sagemaker_recipe_local_path": "/opt/ml/input/data/recipe/r.yaml"}
    assert [c["ChannelName"] for c in request["InputDataConfig"]] == ["train", "recipe"]
    assert request["ResourceConfig"] == {"InstanceType": "ml.g5.12xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}
    assert request["ProfilerConfig"] == {"DisableProfiler": True}
    assert request["RemoteDebugConfig"] == {"EnableRemoteDebug": False}
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}


def test_request_passes_botocore_parameter_validation():
    import botocore.session
    from botocore.validate import ParamValidator

    recipe = recipes.render_recipe(recipes.choose_recipe("llm_judge", "lite"), run_name="jf-1")
    request = recipes.build_create_training_job_request(
        job_name="jf-1-judge-0", recipe=recipe, recipe_file_name="r.yaml",
        image_uri="708977205387.dkr.ecr.us-east-1.amazonaws.com/nova-evaluation-repo:SM-TJ-Eval-V2-latest",
        role_arn="arn:aws:iam::123456789012:role/judge", dataset_s3_prefix="s3://b/in/",
        recipe_s3_prefix="s3://b/recipe/", output_s3_path="s3://b/out/", instance_type="ml.g5.12xlarge")
    shape = botocore.session.get_session().get_service_model("sagemaker").operation_model(
        "CreateTrainingJob").input_shape
    report = ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()
