"""Plan stage: the recipe is uploaded and the request points at this deployment's resources."""

from __future__ import annotations

import yaml

SETTINGS = {"task": "llm_judge", "judge_model": "lite", "model_a": "a", "model_b": "b",
            "instance_types": ["ml.g5.48xlarge", "ml.g5.24xlarge"]}


def test_recipe_uploaded_and_request_uses_the_judge_role_and_work_bucket(deployed):
    result = deployed.invoke("PlanStage", {"run_id": "jf-plan", "settings": SETTINGS})
    work = deployed.jf.d.work_bucket
    recipe = yaml.safe_load(deployed.jf.read(work, "runs/jf-plan/recipe/llm_judge-lite.yaml"))
    assert recipe["run"]["name"] == "jf-plan" and recipe["run"]["model_type"] == "amazon.nova-lite-v1:0:300k"
    request = result["request"]
    assert result["instance_order"] == ["ml.g5.24xlarge"]  # g5.48xlarge is not allowed by the recipe
    assert ":role/jf-judgeexecutionrole" in request["RoleArn"]
    assert request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == f"s3://{work}/runs/jf-plan/input/"
    assert request["InputDataConfig"][1]["DataSource"]["S3DataSource"]["S3Uri"] == f"s3://{work}/runs/jf-plan/recipe/"
    assert request["OutputDataConfig"] == {"S3OutputPath": f"s3://{work}/runs/jf-plan/output/"}
    assert request["AlgorithmSpecification"]["TrainingImage"].startswith("708977205387.dkr.ecr.us-east-1")
    assert request["HyperParameters"]["sagemaker_recipe_local_path"] == "/opt/ml/input/data/recipe/llm_judge-lite.yaml"
