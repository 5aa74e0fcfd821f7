"""Security properties of the synthesized templates: trust, buckets, IAM actions."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from aws_cdk.assertions import Match

from tests.conftest import STACKS

# The only actions allowed on Resource "*": none of them supports resource-level permissions.
RESOURCE_STAR_ACTIONS = {
    "xray:PutTraceSegments", "xray:PutTelemetryRecords",  # X-Ray
    "ecr:GetAuthorizationToken",  # ECR login for the Nova image
    "cloudwatch:PutMetricData",  # limited by a namespace condition
    "servicequotas:ListServiceQuotas", "servicequotas:GetServiceQuota",  # capacity gate reads
    "servicequotas:ListAWSDefaultServiceQuotas", "servicequotas:GetAWSDefaultServiceQuota", "sagemaker:ListTrainingJobs",
    "states:SendTaskSuccess", "states:SendTaskFailure",  # task tokens: no resource-level permissions
    "sagemaker:ListTags",  # what Step Functions generates for createTrainingJob.sync
    # State machine logging (CloudWatch Logs vended delivery) and X-Ray sampling, added by CDK.
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
    "xray:GetSamplingRules", "xray:GetSamplingTargets",
}


def _statements(templates: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for stack in STACKS:
        for logical, resource in templates[stack]["Resources"].items():
            documents = []
            if resource["Type"] == "AWS::IAM::Policy":
                documents.append(resource["Properties"]["PolicyDocument"])
            if resource["Type"] == "AWS::IAM::Role":
                documents += [p["PolicyDocument"] for p in resource["Properties"].get("Policies", [])]
            for document in documents:
                for statement in document["Statement"]:
                    yield stack, logical, statement


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_judge_role_trusts_exactly_bedrock_and_sagemaker_from_this_account(stateful_template):
    condition = {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    roles = stateful_template.find_resources("AWS::IAM::Role", {"Properties": {"Description": Match.string_like_regexp(
        "Nova LLM-as-a-Judge")}})
    (role,) = roles.values()
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement == {"Action": "sts:AssumeRole", "Condition": condition, "Effect": "Allow",
                         "Principal": {"Service": ["bedrock.amazonaws.com", "sagemaker.amazonaws.com"]}}
    assert "ManagedPolicyArns" not in role["Properties"]


def test_judge_role_can_read_input_write_output_and_pull_the_nova_image(templates):
    policies = [s for stack, logical, s in _statements(templates) if logical.startswith("JudgeExecutionRolePolicy")]
    actions = {a for s in policies for a in _as_list(s["Action"])}
    assert {"s3:GetObject", "s3:PutObject", "ecr:BatchGetImage", "logs:PutLogEvents", "kms:Decrypt"} <= actions
    (pull,) = [s for s in policies if "ecr:BatchGetImage" in _as_list(s["Action"])]
    assert "708977205387:repository/nova-evaluation-repo" in str(pull["Resource"])


def test_no_wildcard_action_and_star_resources_only_where_reasoned(templates):
    for stack, logical, statement in _statements(templates):
        for action in _as_list(statement["Action"]):
            assert "*" not in action, f"{stack}/{logical}: wildcard action {action}"
        if "*" in _as_list(statement.get("Resource", [])):
            unexpected = set(_as_list(statement["Action"])) - RESOURCE_STAR_ACTIONS
            assert not unexpected, f"{stack}/{logical}: Resource '*' for {unexpected}"


def test_no_full_access_managed_policies(templates):
    for stack in STACKS:
        for logical, resource in templates[stack]["Resources"].items():
            for arn in resource.get("Properties", {}).get("ManagedPolicyArns", []):
                assert "FullAccess" not in str(arn), f"{stack}/{logical}"


@pytest.mark.parametrize("prefix", ["StorageDatasets", "StorageWork", "StorageMetrics"])
def test_data_buckets_are_kms_encrypted_versioned_logged_private(stateful_template, prefix):
    buckets = {k: v for k, v in stateful_template.find_resources("AWS::S3::Bucket").items() if k.startswith(prefix)}
    (bucket,) = buckets.values()
    props = bucket["Properties"]
    rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert "KMSMasterKeyID" in rule["ServerSideEncryptionByDefault"] and rule["BucketKeyEnabled"] is True
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"] == {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                       "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert props["LoggingConfiguration"]["LogFilePrefix"] == f"{prefix.removeprefix('Storage')}/"
    assert bucket["DeletionPolicy"] == "Retain"


def test_every_bucket_denies_requests_without_tls(stateful_template):
    buckets = stateful_template.find_resources("AWS::S3::Bucket")
    policies = stateful_template.find_resources("AWS::S3::BucketPolicy")
    guarded = set()
    for policy in policies.values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement.get("Condition", {}).get("Bool", {}).get(
                    "aws:SecureTransport") == "false":
                guarded.add(policy["Properties"]["Bucket"]["Ref"])
    assert guarded == set(buckets)


def test_stateful_stack_is_termination_protected(synthesized):
    stateful, _ = synthesized["stacks"]
    assert stateful.termination_protection is True


def test_registry_tables_are_encrypted_with_point_in_time_recovery(stateful_template):
    tables = stateful_template.find_resources("AWS::DynamoDB::Table")
    assert len(tables) == 2
    for table in tables.values():
        assert table["Properties"]["SSESpecification"]["SSEType"] == "KMS"
        assert table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_every_bucket_aborts_incomplete_multipart_uploads(stateful_template):
    buckets = stateful_template.find_resources("AWS::S3::Bucket")
    for logical, bucket in buckets.items():
        rules = bucket["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])
        days = [r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] for r in rules
                if r.get("Status") == "Enabled" and "AbortIncompleteMultipartUpload" in r and not r.get("Prefix")]
        assert days and days[0] <= 7, logical


def test_the_state_machine_logs_to_a_vended_log_group(stateless_template):
    (machine,) = stateless_template.find_resources("AWS::StepFunctions::StateMachine").values()
    (destination,) = machine["Properties"]["LoggingConfiguration"]["Destinations"]
    logical = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    log_group = stateless_template.find_resources("AWS::Logs::LogGroup")[logical]
    assert log_group["Properties"].get("LogGroupName") == "/aws/vendedlogs/states/JudgeflowPipeline-run"


def test_every_key_policy_statement_for_a_service_is_scoped_to_this_account(templates):
    # A service principal on the key without aws:SourceAccount/aws:SourceArn could be made to use
    # it on another account's behalf (the confused deputy).
    keys = [r for stack in STACKS for r in templates[stack]["Resources"].values() if r["Type"] == "AWS::KMS::Key"]
    service_statements = [s for key in keys for s in key["Properties"]["KeyPolicy"]["Statement"]
                          if "Service" in s.get("Principal", {})]
    services = {s["Principal"]["Service"] for s in service_statements}
    assert {"cloudwatch.amazonaws.com", "events.amazonaws.com"} <= services
    for statement in service_statements:
        conditions = statement.get("Condition", {})
        assert conditions.get("StringEquals", {}).get("aws:SourceAccount") == {"Ref": "AWS::AccountId"}, statement
        assert "aws:SourceArn" in conditions.get("ArnLike", {}), statement
