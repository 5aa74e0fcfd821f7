"""Registry stage: one run per content+settings, rejections and failures recorded."""

from __future__ import annotations

EXECUTION = {"execution_arn": "arn:aws:states:us-east-1:123456789012:execution:m:e1", "execution_name": "e1"}
SETTINGS = {"task": "llm_judge", "judge_model": "micro", "model_a": "a", "model_b": "b",
            "instance_types": ["ml.g5.12xlarge"], "rerun": False}


def validation(sha: str = "ab" * 32, **settings):
    return {"valid": True, "settings": {**SETTINGS, **settings},
            "dataset": {"bucket": "b", "key": "incoming/x.jsonl", "sha256": sha, "records": 3}}


def test_same_content_and_settings_register_once(deployed):
    first = deployed.invoke("RegisterStageRegister", {"validation": validation(), **EXECUTION})
    second = deployed.invoke("RegisterStageRegister", {"validation": validation(), **EXECUTION,
                                                       "execution_arn": EXECUTION["execution_arn"] + "2",
                                                       "execution_name": "e2"})
    assert first["duplicate"] is False and second["duplicate"] is True
    assert second["duplicate_of"] == first["run_id"]
    assert "rerun=true" in second["message"]


def test_changed_settings_or_explicit_rerun_is_a_new_run(deployed):
    base = deployed.invoke("RegisterStageRegister", {"validation": validation(), **EXECUTION})
    other_label = deployed.invoke("RegisterStageRegister", {"validation": validation(model_b="c"), **EXECUTION})
    rerun = deployed.invoke("RegisterStageRegister", {"validation": validation(rerun=True), **EXECUTION,
                                                      "execution_name": "e9"})
    assert len({base["run_id"], other_label["run_id"], rerun["run_id"]}) == 3
    assert not other_label["duplicate"] and not rerun["duplicate"]


def test_rejection_and_failure_are_recorded_with_reasons(deployed):
    rejected = {"valid": False, "message": "line 2 field prompt: missing", "report_key": "rejected/x.report.json",
                "dataset": {"bucket": "b", "key": "incoming/x.jsonl", "sha256": "cd" * 32}}
    result = deployed.invoke("RegisterStageRecordRejection", {"validation": rejected, **EXECUTION})
    record = deployed.jf.run_record(result["run_id"])
    assert record["status"] == "REJECTED" and record["reason"] == "line 2 field prompt: missing"

    run = deployed.invoke("RegisterStageRegister", {"validation": validation(sha="ef" * 32), **EXECUTION})
    described = '{"TrainingJobName": "j", "TrainingJobStatus": "Failed", "FailureReason": "CapacityError: none"}'
    failed = deployed.invoke("RegisterStageRecordFailure", {"run_id": run["run_id"],
                                                            "error": {"Error": "States.TaskFailed", "Cause": described}})
    assert "training job j Failed: CapacityError: none" in failed["message"]
    assert deployed.jf.run_record(run["run_id"])["status"] == "FAILED"


def test_a_retried_register_is_its_own_run_not_a_duplicate(deployed):
    first = deployed.invoke("RegisterStageRegister", {"validation": validation(sha="12" * 32), **EXECUTION})
    retried = deployed.invoke("RegisterStageRegister", {"validation": validation(sha="12" * 32), **EXECUTION})
    assert retried == {"run_id": first["run_id"], "duplicate": False}


def test_rerun_is_new_once_per_upload_not_per_event_delivery(deployed):
    upload = {"upload": "s3://b/incoming/x.jsonl?versionId=v1"}
    first = deployed.invoke("RegisterStageRegister", {"validation": {**validation(rerun=True), **upload}, **EXECUTION})
    redelivered = deployed.invoke("RegisterStageRegister", {"validation": {**validation(rerun=True), **upload},
                                                            **EXECUTION, "execution_arn": EXECUTION["execution_arn"] + "2",
                                                            "execution_name": "e2"})
    uploaded_again = deployed.invoke("RegisterStageRegister", {
        "validation": {**validation(rerun=True), "upload": "s3://b/incoming/x.jsonl?versionId=v2"},
        **EXECUTION, "execution_arn": EXECUTION["execution_arn"] + "3", "execution_name": "e3"})
    assert first["duplicate"] is False
    assert redelivered["duplicate"] is True and redelivered["duplicate_of"] == first["run_id"]
    assert "Upload the file again with rerun=true" in redelivered["message"]
    assert uploaded_again["duplicate"] is False and uploaded_again["run_id"] != first["run_id"]


def test_two_rejected_uploads_of_one_file_keep_two_records_and_a_redelivery_is_not_notified_twice(deployed):
    def rejection(version):
        return {"valid": False, "message": f"bad ({version})", "report_key": "rejected/x.jsonl.report.json",
                "report_version_id": f"r-{version}", "upload": f"s3://b/incoming/x.jsonl?versionId={version}",
                "dataset": {"bucket": "b", "key": "incoming/x.jsonl", "sha256": "cd" * 32, "version_id": version}}

    first = deployed.invoke("RegisterStageRecordRejection", {"validation": rejection("v1"), **EXECUTION})
    second = deployed.invoke("RegisterStageRecordRejection", {"validation": rejection("v2"), **EXECUTION,
                                                              "execution_arn": EXECUTION["execution_arn"] + "2"})
    again = deployed.invoke("RegisterStageRecordRejection", {"validation": rejection("v1"), **EXECUTION,
                                                             "execution_arn": EXECUTION["execution_arn"] + "3"})
    assert first["run_id"] != second["run_id"] and again["run_id"] == first["run_id"]
    assert again["previously_recorded"] is True
    records = {r: deployed.jf.run_record(r) for r in (first["run_id"], second["run_id"])}
    assert [(rec["dataset_version_id"], rec["report_version_id"], rec["reason"], rec["execution_arn"])
            for rec in records.values()] == [
        ("v1", "r-v1", "bad (v1)", EXECUTION["execution_arn"]),
        ("v2", "r-v2", "bad (v2)", EXECUTION["execution_arn"] + "2")]
