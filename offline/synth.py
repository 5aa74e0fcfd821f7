"""Synthesize the CDK app in-process (no CLI, no docker) and return its templates."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Mapping

REPO_ROOT = Path(__file__).resolve().parent.parent


def cdk_json_context() -> dict[str, Any]:
    """The whole cdk.json context: judgeflow settings and CDK feature flags, as `cdk synth` sees them."""
    return json.loads((REPO_ROOT / "cdk.json").read_text())["context"]


def default_context() -> dict[str, Any]:
    return cdk_json_context()["judgeflow"]


def synthesize(context: Mapping[str, Any] | None = None, outdir: str | None = None) -> dict[str, dict[str, Any]]:
    """Templates by stack name. Asset bundling is skipped: the offline run imports the code in place."""
    import aws_cdk as cdk

    from infra.app_builder import STATEFUL_STACK_NAME, STATELESS_STACK_NAME, build_app

    outdir = outdir or tempfile.mkdtemp(prefix="judgeflow-synth-")
    app = cdk.App(outdir=outdir, context={**cdk_json_context(), "aws:cdk:bundling-stacks": []})
    build_app(app, context=dict(context) if context is not None else default_context())
    assembly = app.synth()
    return {name: assembly.get_stack_by_name(name).template for name in (STATEFUL_STACK_NAME, STATELESS_STACK_NAME)}
