"""Faults AWS may deliver: a step's reply lost after it ran (Step Functions retries it), a results
event delivered twice, aborts at each stage, a job's output landing after its run was stopped.
Each run goes through the offline pipeline and ends with the README's promises holding."""

from __future__ import annotations

import threading

import pytest

from offline.embedded_aws import EmulatorBehaviour
from tests.bad_inputs import jsonl
from tests.hostile.promises import check_promises, record_of, uploads
from tests.hostile.test_drops import dataset

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("function", ["RegisterStageRegister", "StageInputStage", "PlanStage",
                                      "ValidateStage", "CapacityStageAcquire"])
def test_a_step_whose_reply_was_lost_runs_again_without_a_second_job(offline, function):
    with offline() as jf:
        jf.aws.lose_replies(function)
        jf.drop(f"lost-{function}.jsonl", dataset(f"lost-{function}"))
        (result,) = jf.wait_for(1, timeout=120)
        assert result.status == "SUCCEEDED", result.cause
        assert "Already run - not launched again" not in result.steps
        assert len(jf.training_jobs()) == 1 and record_of(jf, result)["status"] == "SUCCEEDED"
        check_promises(jf, [result], uploads(jf))


def test_a_rejection_whose_reply_was_lost_is_recorded_and_told_once(offline):
    with offline() as jf:
        jf.aws.lose_replies("RegisterStageRecordRejection")
        jf.drop("lost-rejection.jsonl", jsonl({"prompt": "only"}))
        (result,) = jf.wait_for(1, timeout=120)
        assert result.status == "FAILED" and result.error == "DatasetRejected"
        assert [r["status"] for r in jf.run_records()] == ["REJECTED"]
        assert len([m for m in jf.aws.published_messages() if "rejected" in m["Subject"]]) == 1
        check_promises(jf, [result], uploads(jf))


def test_a_results_event_delivered_twice_writes_the_lake_once_and_tells_once(offline):
    with offline() as jf:
        jf.aws.event_copies = 2  # every event, the dataset's and the archive's, arrives twice
        jf.drop("twice.jsonl", dataset("results-twice"))
        results = jf.wait_for(2, timeout=120)
        assert sorted(r.status for r in results) == ["SUCCEEDED", "SUCCEEDED"]
        (run,) = [r for r in results if "Results ready" in r.steps]
        run_id = run.output["run_id"]
        assert len([k for k in jf.keys(jf.d.metrics_bucket, "lake/") if k.endswith(f"/{run_id}.parquet")]) == 2
        told = [m for m in jf.aws.published_messages() if run_id in m["Subject"]]
        assert len(told) == 1
        assert "a repeated delivery" in jf.run_record(run_id)["results_not_applied"][0]
        check_promises(jf, results, uploads(jf))


def test_abort_while_waiting_for_capacity_leaves_no_reservation(offline):
    with offline(emulator=EmulatorBehaviour(hold_jobs=("jf-",)), wait_scale=0.01) as jf:
        jf.drop("holds-the-slot.jsonl", dataset("slot-holder", rows=2))
        holder = _wait_until_in(jf, "Run Nova judge")
        jf.drop("waits.jsonl", dataset("abort-wait", rows=2))
        waiting = _wait_until_in(jf, "Wait for capacity", other_than=holder)
        jf.client("stepfunctions").stop_execution(executionArn=waiting)
        jf.client("stepfunctions").stop_execution(executionArn=holder)  # and the run holding the slot
        results = jf.wait_for(2)
        stopped = jf.result(waiting)
        assert stopped.status == "ABORTED" and record_of(jf, stopped)["status"] == "ABORTED"
        assert len(jf.training_jobs()) == 1
        check_promises(jf, results, uploads(jf))


def test_abort_while_the_job_runs_then_late_output_is_kept_and_the_run_stays_aborted(offline):
    from offline import nova_emulator

    with offline(emulator=EmulatorBehaviour(hold_jobs=("jf-",))) as jf:
        jf.drop("stopped.jsonl", dataset("abort-job", rows=3))
        arn = _wait_until_in(jf, "Run Nova judge")
        jf.client("stepfunctions").stop_execution(executionArn=arn)
        (result,) = jf.wait_for(1)
        record = record_of(jf, result)
        assert result.status == "ABORTED" and record["status"] == "ABORTED"
        # The stopped job still wrote its output (as a job stopped late may): kept, not applied.
        run_id = record["run_id"]
        key = f"runs/{run_id}/output/{run_id}-judge-0/output/output.tar.gz"
        staged = jf.read(jf.d.work_bucket, f"runs/{run_id}/input/llm_judge.jsonl").decode().splitlines()
        recipe_key = next(k for k in jf.keys(jf.d.work_bucket, f"runs/{run_id}/recipe/"))
        archive = nova_emulator.emulate([__import__("json").loads(line) for line in staged],
                                        jf.read(jf.d.work_bucket, recipe_key).decode())
        jf.client("s3").put_object(Bucket=jf.d.work_bucket, Key=key, Body=archive)
        jf.aws.wait_for_deliveries()
        record = jf.run_record(run_id)
        assert record["status"] == "ABORTED" and record["late_results"].startswith(f"s3://{jf.d.work_bucket}/{key}")
        assert jf.keys(jf.d.work_bucket, key) == [key]
        assert not [k for k in jf.keys(jf.d.metrics_bucket, "lake/") if run_id in k]
        check_promises(jf, [result], uploads(jf))


def test_results_of_a_failed_run_do_not_flip_it(offline):
    from offline import nova_emulator

    with offline(emulator=EmulatorBehaviour(fail_jobs={"jf-": "AlgorithmError: judge crashed"})) as jf:
        jf.drop("fails.jsonl", dataset("fails", rows=3))
        (result,) = jf.wait_for(1)
        record = record_of(jf, result)
        assert result.status == "FAILED" and record["status"] == "FAILED"
        run_id = record["run_id"]
        key = f"runs/{run_id}/output/{run_id}-judge-0/output/output.tar.gz"
        recipe = "run: {name: r, model_name_or_path: nova-micro/prod}\nevaluation: {task: llm_judge}\n"
        jf.client("s3").put_object(Bucket=jf.d.work_bucket, Key=key, Body=nova_emulator.emulate(
            [{"prompt": "p", "response_A": "a", "response_B": "b"}], recipe))
        jf.aws.wait_for_deliveries()
        after = jf.run_record(run_id)
        assert (after["status"], after["reason"]) == ("FAILED", record["reason"])
        assert "is FAILED, not waiting for results" in after["results_not_applied"][0]
        check_promises(jf, [result], uploads(jf))


def _wait_until_in(jf, state: str, timeout: float = 60, other_than: str = "") -> str:
    """The ARN of an execution (not `other_than`) once it has entered `state`."""
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        for execution in jf.executions():
            if execution["executionArn"] != other_than and state in jf.result(execution["executionArn"]).steps:
                return execution["executionArn"]
        time.sleep(0.05)
    raise TimeoutError(f"no execution reached {state!r}")
