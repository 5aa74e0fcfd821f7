"""The README's promises, checked after any hostile case: every run ends recorded with its status
and reason, originals are never deleted or overwritten, no upload launches a second paid job, no
slot is left reserved and the lake holds each run once."""

from __future__ import annotations

import collections
import json
from typing import Any

from judgeflow import layout, runs
from offline.pipeline import ExecutionResult, OfflineJudgeflow


def uploads(jf: OfflineJudgeflow) -> dict[tuple[str, str], bytes]:
    """Every version of every dataset under incoming/, as it is now: (key, version) -> bytes."""
    s3 = jf.client("s3")
    listed = s3.list_object_versions(Bucket=jf.d.datasets_bucket, Prefix=layout.INCOMING_PREFIX)
    return {(v["Key"], v["VersionId"]): s3.get_object(Bucket=jf.d.datasets_bucket, Key=v["Key"],
                                                      VersionId=v["VersionId"])["Body"].read()
            for v in listed.get("Versions", [])}


def check_promises(jf: OfflineJudgeflow, results: list[ExecutionResult],
                   dropped: dict[tuple[str, str], bytes]) -> None:
    """`dropped`: what the test uploaded, (key, version) -> bytes."""
    listed = jf.client("s3").list_object_versions(Bucket=jf.d.datasets_bucket, Prefix=layout.INCOMING_PREFIX)
    assert not listed.get("DeleteMarkers"), "an original was deleted"
    now = uploads(jf)
    for upload, body in dropped.items():
        assert now.get(upload) == body, f"original {upload} changed or lost"

    for result in results:
        assert result.status in ("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"), result
        record = record_of(jf, result)
        assert record["status"] in runs.FINAL_STATUSES, f"{record['run_id']} left {record['status']}"
        assert record.get("reason"), f"{record['run_id']} ended without a reason"

    jobs = collections.Counter(job["TrainingJobName"].rsplit("-judge-", 1)[0] for job in jf.training_jobs()
                               if job["TrainingJobStatus"] != "Failed" or "CapacityError" not in
                               job.get("FailureReason", ""))
    assert all(count == 1 for count in jobs.values()), f"a run launched more than one paid job: {jobs}"
    assert jf.reservations() == [], "a capacity slot was left reserved"
    lake = collections.Counter(key.rsplit("/", 1)[-1] for key in jf.keys(jf.d.metrics_bucket, layout.LAKE_PREFIX)
                               if key.startswith(f"{layout.LAKE_PREFIX}runs/"))
    assert all(count == 1 for count in lake.values()), f"a run's rows were written twice: {lake}"


def _run_named_in_history(jf: OfflineJudgeflow, result: ExecutionResult) -> str:
    """The run a step of the execution named: the one it duplicates, or the rejection it recorded
    (an event delivered twice)."""
    for event in jf._history(result.arn):
        details = event.get("taskSucceededEventDetails") or event.get("lambdaFunctionSucceededEventDetails") or {}
        output = json.loads(details.get("output") or "{}")
        output = output.get("Payload", output) if isinstance(output, dict) else {}
        if isinstance(output, dict) and (output.get("duplicate_of") or output.get("previously_recorded")):
            return output.get("duplicate_of") or output["run_id"]
    raise AssertionError(f"{result.arn}: no record of its own and no run it names")


def record_of(jf: OfflineJudgeflow, result: ExecutionResult) -> dict[str, Any]:
    """The run record this execution wrote, or the one it found already there."""
    own = [r for r in jf.run_records() if r.get("execution_arn") == result.arn]
    if own:
        (record,) = own
        return record
    return jf.run_record(_run_named_in_history(jf, result))
