"""The embedded AWS reads and refuses state machines as Step Functions does (offline/embedded_aws.py,
offline/sagemaker_task.py). GIVEN a small state machine, WHEN it runs, THEN ..."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from offline.aws_limits import AwsLimits
from offline.embedded_aws import ACCOUNT_ID, EmbeddedAws

pytestmark = pytest.mark.e2e

REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/any"


def _run(definition: dict, execution_input: dict) -> dict:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.create_state_machine(name="contract", definition=json.dumps(definition), roleArn=ROLE)
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input=json.dumps(execution_input))
    for _ in range(200):
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.05)
    raise TimeoutError(described)


def test_a_keyword_named_field_ending_in_dollar_is_a_path_binding():
    # moto's grammar took "RoleArn.$" for the Credentials keyword and kept it as a literal field.
    definition = {"StartAt": "Bind", "States": {"Bind": {
        "Type": "Pass", "End": True,
        "Parameters": {"RoleArn.$": "$.role", "Execution.$": "$$.Execution.Id", "Literal": "RoleArn.$"}}}}
    with EmbeddedAws(region=REGION):
        described = _run(definition, {"role": ROLE})
    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])
    assert output["RoleArn"] == ROLE
    assert output["Execution"] == described["executionArn"]
    assert output["Literal"] == "RoleArn.$"


def test_the_sagemaker_task_refuses_a_field_createtrainingjob_does_not_take():
    definition = {"StartAt": "Train", "States": {"Train": {
        "Type": "Task", "End": True, "Resource": "arn:aws:states:::sagemaker:createTrainingJob",
        "Parameters": {"TrainingJobName": "jf-contract", "RoleArn": ROLE, "Profiler": {"S3OutputPath": "s3://x/"},
                       "AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage": "image"},
                       "OutputDataConfig": {"S3OutputPath": "s3://x/"}, "StoppingCondition": {"MaxRuntimeInSeconds": 60},
                       "ResourceConfig": {"InstanceType": "ml.g5.12xlarge", "InstanceCount": 1, "VolumeSizeInGB": 1}}}}}
    with EmbeddedAws(region=REGION):
        described = _run(definition, {})
        jobs = boto3.client("sagemaker", region_name=REGION).list_training_jobs()["TrainingJobSummaries"]
    assert described["status"] == "FAILED"
    assert described["error"] == "States.Runtime"
    assert "Profiler" in described["cause"]
    assert jobs == []  # refused before any job was created


def test_createtrainingjob_without_a_role_is_refused():
    definition = {"StartAt": "Train", "States": {"Train": {
        "Type": "Task", "End": True, "Resource": "arn:aws:states:::sagemaker:createTrainingJob",
        "Parameters": {"TrainingJobName": "jf-norole",
                       "AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage": "image"},
                       "OutputDataConfig": {"S3OutputPath": "s3://x/"}, "StoppingCondition": {"MaxRuntimeInSeconds": 60},
                       "ResourceConfig": {"InstanceType": "ml.g5.12xlarge", "InstanceCount": 1, "VolumeSizeInGB": 1}}}}}
    with EmbeddedAws(region=REGION) as aws:
        aws.set_quota("ml.g5.12xlarge", 1)
        described = _run(definition, {})
    assert described["status"] == "FAILED"
    assert described["error"] == "SageMaker.AmazonSageMakerException"  # not a modeled SageMaker error
    assert "roleArn" in described["cause"]


@pytest.mark.parametrize("strict", [True, False])
def test_states_all_does_not_catch_a_runtime_error(strict):
    # AWS: States.ALL catches neither States.Runtime nor States.DataLimitExceeded (a state payload
    # over 256 KiB, which moto raises itself); moto's States.ALL caught both and the run went on.
    definition = {"StartAt": "Train", "States": {
        "Train": {"Type": "Task", "Resource": "arn:aws:states:::sagemaker:createTrainingJob", "Next": "Done",
                  "Parameters": {"TrainingJobName": "jf-contract", "RoleArn": ROLE, "Profiler": {}},
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]},
        "Caught": {"Type": "Succeed"}, "Done": {"Type": "Succeed"}}}
    with EmbeddedAws(region=REGION, limits=AwsLimits(terminal_errors=strict)):
        described = _run(definition, {})
    if strict:
        assert described["status"] == "FAILED" and described["error"] == "States.Runtime"
    else:
        assert described["status"] == "SUCCEEDED"  # moto as shipped


def test_service_quotas_reads_throttle_past_their_rate():
    # Service Quotas publishes 5 GetAWSDefaultServiceQuota calls per second plus a burst of 5: 20
    # calls in a tight loop over HTTP (the Lambdas' path) get TooManyRequestsException past those.
    import urllib.error
    import urllib.request

    def burst(aws: EmbeddedAws) -> list[int]:
        statuses = []
        for _ in range(20):
            request = urllib.request.Request(
                aws.server.endpoint, method="POST",
                data=json.dumps({"ServiceCode": "sagemaker", "QuotaCode": "L-C6383286"}).encode(),
                headers={"X-Amz-Target": "ServiceQuotasV20190624.GetAWSDefaultServiceQuota",
                         "Content-Type": "application/x-amz-json-1.1",
                         "Host": f"servicequotas.{REGION}.amazonaws.com"})
            try:
                with urllib.request.urlopen(request) as answer:
                    statuses.append(answer.status)
            except urllib.error.HTTPError as error:
                body = json.loads(error.read() or b"{}")
                statuses.append(error.code if body.get("__type") == "TooManyRequestsException" else 200)
        return statuses

    with EmbeddedAws(region=REGION) as aws:
        aws.set_quota("ml.g5.12xlarge", 1)
        throttled = burst(aws)
    with EmbeddedAws(region=REGION, limits=AwsLimits(api_rates={})) as aws:
        aws.set_quota("ml.g5.12xlarge", 1)
        unthrottled = burst(aws)
    assert 5 <= throttled.count(400) <= 11  # 10 tokens, refilled at 5 per second during the loop
    assert throttled[:10] == [200] * 10
    assert unthrottled.count(400) == 0
