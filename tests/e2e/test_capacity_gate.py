"""The capacity gate on the synthesized state machine: quota refusals, CapacityError fallback,
aborts, and concurrent runs that never exceed the quota."""

from __future__ import annotations

import json
import threading
import time

import pytest

from offline.embedded_aws import EmulatorBehaviour, Fault
from tests.conftest import sample_dataset
from tests.e2e.test_pipeline import _start_external_job, _task_outputs

pytestmark = pytest.mark.e2e


def _wait_for_step(jf, step: str, timeout: float = 30) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        for execution in jf.executions():
            if step in jf.result(execution["executionArn"]).steps:
                return execution["executionArn"]
        time.sleep(0.02)
    raise TimeoutError(step)


def test_resource_limit_exceeded_goes_back_to_waiting_then_succeeds(offline):
    with offline(emulator=EmulatorBehaviour(resource_limit_refusals=1)) as jf:
        jf.drop("refused-once.jsonl", sample_dataset())
        (result,) = jf.wait_for(1)

        assert result.status == "SUCCEEDED", result.cause
        assert result.steps.count("Release slot after quota refusal") == 1
        assert result.steps.count("Run Nova judge") == 2
        assert len(jf.training_jobs()) == 1 and jf.reservations() == []


def test_capacity_error_falls_back_to_the_next_allowed_type(offline):
    behaviour = EmulatorBehaviour(capacity_errors={"ml.g5.12xlarge": 1})
    with offline(emulator=behaviour, quotas={"ml.g5.12xlarge": 1, "ml.g5.24xlarge": 1}) as jf:
        jf.drop("zone-full.jsonl", sample_dataset(), {"instance-types": "ml.g5.12xlarge,ml.g5.24xlarge"})
        (result,) = jf.wait_for(1)

        assert result.status == "SUCCEEDED", result.cause
        assert "Try another instance type" in result.steps
        jobs = sorted(jf.training_jobs(), key=lambda j: j["TrainingJobName"])
        assert [(j["ResourceConfig"]["InstanceType"], j["TrainingJobStatus"]) for j in jobs] == [
            ("ml.g5.12xlarge", "Failed"), ("ml.g5.24xlarge", "Completed")]
        assert [j["TrainingJobName"][-2:] for j in jobs] == ["-0", "-1"]  # a new job name per launch
        assert jf.reservations() == []


def test_capacity_error_on_the_only_available_type_waits_and_retries(offline):
    with offline(emulator=EmulatorBehaviour(capacity_errors={"ml.g5.12xlarge": 1})) as jf:
        jf.drop("zone-full-once.jsonl", sample_dataset())
        (result,) = jf.wait_for(1)

        assert result.status == "SUCCEEDED", result.cause
        assert result.steps.count("Run Nova judge") == 2 and "Wait for capacity" in result.steps
        checks = [o["capacity"] for o in _task_outputs(jf, result.arn, "Check capacity")]
        assert "No instance capacity in the zone for ml.g5.12xlarge (CapacityError)" in checks[1]["reason"]


def test_abort_while_waiting_leaves_no_reservation_and_is_recorded(offline):
    with offline(wait_scale=0.05, emulator=EmulatorBehaviour(hold_jobs=("other-",))) as jf:
        _start_external_job(jf, "other-team-job")
        jf.drop("abort-wait.jsonl", sample_dataset(), {"instance-types": "ml.g5.12xlarge"})
        execution = _wait_for_step(jf, "Wait for capacity")
        jf.client("stepfunctions").stop_execution(executionArn=execution)
        (result,) = jf.wait_for(1)

        assert result.status == "ABORTED"
        assert jf.reservations() == [] and jf.queue() == []  # no slot and no place in line left behind
        (record,) = jf.run_records()
        assert record["status"] == "ABORTED"


def test_abort_during_the_job_releases_its_reservation(offline):
    with offline(emulator=EmulatorBehaviour(hold_jobs=("jf-",))) as jf:
        jf.drop("abort-job.jsonl", sample_dataset())
        execution = _wait_for_step(jf, "Run Nova judge")
        deadline = time.time() + 10
        while not jf.reservations() and time.time() < deadline:
            time.sleep(0.02)
        assert len(jf.reservations()) == 1
        jf.client("stepfunctions").stop_execution(executionArn=execution)
        (result,) = jf.wait_for(1)

        assert result.status == "ABORTED"
        assert jf.reservations() == []
        assert jf.run_records()[0]["status"] == "ABORTED"
        # Step Functions stops the job of a stopped .sync task (moto left it running).
        deadline = time.time() + 10
        while jf.training_jobs()[0]["TrainingJobStatus"] != "Stopped" and time.time() < deadline:
            time.sleep(0.05)
        assert jf.training_jobs()[0]["TrainingJobStatus"] == "Stopped"


@pytest.mark.parametrize("runs, quota", [(2, 1), (3, 2)])
def test_concurrent_runs_never_exceed_the_quota(offline, runs, quota):
    # Jobs start only once `quota` of them are running (or after 30 s): the quota is then used in
    # full whatever the machine's load, and a run over it would show as one job too many.
    behaviour = EmulatorBehaviour(duration_seconds=0.2, job_gate=threading.Event())
    with offline(wait_scale=0.002, emulator=behaviour, quotas={"ml.g5.12xlarge": quota}) as jf:
        samples: list[tuple[int, int]] = []
        stop = threading.Event()
        give_up = time.time() + 30

        def watch() -> None:
            while not stop.is_set():
                running = sum(1 for j in jf.training_jobs() if j["TrainingJobStatus"] == "InProgress")
                samples.append((len(jf.reservations()), running))
                if running >= quota or time.time() > give_up:
                    behaviour.job_gate.set()
                time.sleep(0.05)

        watcher = threading.Thread(target=watch)
        watcher.start()
        for index in range(runs):
            jf.drop(f"concurrent-{index}.jsonl", sample_dataset(),
                    {"model-b": f"candidate-{index}", "instance-types": "ml.g5.12xlarge"})
        results = jf.wait_for(runs, timeout=90)
        stop.set()
        watcher.join()

        assert [r.status for r in results] == ["SUCCEEDED"] * runs, [r.cause for r in results]
        assert not any("Release slot after quota refusal" in r.steps for r in results)  # the gate held
        assert max(reserved for reserved, _ in samples) <= quota
        assert max(running for _, running in samples) <= quota
        assert max(running for _, running in samples) == quota  # and the quota was used
        assert sum(r.steps.count("Wait for capacity") for r in results) >= 1
        assert jf.reservations() == []


def _task_inputs(jf, execution_arn: str, state: str) -> list[dict]:
    return [json.loads(e["stateEnteredEventDetails"]["input"]) for e in jf._history(execution_arn)
            if "stateEnteredEventDetails" in e and e["stateEnteredEventDetails"]["name"] == state]


def _wait_until_holding_or_queued(jf, dataset_key: str, timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        runs = {r["run_id"] for r in jf.run_records() if r.get("dataset_key") == dataset_key}
        if runs & {i["run_id"] for i in jf.reservations() + jf.queue()}:
            return
        time.sleep(0.02)
    raise TimeoutError(dataset_key)


def test_waiting_runs_start_in_arrival_order_as_soon_as_a_release_wakes_them(offline):
    # The first in line re-checks after 60 s x 0.5 = 30 s, far beyond a 1.5 s job: a run that starts
    # without a timed-out wait was started by a wake-up on release. No wall-clock bound here: a
    # loaded CI machine must not fail it (speed is measured by benchmarks/bench_capacity.py).
    first_job_may_run = threading.Event()  # holds the first job until both other runs stand in line
    behaviour = EmulatorBehaviour(duration_seconds=1.5, job_gate=first_job_may_run)
    with offline(wait_scale=0.5, emulator=behaviour) as jf:
        arrivals = []
        for index in range(3):
            arrivals.append(jf.drop(f"in-line-{index}.jsonl", sample_dataset(),
                                    {"model-b": f"candidate-{index}", "instance-types": "ml.g5.12xlarge"}))
            _wait_until_holding_or_queued(jf, arrivals[-1])  # the next run arrives after this one
        queued = [item["run_id"] for item in jf.queue()]
        first_job_may_run.set()
        results = jf.wait_for(3, timeout=120)

        assert [r.status for r in results] == ["SUCCEEDED"] * 3, [r.cause for r in results]
        records = {r["run_id"]: r for r in jf.run_records()}
        assert len(queued) == 2
        jobs = sorted(jf.training_jobs(), key=lambda j: j["CreationTime"])
        job_runs = [j["TrainingJobName"].rsplit("-judge-", 1)[0] for j in jobs]
        by_key = {records[run]["dataset_key"]: run for run in records}
        assert job_runs == [by_key[key] for key in arrivals]  # first come, first served
        assert job_runs[1:] == queued
        checks = [c["capacity"] for r in results for c in _task_inputs(jf, r.arn, "Check capacity")]
        assert not any("timed_out" in c for c in checks)  # every wait ended by a wake-up
        assert sum("woken" in c for c in checks) >= 2
        assert jf.reservations() == [] and jf.queue() == []


def test_a_run_still_going_when_the_harness_closes_is_stopped_and_its_thread_joined(offline):
    from moto.stepfunctions.parser.utils import TMP_THREADS

    first_thread = len(TMP_THREADS)
    with offline(wait_scale=0.05, emulator=EmulatorBehaviour(hold_jobs=("other-",))) as jf:
        _start_external_job(jf, "other-team-job")
        jf.drop("left-waiting.jsonl", sample_dataset(), {"instance-types": "ml.g5.12xlarge"})
        _wait_for_step(jf, "Wait for capacity")
    # Nothing of that run may go on calling services once the embedded AWS is gone.
    assert not [t for t in TMP_THREADS[first_thread:] if t.is_alive()]


def test_a_release_meeting_a_concurrent_dynamodb_transaction_is_retried_and_the_run_succeeds(offline):
    with offline() as jf:
        # The run's first DeleteItem is its release leaving the line: DynamoDB refuses it because
        # another run's transaction holds the item (the embedded AWS answers it as DynamoDB does).
        conflict = jf.aws.faults.add(Fault(target="DynamoDB_20120810.DeleteItem",
                                           error="com.amazonaws.dynamodb.v20120810#TransactionConflictException",
                                           message="Transaction is ongoing for the item"))
        jf.drop("conflict.jsonl", sample_dataset())
        (result,) = jf.wait_for(1)

        assert result.status == "SUCCEEDED", result.cause
        assert len(conflict.seen) == 1 and jf.reservations() == [] and jf.queue() == []
        failures = [e["lambdaFunctionFailedEventDetails"] for e in jf._history(result.arn)
                    if e["type"] == "LambdaFunctionFailed"]
        assert [f["error"] for f in failures] == ["TransactionConflictException"]  # failed once, then retried


def test_throttled_quota_and_job_reads_are_retried_and_the_run_succeeds(offline):
    # A busy account: Service Quotas answers TooManyRequestsException, SageMaker ThrottlingException.
    # boto3's default (legacy) retries would give up on the first at once.
    with offline() as jf:
        quotas = jf.aws.faults.add(Fault(target="ServiceQuotasV20190624.ListServiceQuotas", count=2,
                                         error="TooManyRequestsException", message="Rate exceeded"))
        jobs = jf.aws.faults.add(Fault(target="SageMaker.ListTrainingJobs", count=2,
                                       error="ThrottlingException", message="Rate exceeded"))
        jf.drop("throttled.jsonl", sample_dataset())
        (result,) = jf.wait_for(1, timeout=120)

        assert result.status == "SUCCEEDED", result.cause
        assert len(quotas.seen) == 2 and len(jobs.seen) == 2
        failures = [e for e in jf._history(result.arn) if e["type"] == "LambdaFunctionFailed"]
        assert failures == []  # retried inside the call, not by failing the stage


def test_a_throttled_launch_is_retried_by_the_state_machine_and_one_job_runs(offline):
    # CreateTrainingJob answered ThrottlingException twice (nothing created): the task retries it
    # with backoff under the same job name; without the retry the run failed on the first.
    with offline(emulator=EmulatorBehaviour(create_throttles=2)) as jf:
        jf.drop("launch-throttled.jsonl", sample_dataset())
        (result,) = jf.wait_for(1, timeout=120)

        assert result.status == "SUCCEEDED", result.cause
        assert jf.aws.emulator.create_throttles == 0
        assert len(jf.training_jobs()) == 1 and jf.reservations() == []
        assert result.steps.count("Release capacity after failure") == 0


def test_reads_throttled_at_the_documented_rates_do_not_fail_runs(offline):
    # Three runs at once against Service Quotas' published rates and a low SageMaker read rate
    # (1 call per second, no burst): throttled calls are retried inside the stage, and every run succeeds.
    from offline.aws_limits import API_RATES, AwsLimits

    rates = {**API_RATES, "SageMaker.ListTrainingJobs": (1, 0, "ThrottlingException"),
             "SageMaker.DescribeTrainingJob": (1, 0, "ThrottlingException")}
    with offline(quotas={"ml.g5.12xlarge": 3}, limits=AwsLimits(api_rates=rates)) as jf:
        for index in range(3):
            jf.drop(f"busy-{index}.jsonl", sample_dataset(), {"model-b": f"candidate-{index}"})
        results = jf.wait_for(3, timeout=240)

        assert [r.status for r in results] == ["SUCCEEDED"] * 3, [r.cause for r in results]
        assert jf.aws.rate_limiter.throttled_calls  # the rates did bite
        failures = [e for r in results for e in jf._history(r.arn) if e["type"] == "LambdaFunctionFailed"]
        assert failures == []
