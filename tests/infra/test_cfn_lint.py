"""cfn-lint on every synthesized template, and on a template carrying the rendered state machine."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cfnlint.api import lint

from tests.conftest import REPO_ROOT, STACKS

# W3005: CDK adds DependsOn on a Lambda's role that a GetAtt already implies (CDK's choice, harmless).
IGNORED = {"W3005"}


@pytest.mark.parametrize("stack", STACKS)
def test_cfn_lint_is_clean(templates, stack):
    matches = [m for m in lint(json.dumps(templates[stack]), regions=["us-east-1"]) if m.rule.id not in IGNORED]
    assert [f"{m.rule.id} {m.message}" for m in matches] == []


def test_rendered_state_machine_passes_cfn_lint(state_machine_definition):
    template = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": {"Machine": {
        "Type": "AWS::StepFunctions::StateMachine",
        "Properties": {"RoleArn": "arn:aws:iam::123456789012:role/machine", "Definition": state_machine_definition}}}}
    assert [f"{m.rule.id} {m.message}" for m in lint(json.dumps(template), regions=["us-east-1"])] == []


def test_rendered_state_machine_passes_asl_validator(state_machine_definition, tmp_path):
    validator = REPO_ROOT / "node_modules" / ".bin" / "asl-validator"
    node = shutil.which("node")
    assert validator.exists() and node, "run `make test`: it installs asl-validator from package.json"
    path = Path(tmp_path) / "definition.json"
    path.write_text(json.dumps(state_machine_definition))
    result = subprocess.run([str(validator), "--json-path", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
