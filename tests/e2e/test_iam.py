"""IAM on every offline call (offline/iam_enforcement.py). GIVEN the synthesized policies, WHEN a run
goes through the pipeline, THEN every call of every deployed principal was decided against them, and
removing one grant the pipeline needs makes the run fail where AWS would refuse it."""

from __future__ import annotations

import copy
import json

import pytest

from offline.synth import CloudAssembly
from tests.conftest import sample_dataset

pytestmark = pytest.mark.e2e

SETTINGS = {"model-a": "aurora-7b", "model-b": "borealis-13b"}


def _role_arn(jf, logical_prefix: str) -> str:
    (arn,) = [arn for arn, role in jf.aws.access.roles.items() if role["name"].startswith(logical_prefix)]
    return arn


def without_grant(assembly: CloudAssembly, stack: str, policy_prefix: str, action: str) -> CloudAssembly:
    """The assembly with `action` taken out of one synthesized policy: a grant someone deleted."""
    templates = copy.deepcopy(assembly.templates)
    (policy,) = [resource["Properties"]["PolicyDocument"] for logical, resource in templates[stack]["Resources"].items()
                 if logical.startswith(policy_prefix) and resource["Type"] == "AWS::IAM::Policy"]
    kept = []
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        remaining = [a for a in actions if a != action]
        if remaining:
            kept.append({**statement, "Action": remaining})
    removed = json.dumps(policy["Statement"]) != json.dumps(kept)
    assert removed, f"{policy_prefix} has no {action} to remove"
    policy["Statement"] = kept
    return CloudAssembly(assembly.directory, templates)


def test_every_principal_is_decided_on_every_call_and_the_judge_role_is_passed(offline):
    with offline() as jf:
        jf.drop("iam/eval.jsonl", sample_dataset(), SETTINGS)
        (result,) = jf.wait_for(1)
        assert result.status == "SUCCEEDED", result.cause
        decisions = jf.aws.iam.decisions
        seen = jf.aws.iam.principals_seen()
        judge_role = _role_arn(jf, "JudgeExecutionRole")
        (job,) = jf.training_jobs()

    # The launched request carries the judge role (moto's grammar used to drop "RoleArn.$").
    assert job["RoleArn"] == judge_role
    assert decisions and all(d.allowed for d in decisions)
    for principal in ("ValidateStageValidateRole", "RegisterStageRegisterRole", "StageInputStageStageInputRole",
                      "PlanStagePlanRole", "CapacityStageAcquireRole", "CapacityStageReleaseRole",
                      "RegisterStageAwaitResultsRole", "ResultsStageResultsRole", "WorkflowStateMachineRole",
                      "WorkflowStateMachineEventsRole", "JudgeExecutionRole"):
        assert any(name.startswith(principal) for name in seen), f"{principal} made no decided call: {sorted(seen)}"
    assert "events.amazonaws.com" in seen  # EventBridge invoking the results function

    def actions_of(prefix: str) -> set[str]:
        return {d.action for d in decisions if d.principal.startswith(prefix)}

    # The state machine's .sync calls, the role it passes, and the judge's own S3 and KMS use.
    assert {"sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:AddTags", "sagemaker:ListTags",
            "iam:PassRole", "events:PutRule", "lambda:InvokeFunction"} <= actions_of("WorkflowStateMachineRole")
    assert {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "kms:Decrypt", "kms:GenerateDataKey"} \
        <= actions_of("JudgeExecutionRole")


@pytest.mark.parametrize(("stack", "policy", "action", "where"), [
    # The grant the first version lacked: Step Functions reads the job's tags for .sync.
    ("JudgeflowPipeline", "WorkflowStateMachineRoleDefaultPolicy", "sagemaker:ListTags", "WorkflowStateMachineRole"),
    # The judge cannot write SSE-KMS output without the data key.
    ("JudgeflowData", "JudgeExecutionRolePolicy", "kms:GenerateDataKey", "JudgeExecutionRole"),
    # The validate stage reads the dataset it is told of.
    ("JudgeflowPipeline", "ValidateStageValidateRoleDefaultPolicy", "s3:GetObject", "ValidateStageValidateRole"),
])
def test_removing_one_grant_fails_the_run_where_aws_would_refuse(offline, assembly, stack, policy, action, where):
    with offline(assembly=without_grant(assembly, stack, policy, action), expect_denials=True) as jf:
        jf.drop("iam/eval.jsonl", sample_dataset(), SETTINGS)
        (result,) = jf.wait_for(1, timeout=90)
        denials = jf.aws.iam.denials

    assert result.status == "FAILED"
    assert any(d.action == action and d.principal.startswith(where) for d in denials), \
        [d.describe() for d in denials]
