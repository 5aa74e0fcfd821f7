"""Plan stage: render the Nova recipe, upload it, and build the exact CreateTrainingJob request."""

from __future__ import annotations

from typing import Any, Mapping

from judgeflow import layout, recipes, runs
from judgeflow.environment import Resources
from judgeflow.settings import Settings


def plan_job(*, s3: Any, settings: Settings, resources: Resources, run_id: str,
             run_settings: Mapping[str, Any]) -> dict[str, Any]:
    resolved = runs.resolve_run_settings(run_settings, settings)
    choice = recipes.choose_recipe(resolved.task, resolved.judge_model)
    order = recipes.allowed_instance_order(choice, resolved.instance_types)
    recipe = recipes.render_recipe(choice, run_name=run_id)
    recipe_file = f"{resolved.task}-{resolved.judge_model}.yaml"
    recipe_key = layout.recipe_prefix(run_id) + recipe_file
    text = recipes.recipe_yaml(recipe)
    s3.put_object(Bucket=resources.work_bucket, Key=recipe_key, Body=text.encode(), ContentType="application/x-yaml")
    request = recipes.build_create_training_job_request(
        job_name=runs.training_job_name(run_id),
        recipe=recipe,
        recipe_file_name=recipe_file,
        image_uri=settings.nova_image,
        role_arn=resources.judge_role_arn,
        dataset_s3_prefix=f"s3://{resources.work_bucket}/{layout.staged_input_prefix(run_id)}",
        recipe_s3_prefix=f"s3://{resources.work_bucket}/{layout.recipe_prefix(run_id)}",
        output_s3_path=f"s3://{resources.work_bucket}/{layout.output_prefix(run_id)}",
        instance_type=order[0],
        max_runtime_seconds=settings.max_runtime_seconds,
    )
    return {"recipe_key": recipe_key, "instance_order": order, "instances": int(recipe["run"]["replicas"]),
            "request": request}
