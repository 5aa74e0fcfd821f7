"""Conformance: the request judgeflow builds equals, field for field, the CreateTrainingJob request
the real SageMaker Python SDK v2 sends for the same recipe (PyTorch estimator, training_recipe=),
captured from its client inside moto. Only names and S3 locations we choose may differ."""

from __future__ import annotations

import copy
import os
import re
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from judgeflow import recipes

IMAGE = "708977205387.dkr.ecr.us-east-1.amazonaws.com/nova-evaluation-repo:SM-TJ-Eval-V2-latest"
ROLE = "arn:aws:iam::123456789012:role/judge"
CASES = [("llm_judge", "micro", "ml.g5.12xlarge"), ("llm_judge", "lite", "ml.g6.48xlarge"),
         ("llm_judge", "pro", "ml.p5.48xlarge"), ("rubric_llm_judge", "lite-2", "ml.p4d.24xlarge")]


@pytest.fixture(scope="module")
def aws_env():
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
                                            "SAGEMAKER_SUPPRESS_V2_WARNING")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
                      SAGEMAKER_SUPPRESS_V2_WARNING="1")
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def sdk_request(recipe_path: str, instance_type: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the SDK's estimator.fit() against moto; return its CreateTrainingJob params and the recipe it uploaded."""
    import sagemaker
    from sagemaker.inputs import TrainingInput
    from sagemaker.pytorch import PyTorch

    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="sdk-bucket")
        session = sagemaker.Session(boto_session=boto3.Session(region_name="us-east-1"), default_bucket="sdk-bucket")
        captured: dict[str, Any] = {}
        session.sagemaker_client.meta.events.register(
            "provide-client-params.sagemaker.CreateTrainingJob", lambda params, **_: captured.update(copy.deepcopy(params)))
        estimator = PyTorch(output_path="s3://sdk-bucket/output/", role=ROLE, instance_type=instance_type,
                            training_recipe=recipe_path, sagemaker_session=session, image_uri=IMAGE,
                            disable_profiler=True, debugger_hook_config=False)
        estimator.fit(inputs={"train": TrainingInput(s3_data="s3://sdk-bucket/input/")}, wait=False,
                      job_name="sdk-job")
        s3 = boto3.client("s3", region_name="us-east-1")
        (recipe_key,) = [o["Key"] for o in s3.list_objects_v2(Bucket="sdk-bucket", Prefix="recipes/")["Contents"]]
        uploaded = yaml.safe_load(s3.get_object(Bucket="sdk-bucket", Key=recipe_key)["Body"].read())
    return captured, uploaded


def ours(recipe: dict[str, Any], instance_type: str) -> dict[str, Any]:
    return recipes.build_create_training_job_request(
        job_name="jf-run-judge-0", recipe=recipe, recipe_file_name="llm_judge-micro.yaml", image_uri=IMAGE,
        role_arn=ROLE, dataset_s3_prefix="s3://work/runs/jf-run/input/", recipe_s3_prefix="s3://work/runs/jf-run/recipe/",
        output_s3_path="s3://work/runs/jf-run/output/", instance_type=instance_type)


def without_our_choices(request: dict[str, Any]) -> dict[str, Any]:
    """Blank out what each side names itself: job name, S3 locations, the recipe file name."""
    normal = copy.deepcopy(request)
    normal["TrainingJobName"] = "<name>"
    normal["OutputDataConfig"]["S3OutputPath"] = "<s3>"
    for channel in normal["InputDataConfig"]:
        channel["DataSource"]["S3DataSource"]["S3Uri"] = "<s3>"
    path = normal["HyperParameters"]["sagemaker_recipe_local_path"]
    normal["HyperParameters"]["sagemaker_recipe_local_path"] = re.sub(r"[^/]+\.yaml$", "<file>.yaml", path)
    return normal


@pytest.mark.parametrize("task, judge, instance_type", CASES)
def test_request_matches_the_sagemaker_sdk(aws_env, tmp_path, task, judge, instance_type):
    recipe = recipes.render_recipe(recipes.choose_recipe(task, judge), run_name="jf-run")
    path = tmp_path / f"{task}-{judge}.yaml"
    path.write_text(recipes.recipe_yaml(recipe))

    sdk, uploaded = sdk_request(str(path), instance_type)

    assert without_our_choices(ours(recipe, instance_type)) == without_our_choices(sdk)
    assert uploaded == recipe  # the recipe the job reads is the one we render
