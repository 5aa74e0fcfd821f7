"""Capacity stage: live quota, conditional reservations, bounded waits, release on every path."""

from __future__ import annotations

import random
import threading

import boto3

from judgeflow import capacity

ARN = "arn:aws:states:us-east-1:123456789012:execution:m:"
PLAN = {"instance_order": ["ml.g5.12xlarge", "ml.g5.24xlarge"], "instances": 1,
        "request": {"TrainingJobName": "x", "ResourceConfig": {"InstanceType": "ml.g5.12xlarge",
                                                                "InstanceCount": 1, "VolumeSizeInGB": 30}}}


def acquire(deployed, execution: str, previous=None, run_id="jf-run"):
    deployed.jf.client("dynamodb").put_item(TableName=deployed.jf.d.runs_table,
                                            Item={"run_id": {"S": run_id}, "status": {"S": "RUNNING"}})
    return deployed.invoke("CapacityStageAcquire", {"run_id": run_id, "execution_arn": ARN + execution,
                                                     "plan": PLAN, "capacity": previous})


def test_reserves_then_falls_back_then_waits_with_the_quota_named(deployed):
    deployed.jf.aws.set_quota("ml.g5.24xlarge", 1)
    first = acquire(deployed, "e1")
    second = acquire(deployed, "e2")
    third = acquire(deployed, "e3")
    assert (first["acquired"], first["instance_type"]) == (True, "ml.g5.12xlarge")
    assert (second["acquired"], second["instance_type"]) == (True, "ml.g5.24xlarge")
    assert third["acquired"] is False and third["exhausted"] is False
    assert "'ml.g5.12xlarge for training job usage' = 1, in use 1" in third["reason"]
    assert 48 <= third["wait_seconds"] <= 72 and third["next_check_at"]
    assert "request" not in third
    assert first["request"]["ResourceConfig"]["InstanceType"] == "ml.g5.12xlarge"
    assert first["request"]["TrainingJobName"] == "jf-run-judge-0"


def test_wait_is_bounded_by_the_total_budget(deployed):
    acquire(deployed, "holder")
    waiting = acquire(deployed, "late", previous={"attempt": 30, "waited_seconds": 86000, "wait_seconds": 300})
    assert waiting["exhausted"] is True
    assert "Gave up waiting for SageMaker capacity" in waiting["reason"]
    assert "request-service-quota-increase" in waiting["reason"]


def test_release_is_idempotent_and_frees_the_slot(deployed):
    acquire(deployed, "e1")
    released = deployed.invoke("CapacityStageRelease", {"execution_arn": ARN + "e1",
                                                        "instance_types": PLAN["instance_order"]})
    again = deployed.invoke("CapacityStageRelease", {"execution_arn": ARN + "e1",
                                                     "instance_types": PLAN["instance_order"]})
    assert released == {"released": ["ml.g5.12xlarge"]} and again == {"released": []}
    assert acquire(deployed, "e2")["acquired"] is True


def test_aborted_execution_releases_and_is_recorded(deployed):
    jf = deployed.jf
    acquire(deployed, "aborted", run_id="jf-aborted")
    jf.client("dynamodb").update_item(TableName=jf.d.runs_table, Key={"run_id": {"S": "jf-aborted"}},
                                      UpdateExpression="SET execution_arn = :a",
                                      ExpressionAttributeValues={":a": {"S": ARN + "aborted"}})
    event = {"version": "0", "id": "1", "detail-type": "Step Functions Execution Status Change",
             "source": "aws.states", "account": "123456789012", "time": "2026-11-23T00:00:00Z",
             "region": "us-east-1", "resources": [], "detail": {"executionArn": ARN + "aborted", "status": "ABORTED"}}
    result = deployed.invoke("CapacityStageOnExecutionEnded", event)
    assert result["released"] == ["ml.g5.12xlarge"]
    assert jf.reservations() == []
    assert jf.run_record("jf-aborted")["status"] == "ABORTED"


def test_concurrent_reservations_never_exceed_the_quota(deployed):
    """Eight threads race for two slots through the ledger's conditional writes."""
    jf = deployed.jf
    jf.aws.set_quota("ml.g5.12xlarge", 2)
    ledger = capacity.CapacityLedger(boto3.resource("dynamodb", region_name=jf.aws.region).Table(jf.d.capacity_table))
    quotas, sagemaker = jf.client("service-quotas"), jf.client("sagemaker")
    start, outcomes = threading.Barrier(8), []

    def race(index: int) -> None:
        start.wait()
        decision = capacity.acquire(
            ledger=ledger, quotas_client=quotas, sagemaker_client=sagemaker, instance_order=["ml.g5.12xlarge"],
            holder=f"h{index}", run_id=f"r{index}", job_name=f"j{index}", instances=1, ttl_seconds=600,
            region="us-east-1", attempt=0, waited_seconds=0, wait_initial=60, wait_max=900, wait_total=3600,
            rng=random.Random(index), fresh_quotas=True)
        outcomes.append(decision.acquired)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [False] * 6 + [True] * 2
    assert len(jf.reservations()) == 2


def test_backoff_grows_with_jitter_and_is_capped():
    rng = random.Random(1)
    waits = [capacity.next_wait_seconds(n, initial=60, maximum=900, rng=rng) for n in range(8)]
    assert 48 <= waits[0] <= 72 and 96 <= waits[1] <= 144
    assert max(waits) <= 900 and waits[-1] >= 720
