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
