"""Results stage: emulator archives in, Parquet/report out; faults recorded, never silent."""

from __future__ import annotations

import io
import json

import pyarrow.parquet as pq

from offline import nova_emulator as emulator

RECIPE = "run: {name: jf-res, model_name_or_path: nova-micro/prod}\nevaluation: {task: llm_judge}\n"
RECORDS = [{"prompt": f"question {i} about rivers", "response_A": "rivers flow" if i % 2 else "no",
            "response_B": "rivers flow to the sea, mostly" if i % 3 else "?"} for i in range(9)]


def land(deployed, run_id: str, archive: bytes) -> dict:
    jf = deployed.jf
    jf.client("dynamodb").put_item(TableName=jf.d.runs_table, Item={
        "run_id": {"S": run_id}, "status": {"S": "RUNNING"}, "model_a": {"S": "old"}, "model_b": {"S": "new"}})
    key = f"runs/{run_id}/output/{run_id}-judge-0/output/output.tar.gz"
    jf.client("s3").put_object(Bucket=jf.d.work_bucket, Key=f"runs/{run_id}/sidecar/sidecar.jsonl",
                               Body="".join(json.dumps({"_line": i + 1, "category": "geo" if i < 5 else "sci"}) + "\n"
                                            for i in range(len(RECORDS))).encode())
    # Writing the archive fires the JudgeOutputLanded rule -> the results Lambda (asynchronously), as on AWS.
    jf.client("s3").put_object(Bucket=jf.d.work_bucket, Key=key, Body=archive)
    jf.aws.wait_for_deliveries()
    return jf.run_record(run_id)


def test_construct_is_a_container_image_with_its_handler(stateless_template):
    functions = stateless_template.find_resources("AWS::Lambda::Function")
    (results,) = [f for k, f in functions.items() if k.startswith("ResultsStageResults")]
    assert results["Properties"]["PackageType"] == "Image"
    assert results["Properties"]["ImageConfig"]["Command"] == ["lambdas.results.handler.lambda_handler"]


def test_output_archive_becomes_parquet_report_and_registry_status(deployed):
    record = land(deployed, "jf-res", emulator.emulate(RECORDS, RECIPE))
    assert record["status"] in ("SUCCEEDED", "UNRELIABLE") and record["results_done"] is True, record.get("reason")
    summary = json.loads(record["results_summary"])
    items_uri = summary["locations"]["items"]
    bucket, _, key = items_uri.removeprefix("s3://").partition("/")
    assert key.startswith("lake/items/dt=")
    items = pq.read_table(io.BytesIO(deployed.jf.read(bucket, key))).to_pylist()
    assert [row["category"] for row in items] == ["geo"] * 5 + ["sci"] * 4
    assert deployed.jf.read(bucket, "reports/jf-res/report.png").startswith(b"\x89PNG")


def test_corrupt_archive_is_recorded_as_failed(deployed):
    record = land(deployed, "jf-corrupt", b"this is not a tarball")
    assert record["status"] == "FAILED"
    assert "not a readable tar archive" in record["reason"]


def test_all_inference_errors_is_unreliable(deployed):
    archive = emulator.emulate(RECORDS, RECIPE, error_items=range(len(RECORDS)))
    record = land(deployed, "jf-errors", archive)
    assert record["status"] == "UNRELIABLE"
    assert "inference errors" in record["reason"]


def test_archive_without_summary_json_is_recorded_as_failed(deployed):
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        note = b"judge crashed before writing results"
        info = tarfile.TarInfo("jf-nosummary/eval_results/log.txt")
        info.size = len(note)
        tar.addfile(info, io.BytesIO(note))
    record = land(deployed, "jf-nosummary", buffer.getvalue())
    assert record["status"] == "FAILED"
    assert "no summary JSON" in record["reason"]


def _lake_objects(jf, run_id):
    return sorted(k for k in jf.keys(jf.d.metrics_bucket, "lake/") if k.endswith(f"/{run_id}.parquet"))


def _notifications(jf):
    return [m for m in jf.aws.published_messages() if "judgeflow: run" in m["Subject"]]


def _redeliver(jf, run_id):
    """The same S3 event delivered again (EventBridge delivers at least once)."""
    key = f"runs/{run_id}/output/{run_id}-judge-0/output/output.tar.gz"
    version = jf.client("s3").head_object(Bucket=jf.d.work_bucket, Key=key)["VersionId"]
    jf.aws.redeliver_object_created(jf.d.work_bucket, key, version)
    jf.aws.wait_for_deliveries()
    return jf.run_record(run_id)


def test_results_delivered_again_change_nothing(deployed):
    jf = deployed.jf
    first = land(deployed, "jf-twice", emulator.emulate(RECORDS, RECIPE))
    lake, told = _lake_objects(jf, "jf-twice"), len(_notifications(jf))
    again = _redeliver(jf, "jf-twice")
    assert (again["status"], again["results_summary"], again["finished_at"]) == (
        first["status"], first["results_summary"], first["finished_at"])
    assert _lake_objects(jf, "jf-twice") == lake and len(lake) == 2
    assert len(_notifications(jf)) == told == 1
    assert "a repeated delivery" in again["results_not_applied"][0]


def test_a_late_corrupt_copy_never_flips_a_finished_run(deployed):
    jf = deployed.jf
    first = land(deployed, "jf-late", emulator.emulate(RECORDS, RECIPE))
    key = "runs/jf-late/output/jf-late-judge-0/output/output.tar.gz"
    jf.client("s3").put_object(Bucket=jf.d.work_bucket, Key=key, Body=b"garbage")
    jf.aws.wait_for_deliveries()
    record = jf.run_record("jf-late")
    assert record["status"] == first["status"] and record["results_summary"] == first["results_summary"]
    assert "already has its results" in record["results_not_applied"][0]


def test_results_for_an_unknown_run_are_not_applied(deployed):
    jf = deployed.jf
    key = "runs/jf-ghost/output/jf-ghost-judge-0/output/output.tar.gz"
    jf.client("s3").put_object(Bucket=jf.d.work_bucket, Key=key, Body=emulator.emulate(RECORDS, RECIPE))
    jf.aws.wait_for_deliveries()
    assert jf.run_record("jf-ghost") is None
    assert _lake_objects(jf, "jf-ghost") == [] and _notifications(jf) == []


def test_output_of_a_stopped_run_is_kept_and_the_run_stays_aborted(deployed):
    jf = deployed.jf
    jf.client("dynamodb").put_item(TableName=jf.d.runs_table, Item={
        "run_id": {"S": "jf-stopped"}, "status": {"S": "ABORTED"}, "reason": {"S": "execution aborted: stopped"}})
    key = "runs/jf-stopped/output/jf-stopped-judge-0/output/output.tar.gz"
    jf.client("s3").put_object(Bucket=jf.d.work_bucket, Key=key, Body=emulator.emulate(RECORDS, RECIPE))
    jf.aws.wait_for_deliveries()
    record = jf.run_record("jf-stopped")
    assert record["status"] == "ABORTED" and record["reason"] == "execution aborted: stopped"
    assert record["late_results"].startswith(f"s3://{jf.d.work_bucket}/{key}?versionId=")
    assert "kept in place, not applied" in record["results_not_applied"][0]
    assert jf.keys(jf.d.work_bucket, key) == [key]  # the output is kept
    assert _lake_objects(jf, "jf-stopped") == []


def test_an_archive_over_the_bounds_fails_the_run_naming_the_setting(deployed):
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for index in range(10_001):
            tar.addfile(tarfile.TarInfo(f"jf-many/eval_results/{index}.txt"), io.BytesIO(b""))
    record = land(deployed, "jf-many", buffer.getvalue())
    assert record["status"] == "FAILED" and "results_max_members" in record["reason"]
