"""Capacity stage: live quota, conditional reservations, bounded waits, release on every path."""

from __future__ import annotations

import threading

import boto3

from judgeflow.adapters.ledger import CapacityLedger

ARN = "arn:aws:states:us-east-1:123456789012:execution:m:"
PLAN = {"instance_order": ["ml.g5.12xlarge", "ml.g5.24xlarge"], "instances": 1,
        "request": {"TrainingJobName": "x", "ResourceConfig": {"InstanceType": "ml.g5.12xlarge",
                                                                "InstanceCount": 1, "VolumeSizeInGB": 30}}}


def acquire(deployed, execution: str, previous=None, run_id="jf-run"):
    deployed.jf.client("dynamodb").put_item(TableName=deployed.jf.d.runs_table,
                                            Item={"run_id": {"S": run_id}, "status": {"S": "RUNNING"}})
    return deployed.invoke("CapacityStageAcquire", {"run_id": run_id, "execution_arn": ARN + execution,
                                                     "plan": PLAN, "capacity": previous})


def release(deployed, execution: str):
    return deployed.invoke("CapacityStageRelease", {"execution_arn": ARN + execution,
                                                    "instance_types": PLAN["instance_order"]})


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


def test_a_quota_without_an_applied_value_counts_at_its_aws_default(deployed):
    """Service Quotas lists only applied values; an account never granted an increase still has the
    default (offline: ListServiceQuotas leaves the quota out, ListAWSDefaultServiceQuotas has it)."""
    deployed.jf.aws.set_unapplied_quota("ml.g5.12xlarge", default=2)
    first, second, third = (acquire(deployed, name) for name in ("e1", "e2", "e3"))
    assert [r["acquired"] for r in (first, second)] == [True, True]
    assert {first["instance_type"], second["instance_type"]} == {"ml.g5.12xlarge"}
    assert third["acquired"] is False and "'ml.g5.12xlarge for training job usage' = 2, in use 2" in third["reason"]


def test_quotas_are_read_by_code_once_known(deployed):
    from judgeflow.adapters import quotas

    client = deployed.jf.client("service-quotas")
    quotas.clear_quota_cache()
    assert quotas.read_quotas(client, ["ml.g5.12xlarge"]) == {"ml.g5.12xlarge": 1.0}
    code = quotas.quota_code(client, "ml.g5.12xlarge")
    assert code == deployed.jf.aws.quota_code("ml.g5.12xlarge")
    calls: list[str] = []
    client.meta.events.register("before-call.service-quotas", lambda model, **_: calls.append(model.name))
    deployed.jf.aws.set_unapplied_quota("ml.g5.12xlarge", default=3)
    assert quotas.read_quotas(client, ["ml.g5.12xlarge"], fresh=True) == {"ml.g5.12xlarge": 3.0}
    assert calls == ["GetServiceQuota", "GetAWSDefaultServiceQuota"]


def test_wait_is_bounded_by_the_total_budget(deployed):
    acquire(deployed, "holder")
    waiting = acquire(deployed, "late", previous={"attempt": 30, "waited_seconds": 86000, "wait_seconds": 300})
    assert waiting["exhausted"] is True
    assert "Gave up waiting for SageMaker capacity" in waiting["reason"]
    # The quota's own code, as read from Service Quotas, not a placeholder.
    assert f"--quota-code {deployed.jf.aws.quota_code('ml.g5.12xlarge')} " in waiting["reason"]


def test_release_is_idempotent_and_frees_the_slot(deployed):
    acquire(deployed, "e1")
    released = deployed.invoke("CapacityStageRelease", {"execution_arn": ARN + "e1",
                                                        "instance_types": PLAN["instance_order"]})
    again = deployed.invoke("CapacityStageRelease", {"execution_arn": ARN + "e1",
                                                     "instance_types": PLAN["instance_order"]})
    assert released == {"released": ["ml.g5.12xlarge"], "woken": []} and again == {"released": [], "woken": []}
    assert acquire(deployed, "e2")["acquired"] is True


def test_waiting_runs_are_served_first_come_first_served(deployed):
    jf = deployed.jf
    assert acquire(deployed, "e1")["acquired"] is True
    e2 = acquire(deployed, "e2", run_id="jf-e2")
    e3 = acquire(deployed, "e3", run_id="jf-e3")
    assert not e2["acquired"] and not e3["acquired"]
    assert [item["run_id"] for item in jf.queue()] == ["jf-e2", "jf-e3"]
    assert "1 wanted by runs ahead in line" in e3["reason"] and e3["queued_ahead"] == 1
    # The first in line re-checks on the backoff; the run behind it sleeps until woken (safety net 20 x 180 s).
    assert 48 <= e2["wait_seconds"] <= 72
    assert 2880 <= e3["wait_seconds"] <= 4320
    release(deployed, "e1")

    # The newer run checks first after the release: the slot is kept for the run ahead of it.
    e3_again = acquire(deployed, "e3", previous=e3, run_id="jf-e3")
    assert not e3_again["acquired"]
    assert e3_again["reason"].startswith("Free slots go to runs that waited longer")
    assert e3_again["queued_at_ms"] == e3["queued_at_ms"]  # a re-check keeps the place in line
    e2_again = acquire(deployed, "e2", previous=e2, run_id="jf-e2")
    assert e2_again["acquired"] is True
    assert [item["run_id"] for item in jf.queue()] == ["jf-e3"]  # reserving took e2 out of line


def test_a_new_run_queues_behind_waiting_runs_even_when_a_slot_is_free(deployed):
    acquire(deployed, "e1")
    acquire(deployed, "e2", run_id="jf-e2")
    release(deployed, "e1")
    newcomer = acquire(deployed, "e9", run_id="jf-e9")
    assert not newcomer["acquired"] and newcomer["queued_ahead"] == 1


def test_parking_stores_the_token_or_wakes_at_once_if_capacity_changed_meanwhile(deployed):
    jf = deployed.jf
    acquire(deployed, "e1")
    waiting = acquire(deployed, "e2", run_id="jf-e2")
    park = {"run_id": "jf-e2", "execution_arn": ARN + "e2", "capacity": waiting}
    assert deployed.invoke("CapacityStagePark", {**park, "task_token": "token-1"}) == {"run_id": "jf-e2",
                                                                                        "parked": True}
    assert jf.queue()[0]["task_token"] == "token-1"

    release(deployed, "e1")  # bumps the version the wait decision saw
    assert deployed.invoke("CapacityStagePark", {**park, "task_token": "token-2"})["parked"] is False
    (waiter,) = jf.queue()
    assert "task_token" not in waiter and waiter["woken_at"]  # claimed for the wake-up: nobody wakes it twice


def test_parking_after_leaving_the_line_does_not_put_the_run_back(deployed):
    """E.g. the execution was stopped while its park call ran: no stale place may block the line."""
    jf = deployed.jf
    acquire(deployed, "e1")
    waiting = acquire(deployed, "e2", run_id="jf-e2")
    release(deployed, "e2")  # what the status-change rule does for a stopped execution
    parked = deployed.invoke("CapacityStagePark", {"run_id": "jf-e2", "execution_arn": ARN + "e2",
                                                   "capacity": waiting, "task_token": "token-late"})
    assert parked == {"run_id": "jf-e2", "parked": False}
    assert jf.queue() == []


def test_each_freed_slot_wakes_a_different_run(deployed):
    """Two releases at once: the second skips the run the first already woke and wakes the next."""
    jf = deployed.jf
    jf.aws.set_quota("ml.g5.12xlarge", 2)
    acquire(deployed, "e1")
    acquire(deployed, "e2")
    for name in ("w1", "w2", "w3"):
        waiting = acquire(deployed, name, run_id=f"jf-{name}")
        deployed.invoke("CapacityStagePark", {"run_id": f"jf-{name}", "execution_arn": ARN + name,
                                              "capacity": waiting, "task_token": f"token-{name}"})
    release(deployed, "e1")
    release(deployed, "e2")
    line = {item["run_id"]: item for item in jf.queue()}
    assert {run for run, item in line.items() if "woken_at" in item} == {"jf-w1", "jf-w2"}
    assert line["jf-w3"]["task_token"] == "token-w3"  # still parked: no slot for it yet


def test_release_and_abort_take_the_run_out_of_line(deployed):
    jf = deployed.jf
    acquire(deployed, "e1")
    acquire(deployed, "e2", run_id="jf-e2")
    assert len(jf.queue()) == 1
    release(deployed, "e2")  # e.g. the run failed while waiting
    assert jf.queue() == []


def _ledger(jf) -> CapacityLedger:
    return CapacityLedger(boto3.resource("dynamodb", region_name=jf.aws.region).Table(jf.d.capacity_table))


def test_release_tries_again_when_a_concurrent_transaction_conflicts(deployed):
    jf = deployed.jf
    acquire(deployed, "e1")
    ledger = _ledger(jf)
    client, real_transact, calls = ledger.table.meta.client, ledger.table.meta.client.transact_write_items, []

    def conflicting_once(**request):
        calls.append(request)
        if len(calls) == 1:  # DynamoDB cancels when another transaction holds the version item
            raise client.exceptions.TransactionCanceledException(
                {"Error": {"Code": "TransactionCanceledException", "Message": "[None, TransactionConflict]"},
                 "CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}]}, "TransactWriteItems")
        return real_transact(**request)

    client.transact_write_items = conflicting_once
    assert ledger.release(holder=ARN + "e1", instance_types=PLAN["instance_order"]) == {"ml.g5.12xlarge": 1}
    assert len(calls) == 2 and jf.reservations() == []  # the slot is not left held until it expires


def test_release_of_a_slot_already_released_meanwhile_is_a_no_op(deployed):
    jf = deployed.jf
    acquire(deployed, "e1")
    ledger = _ledger(jf)
    (held,) = jf.reservations()
    release(deployed, "e1")
    # A stale read (the other release landed after it): DynamoDB's own condition failure decides.
    ledger.table.get_item = lambda **_: {"Item": held}
    assert ledger.release(holder=ARN + "e1", instance_types=["ml.g5.12xlarge"]) == {}


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
    """Eight executions check capacity at once (eight Lambda environments) for two slots: the
    ledger's conditional writes let exactly two reserve."""
    jf = deployed.jf
    jf.aws.set_quota("ml.g5.12xlarge", 2)
    start, outcomes = threading.Barrier(8), []

    def race(index: int) -> None:
        start.wait()
        outcomes.append(acquire(deployed, f"race{index}", run_id=f"jf-race{index}")["acquired"])

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [False] * 6 + [True] * 2
    assert len(jf.reservations()) == 2 and len(jf.queue()) == 6
    assert sum(record.cold for record in jf.aws.lambdas.invocations) >= 2  # environments ran side by side


def test_the_account_wide_instance_quota_holds_runs_when_every_type_has_room(deployed):
    from judgeflow.capacity_policy import ACCOUNT_INSTANCES_QUOTA

    deployed.jf.aws.set_quota("ml.g5.12xlarge", 2)
    deployed.jf.aws.set_quota("ml.g5.24xlarge", 2)
    deployed.jf.aws.set_quota(ACCOUNT_INSTANCES_QUOTA, 2)
    first, second, third = (acquire(deployed, name) for name in ("e1", "e2", "e3"))
    assert [r["acquired"] for r in (first, second)] == [True, True]
    assert third["acquired"] is False and third["exhausted"] is False
    assert f"'{ACCOUNT_INSTANCES_QUOTA}' = 2 is in use (2 instances of all types" in third["reason"]
    again = acquire(deployed, "e2")  # a retried check of a run that holds a slot keeps it
    assert again["acquired"] is True and again["instance_type"] == second["instance_type"]
    release(deployed, "e1")
    assert acquire(deployed, "e3", previous=third)["acquired"] is True


def test_an_account_wide_quota_below_one_job_ends_the_wait_with_its_code(deployed):
    from judgeflow.capacity_policy import ACCOUNT_INSTANCES_QUOTA

    deployed.jf.aws.set_unapplied_quota(ACCOUNT_INSTANCES_QUOTA, default=0)
    refused = acquire(deployed, "e1")
    assert refused["exhausted"] is True
    assert f"--quota-code {deployed.jf.aws.quota_code(ACCOUNT_INSTANCES_QUOTA)} " in refused["reason"]
