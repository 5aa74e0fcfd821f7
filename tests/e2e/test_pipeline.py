"""The CDK-synthesized state machine, executed unchanged by moto, with the real handlers in-process
and the local Nova emulator. GIVEN a deployment, WHEN a dataset is dropped, THEN ..."""

from __future__ import annotations

import io
import json
import threading
import time

import pyarrow.parquet as pq
import pytest

from offline.embedded_aws import EmulatorBehaviour
from tests.conftest import sample_dataset

pytestmark = pytest.mark.e2e

HAPPY_STEPS = ["Read execution input", "Validate dataset", "Dataset valid?", "Register run", "New run?", "Stage Nova input",
               "Plan judge job", "Start capacity checks", "Check capacity", "Capacity reserved?", "Run Nova judge",
               "Release capacity", "Wait for results", "Results ready"]


def test_happy_path_ends_in_parquet_report_and_released_capacity(offline):
    with offline() as jf:
        key = jf.drop("team/eval 1.jsonl", sample_dataset(), {"model-a": "aurora-7b", "model-b": "borealis-13b"})
        (result,) = jf.wait_for(1)

        assert result.status == "SUCCEEDED", result.cause
        assert result.steps == HAPPY_STEPS
        output = result.output
        assert output["produced_by"] == "local-emulator"
        assert sum(output["counts"].values()) == 24
        runs = pq.read_table(io.BytesIO(jf.read(*_split(output["locations"]["runs"])))).to_pylist()
        items = pq.read_table(io.BytesIO(jf.read(*_split(output["locations"]["items"])))).to_pylist()
        assert len(runs) == 1 and runs[0]["model_b"] == "borealis-13b" and runs[0]["produced_by"] == "local-emulator"
        assert len(items) == 24
        assert {row["category"] for row in items} == {"science", "geography", "cooking", "programming", "finance",
                                                      "health"}
        assert items[0]["line_number"] == 1
        assert json.loads(items[0]["sidecar_json"]) == {"_line": 1, "id": "q001", "category": "science"}
        assert jf.read(*_split(output["locations"]["report.png"])).startswith(b"\x89PNG")
        record = jf.run_record(output["run_id"])
        assert record["status"] == "SUCCEEDED" and record["instance_type"] == "ml.g5.12xlarge"
        assert jf.reservations() == []
        # The staged file holds exactly the three Nova fields.
        staged = jf.read(jf.d.work_bucket, f"runs/{output['run_id']}/input/llm_judge.jsonl").decode().splitlines()
        assert len(staged) == 24 and set(json.loads(staged[0])) == {"prompt", "response_A", "response_B"}
        # The original is untouched.
        assert jf.read(jf.d.datasets_bucket, key) == sample_dataset()


def test_invalid_file_is_rejected_with_report_and_original_kept(offline):
    bad = (b'{"prompt": "p1", "response_A": "a", "response_B": "b"}\n'
           b'{"prompt": "p2", "response_A": "a"}\n'
           b'{"prompt": "p3", "response_A": "a", "response_B": 7}\n'
           b'not json\n')
    with offline() as jf:
        inbox = _subscribe_queue(jf)
        key = jf.drop("bad.jsonl", bad)
        (result,) = jf.wait_for(1)

        assert result.status == "FAILED"
        assert result.error == "DatasetRejected"
        assert "line 2 field response_B" in result.cause and "line 3 field response_B" in result.cause
        assert result.steps[-2:] == ["Record rejection", "Dataset rejected"]
        report = json.loads(jf.read(jf.d.datasets_bucket, "rejected/bad.jsonl.report.json"))
        assert [(e["line"], e["field"], e["kind"]) for e in report["errors"]] == [
            (2, "response_B", "missing_field"), (3, "response_B", "not_a_string"), (4, None, "invalid_json")]
        assert jf.read(jf.d.datasets_bucket, key) == bad
        versions = jf.client("s3").list_object_versions(Bucket=jf.d.datasets_bucket, Prefix=key)["Versions"]
        assert len(versions) == 1
        (record,) = jf.run_records()
        assert record["status"] == "REJECTED" and "rejected" in record["reason"]
        assert jf.training_jobs() == []
        (notice,) = _messages(jf, inbox)
        assert notice["Subject"] == "judgeflow: dataset rejected (incoming/bad.jsonl)"
        assert json.loads(notice["Message"])["status"] == "REJECTED"


def test_quota_full_for_two_checks_then_success(offline):
    behaviour = EmulatorBehaviour(hold_jobs=("other-team-",))
    # Waits of 3 s then 6 s: the releaser has seconds, not milliseconds, to act between checks.
    with offline(wait_scale=0.05, emulator=behaviour, quotas={"ml.g5.12xlarge": 1}) as jf:
        _start_external_job(jf, "other-team-finetune")
        jf.drop("queued.jsonl", sample_dataset(), {"instance-types": "ml.g5.12xlarge"})

        def release_after_two_waits() -> None:
            deadline = time.time() + 30
            while time.time() < deadline:
                executions = jf.executions()
                if executions and jf.result(executions[0]["executionArn"]).steps.count("Wait for capacity") >= 2:
                    jf.aws.finish_held_job("other-team-finetune")
                    return
                time.sleep(0.02)

        releaser = threading.Thread(target=release_after_two_waits)
        releaser.start()
        (result,) = jf.wait_for(1)
        releaser.join()

        assert result.status == "SUCCEEDED", result.cause
        assert result.steps.count("Wait for capacity") == 2
        assert result.steps.count("Check capacity") == 3
        waiting = _task_outputs(jf, result.arn, "Check capacity")[0]["capacity"]
        assert waiting["acquired"] is False
        assert "'ml.g5.12xlarge for training job usage' = 1, in use 1" in waiting["reason"]
        assert waiting["next_check_at"]
        assert jf.reservations() == []


def test_training_job_failure_is_recorded_and_capacity_released(offline):
    reason = "AlgorithmError: the judge container exited with code 1 (see the training job's logs)"
    with offline(emulator=EmulatorBehaviour(fail_jobs={"jf-": reason})) as jf:
        jf.drop("will-fail.jsonl", sample_dataset())
        (result,) = jf.wait_for(1)

        assert result.status == "FAILED"
        assert result.error == "RunFailed"
        assert "Failed: AlgorithmError: the judge container exited with code 1" in result.cause
        assert result.steps[-5:] == ["Run Nova judge", "Release capacity after job failure", "Out of instance capacity?",
                                     "Record failure", "Run failed"]
        (record,) = jf.run_records()
        assert record["status"] == "FAILED" and "AlgorithmError" in record["reason"]
        assert jf.reservations() == []
        # The FAILED status change reaches the release rule too, which changes nothing more.
        (ended,) = [i for i in jf.aws.lambdas.invocations if "onexecutionended" in i.function]
        assert ended.event["detail"]["status"] == "FAILED" and ended.error is None
        assert ended.result == {"released": [], "woken": []}
        assert jf.run_records()[0]["reason"] == record["reason"]


def test_same_file_dropped_twice_launches_one_training_job(offline):
    with offline() as jf:
        jf.drop("first.jsonl", sample_dataset())
        jf.wait_for(1)
        jf.drop("copy of first.jsonl", sample_dataset())
        first, second = jf.wait_for(2)

        assert first.status == second.status == "SUCCEEDED"
        assert second.steps[-1] == "Already run - not launched again"
        assert "Not launched again" in json.dumps(second.output)
        assert len(jf.training_jobs()) == 1
        # Two uploads are two S3 events, each with its own id (moto gave every event the same one).
        sfn = jf.client("stepfunctions")
        event_ids = [json.loads(sfn.describe_execution(executionArn=r.arn)["input"])["event_id"]
                     for r in (first, second)]
        assert len(set(event_ids)) == 2, event_ids


def test_console_run_falls_back_to_the_next_allowed_instance_type(offline):
    with offline(quotas={"ml.g5.24xlarge": 1}) as jf:
        key = "manual/console run.jsonl"  # outside incoming/: only the console starts it
        jf.client("s3").put_object(Bucket=jf.d.datasets_bucket, Key=key, Body=sample_dataset())
        jf.start_console_run({"bucket": jf.d.datasets_bucket, "key": key,
                              "settings": {"model_a": "x", "model_b": "y",
                                           "instance_types": ["ml.g5.12xlarge", "ml.g5.24xlarge"]}})
        (result,) = jf.wait_for(1)

        assert result.status == "SUCCEEDED", result.cause
        (job,) = jf.training_jobs()
        assert job["ResourceConfig"]["InstanceType"] == "ml.g5.24xlarge"
        assert jf.run_record(result.output["run_id"])["model_a"] == "x"


def test_no_quota_for_any_allowed_type_fails_at_once_with_the_fix(offline):
    with offline(quotas={}) as jf:
        jf.drop("no-quota.jsonl", sample_dataset(), {"instance-types": "ml.g5.12xlarge"})
        (result,) = jf.wait_for(1)

        assert result.status == "FAILED"
        assert "Wait for capacity" not in result.steps
        assert "'ml.g5.12xlarge for training job usage' is 0" in result.cause
        assert "request-service-quota-increase" in result.cause
        assert jf.training_jobs() == [] and jf.reservations() == []


def test_same_request_twice_at_once_launches_one_job(offline):
    """At-least-once delivery: two executions for the same object race through registration."""
    with offline() as jf:
        key = "manual/twice.jsonl"
        jf.client("s3").put_object(Bucket=jf.d.datasets_bucket, Key=key, Body=sample_dataset())
        request = {"bucket": jf.d.datasets_bucket, "key": key, "source": "s3-event", "event_id": "same-id"}
        jf.start_console_run(request)
        jf.start_console_run(request)
        runs = jf.wait_for(2)

        assert sorted(r.steps[-1] for r in runs) == ["Already run - not launched again", "Results ready"]
        assert len(jf.training_jobs()) == 1
        assert len(jf.run_records()) == 1


def _subscribe_queue(jf) -> str:
    sqs = jf.client("sqs")
    url = sqs.create_queue(QueueName="notifications")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    jf.client("sns").subscribe(TopicArn=jf.d.topic_arn, Protocol="sqs", Endpoint=arn)
    return url


def _messages(jf, url: str) -> list[dict]:
    received = jf.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in received]


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _start_external_job(jf, name: str) -> None:
    jf.client("sagemaker").create_training_job(
        TrainingJobName=name, RoleArn="arn:aws:iam::123456789012:role/other",
        AlgorithmSpecification={"TrainingImage": "other:latest", "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": "s3://elsewhere/out"},
        ResourceConfig={"InstanceType": "ml.g5.12xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 3600})


def _task_outputs(jf, execution_arn: str, state: str) -> list[dict]:
    history = jf._history(execution_arn)
    return [json.loads(e["stateExitedEventDetails"]["output"]) for e in history
            if "stateExitedEventDetails" in e and e["stateExitedEventDetails"]["name"] == state]


def test_a_rejected_file_with_the_longest_key_is_reported_and_notified(offline):
    """S3 keys may be 1024 bytes; the report key and the SNS subject built from one must still be
    accepted (offline/aws_limits.py holds the emulator to both limits)."""
    name = "team/" + "d" * 1003 + ".jsonl"  # 1023 bytes under incoming/
    with offline() as jf:
        inbox = _subscribe_queue(jf)
        key = jf.drop(name, b"not json\n")
        (result,) = jf.wait_for(1)

        assert result.status == "FAILED" and result.error == "DatasetRejected", result.cause
        (record,) = jf.run_records()
        assert record["status"] == "REJECTED"
        (report_key,) = [o["Key"] for o in jf.client("s3").list_objects_v2(
            Bucket=jf.d.datasets_bucket, Prefix="rejected/")["Contents"]]
        assert len(report_key.encode()) <= 1024 and report_key.startswith("rejected/team/ddd")
        assert f"Full report: s3://{jf.d.datasets_bucket}/{report_key}" in result.cause
        assert json.loads(jf.read(jf.d.datasets_bucket, report_key))["errors"][0]["kind"] == "invalid_json"
        assert jf.read(jf.d.datasets_bucket, key) == b"not json\n"
        (notice,) = _messages(jf, inbox)
        assert len(notice["Subject"]) < 100 and notice["Subject"].endswith("...")
        assert notice["Subject"].startswith("judgeflow: dataset rejected (incoming/team/ddd")
