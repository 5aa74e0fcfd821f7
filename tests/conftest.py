"""Shared fixtures: the app synthesized once per session, rendered state machine, offline runs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.app_builder import STATEFUL_STACK_NAME, STATELESS_STACK_NAME
from offline.synth import CloudAssembly, cdk_json_context, default_context

REPO_ROOT = Path(__file__).resolve().parent.parent
STACKS = [STATEFUL_STACK_NAME, STATELESS_STACK_NAME]


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory) -> dict[str, Any]:
    """Synthesize once: templates, the assembly folder and the nag plugin that checked it."""
    import aws_cdk as cdk

    from infra.app_builder import build_app
    from infra.nag import AcknowledgedAwsSolutionsChecks

    outdir = tmp_path_factory.mktemp("cdk.out")
    nag = AcknowledgedAwsSolutionsChecks()
    app = cdk.App(outdir=str(outdir), context={**cdk_json_context()})
    stateful, stateless = build_app(app, context=default_context(), nag=nag)
    assembly = app.synth()
    templates = {name: assembly.get_stack_by_name(name).template for name in STACKS}
    return {"templates": templates, "outdir": outdir, "nag": nag, "stacks": (stateful, stateless),
            "assembly": CloudAssembly(Path(outdir), templates)}


@pytest.fixture(scope="session")
def templates(synthesized) -> dict[str, dict[str, Any]]:
    return synthesized["templates"]


@pytest.fixture(scope="session")
def stateful_template(templates):
    from aws_cdk.assertions import Template

    return Template.from_json(templates[STATEFUL_STACK_NAME])


@pytest.fixture(scope="session")
def stateless_template(templates):
    from aws_cdk.assertions import Template

    return Template.from_json(templates[STATELESS_STACK_NAME])


@pytest.fixture(scope="session")
def state_machine_definition(templates) -> dict[str, Any]:
    """The ASL CDK synthesized, with Refs/GetAtts replaced by readable placeholders."""
    resources = templates[STATELESS_STACK_NAME]["Resources"]
    (machine,) = [r for r in resources.values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    return json.loads(render_placeholders(machine["Properties"]["DefinitionString"]))


def render_placeholders(value: Any) -> str:
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(render_placeholders(p) for p in parts)
    if "Fn::GetAtt" in value:
        logical, attribute = value["Fn::GetAtt"]
        return f"arn:aws:lambda:us-east-1:123456789012:function:{logical}" if attribute == "Arn" else logical
    if "Ref" in value:
        return {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"}.get(
            value["Ref"], value["Ref"])
    raise ValueError(f"unexpected intrinsic {value}")


def logical_id(template: dict[str, Any], prefix: str) -> str:
    matches = [k for k in template["Resources"] if re.match(prefix + r"[0-9A-F]{8}$", k)]
    assert len(matches) == 1, f"{prefix}: {matches}"
    return matches[0]


class FakeContext:
    function_name = "test"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    memory_limit_in_mb = 512
    aws_request_id = "req-1"
    log_group_name = "/aws/lambda/test"
    log_stream_name = "s"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60000


@pytest.fixture
def lambda_context() -> FakeContext:
    return FakeContext()


@pytest.fixture(scope="session")
def assembly(synthesized) -> CloudAssembly:
    return synthesized["assembly"]


@pytest.fixture
def offline(assembly):
    """Factory: an OfflineJudgeflow over the session's cloud assembly (enter it with `with`)."""
    from offline.pipeline import OfflineJudgeflow

    def make(**kwargs):
        kwargs.setdefault("region", default_context()["region"])
        return OfflineJudgeflow(kwargs.pop("assembly", assembly), stack_order=STACKS, **kwargs)

    return make


def sample_dataset() -> bytes:
    return (REPO_ROOT / "judgeflow" / "sample_data" / "demo.jsonl").read_bytes()
