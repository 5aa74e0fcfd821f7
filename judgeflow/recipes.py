"""Nova judge recipes: lookup, allowed instance types, rendering, and the CreateTrainingJob request.

The request mirrors, field for field, what SageMaker Python SDK v2 sends for a PyTorch estimator
launched with `training_recipe=` (see NOVA-REFERENCE.md); only names and S3 locations differ.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Mapping

import yaml

from judgeflow.errors import RecipeError
from judgeflow.settings import JUDGE_MODELS, TASKS

# An installed wheel carries the top-level recipes/ folder as judgeflow/_recipes (pyproject.toml);
# the source tree and the Lambda assets keep it beside the package.
PACKAGED_RECIPES = "_recipes"
RECIPE_CHANNEL_DIR = "/opt/ml/input/data/recipe"
# Inference keys a run may override, per task (max_new_tokens exists for the rubric judge only).
ALLOWED_INFERENCE = {
    "llm_judge": {"top_k", "top_p", "temperature", "top_logprobs"},
    "rubric_llm_judge": {"top_k", "top_p", "temperature", "top_logprobs", "max_new_tokens"},
}
SDK_VOLUME_SIZE_GB = 30
SDK_MAX_RUNTIME_SECONDS = 86400


@dataclass(frozen=True)
class RecipeChoice:
    task: str
    judge_model: str
    path: Traversable
    instance_types: tuple[str, ...]


@lru_cache(maxsize=1)
def recipes_dir() -> Traversable:
    packaged = resources.files("judgeflow").joinpath(PACKAGED_RECIPES)
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "recipes"


@lru_cache(maxsize=1)
def _catalog() -> dict[str, Any]:
    return yaml.safe_load(recipes_dir().joinpath("catalog.yaml").read_text(encoding="utf-8"))


def choose_recipe(task: str, judge_model: str) -> RecipeChoice:
    if task not in TASKS:
        raise RecipeError(f"unknown task {task!r}; use one of {list(TASKS)}")
    if judge_model not in JUDGE_MODELS:
        raise RecipeError(f"unknown judge model {judge_model!r}; use one of {list(JUDGE_MODELS)}")
    entries = _catalog()[task]
    if judge_model not in entries:
        raise RecipeError(
            f"task {task!r} has no recipe for judge model {judge_model!r}; available: {sorted(entries)}"
        )
    entry = entries[judge_model]
    return RecipeChoice(task, judge_model, recipes_dir().joinpath(entry["recipe"]), tuple(entry["instance_types"]))


def allowed_instance_order(choice: RecipeChoice, preferences: tuple[str, ...] | list[str]) -> list[str]:
    """The run's preferences, in order, restricted to what the recipe allows."""
    ordered = [t for t in preferences if t in choice.instance_types]
    if not ordered:
        raise RecipeError(
            f"none of the preferred instance types {list(preferences)} is allowed for the "
            f"{choice.task}/{choice.judge_model} recipe; allowed: {list(choice.instance_types)}"
        )
    return ordered


def render_recipe(choice: RecipeChoice, *, run_name: str, inference: Mapping[str, Any] | None = None) -> dict[str, Any]:
    recipe = copy.deepcopy(yaml.safe_load(choice.path.read_text(encoding="utf-8")))
    recipe["run"]["name"] = run_name
    for key, value in (inference or {}).items():
        if key not in ALLOWED_INFERENCE[choice.task]:
            raise RecipeError(
                f"inference setting {key!r} is not allowed for {choice.task}; allowed: "
                f"{sorted(ALLOWED_INFERENCE[choice.task])}"
            )
        recipe["inference"][key] = value
    return recipe


def recipe_yaml(recipe: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(recipe), sort_keys=False)


def build_create_training_job_request(
    *,
    job_name: str,
    recipe: Mapping[str, Any],
    recipe_file_name: str,
    image_uri: str,
    role_arn: str,
    dataset_s3_prefix: str,
    recipe_s3_prefix: str,
    output_s3_path: str,
    instance_type: str,
    max_runtime_seconds: int = SDK_MAX_RUNTIME_SECONDS,
) -> dict[str, Any]:
    run = recipe["run"]
    return {
        "TrainingJobName": job_name,
        "AlgorithmSpecification": {"TrainingImage": image_uri, "TrainingInputMode": "File"},
        "RoleArn": role_arn,
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": dataset_s3_prefix,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            },
            {
                "ChannelName": "recipe",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": recipe_s3_prefix,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "InputMode": "File",
            },
        ],
        "OutputDataConfig": {"S3OutputPath": output_s3_path},
        "ResourceConfig": {
            "InstanceType": instance_type,
            "InstanceCount": int(run["replicas"]),
            "VolumeSizeInGB": SDK_VOLUME_SIZE_GB,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime_seconds},
        "HyperParameters": {
            "base_model": str(run["model_name_or_path"]),
            "model_type": str(run["model_type"]),
            "sagemaker_recipe_local_path": f"{RECIPE_CHANNEL_DIR}/{recipe_file_name}",
        },
        "ProfilerConfig": {"DisableProfiler": True},
        "RemoteDebugConfig": {"EnableRemoteDebug": False},
    }
