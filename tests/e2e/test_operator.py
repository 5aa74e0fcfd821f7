"""The operator commands against the stack served over HTTP (`judgeflow local up` in its own
process; the commands use real boto3 through AWS_ENDPOINT_URL, no in-process shortcut). GIVEN the
local stack, WHEN an operator submits, lists, shows, waits, downloads, gates and cancels, THEN each
command answers as documented, in a table or in JSON."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import boto3
import pytest

from judgeflow import cli
from offline.local_stack import LOCAL_CREDENTIALS
from tests.conftest import REPO_ROOT, sample_dataset
from tests.e2e.operator_stack import OTHER_TEAM

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def stack(assembly):
    """The local stack in its own process (the session's assembly), and this process pointed at it
    as a user would be."""
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "tests.e2e.operator_stack", str(port), str(assembly.directory)],
                               cwd=REPO_ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:  # drained all along: a full pipe would block the stack's writes
        for line in process.stdout:
            lines.append(line)
            if "ready" in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    assert ready.wait(180), "".join(lines)
    assert f"http://127.0.0.1:{port}" in lines[-1], "".join(lines)
    saved = dict(os.environ)
    os.environ.update({"COLUMNS": "200",  # a wide terminal: table cells read whole
                       "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_REGION": "us-east-1",
                       "AWS_DEFAULT_REGION": "us-east-1", **LOCAL_CREDENTIALS})
    os.environ.pop("AWS_PROFILE", None)
    try:
        yield process
    finally:
        os.environ.clear()
        os.environ.update(saved)
        if process.poll() is None:
            process.kill()
            process.wait()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def dataset(tmp_path, tag: str, response_b=None, response_a=None) -> str:
    """The sample dataset made unique by `tag`; responses replaced to steer the emulator's verdict."""
    lines = []
    for line in sample_dataset().decode().splitlines():
        record = json.loads(line)
        record["prompt"] = f"{record['prompt']} [{tag}]"
        if response_b:
            record["response_B"] = response_b(record)
        if response_a:
            record["response_A"] = response_a(record)
        lines.append(json.dumps(record))
    path = tmp_path / f"{tag}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def echo(record):  # a response naming every prompt word: the emulator prefers it
    return f"About {record['prompt']}: an answer that restates {record['prompt']} in full."


def blank(_record):
    return "?"


@pytest.fixture(scope="module")
def judged(stack, tmp_path_factory):
    """Runs every test below reads: B better, A better and all ties (unreliable)."""
    folder = tmp_path_factory.mktemp("datasets")
    runs = {}
    for name, steer in (("b-better", {"response_b": echo, "response_a": blank}),
                        ("a-better", {"response_b": blank, "response_a": echo}),
                        ("all-ties", {"response_b": echo, "response_a": echo})):
        code = cli.main(["submit", dataset(folder, name, **steer), "--model-a", "base", "--model-b", "cand",
                         "--wait", "--output", "json"])
        runs[name] = code
    return runs


def test_submit_waits_to_a_verdict_and_prints_json(stack, tmp_path, capsys):
    code, out, _ = run(capsys, "submit", dataset(tmp_path, "first", response_b=echo, response_a=blank),
                       "--model-a", "aurora-7b", "--model-b", "borealis-13b", "--wait", "--output", "json")
    result = json.loads(out)
    assert code == 0 and result["status"] == "SUCCEEDED" and result["verdict"] == "B better"
    assert result["run_id"].startswith("jf-") and result["dataset"].startswith("s3://")
    assert result["wilson_low"] > 0.5 and result["count_unit"] == "item"
    assert result["console"].startswith("https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#")
    # The same file again: the earlier run, nothing new launched, exit 0.
    code, out, _ = run(capsys, "submit", dataset(tmp_path, "first", response_b=echo, response_a=blank),
                       "--model-a", "aurora-7b", "--model-b", "borealis-13b", "--output", "json")
    again = json.loads(out)
    assert code == 0 and again["duplicate_of"] == result["run_id"] == again["run_id"]
    code, out, _ = run(capsys, "submit", dataset(tmp_path, "first", response_b=echo, response_a=blank),
                       "--model-a", "aurora-7b", "--model-b", "borealis-13b")
    assert code == 0 and f"already judged as run {result['run_id']} (SUCCEEDED)" in out


def test_a_file_that_fails_validation_is_not_sent_and_its_first_errors_are_shown(stack, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p", "response_A": "a"}\nnot json\n')
    code, _, err = run(capsys, "submit", str(bad), "--model-a", "a", "--model-b", "b")
    assert code == 1 and "line 1, field response_B" in err and "line 2" in err


def test_a_file_the_deployment_rejects_is_recorded_and_its_reason_shown(stack, tmp_path, capsys):
    """Valid locally, refused by the deployment: the rubric task has no recipe for the micro judge."""
    code, _, err = run(capsys, "submit", dataset(tmp_path, "rubric-micro"), "--model-a", "a", "--model-b", "b",
                       "--task", "rubric_llm_judge", "--judge", "micro")
    assert code == 1 and err.startswith("rejected: ") and "micro" in err and "jf-rejected-" in err
    code, out, _ = run(capsys, "runs", "--status", "REJECTED", "--output", "json")
    assert [row["status"] for row in json.loads(out)] == ["REJECTED"]


def test_runs_lists_the_registry_in_a_table_and_in_json(stack, judged, capsys):
    assert set(judged.values()) == {0, 1}  # the unreliable run ends UNRELIABLE: `wait` exits 1
    code, out, _ = run(capsys, "runs", "--output", "json")
    listed = json.loads(out)
    assert code == 0 and len(listed) >= 3 and {"run_id", "status", "verdict", "model_a"} <= set(listed[0])
    assert {row["verdict"] for row in listed} >= {"B better", "A better", "unreliable"}
    code, out, _ = run(capsys, "runs", "--status", "UNRELIABLE", "--output", "json")
    assert [row["status"] for row in json.loads(out)] == ["UNRELIABLE"]
    code, out, _ = run(capsys, "runs", "--limit", "1", "--since", "2020-01-01")
    assert code == 0 and "1 run(s)" in out and "verdict" in out


def _run_id(capsys, verdict: str) -> str:
    _, out, _ = run(capsys, "runs", "--output", "json")
    return next(row["run_id"] for row in json.loads(out) if row["verdict"] == verdict)


def test_show_tells_status_metrics_categories_and_locations(stack, judged, capsys):
    run_id = _run_id(capsys, "A better")
    code, out, _ = run(capsys, "show", run_id, "--output", "json")
    shown = json.loads(out)
    assert code == 0 and {"run_id", "status", "verdict", "wilson_low", "wilson_high"} <= set(shown)
    assert shown["counts"]["a"] == 24 and shown["wilson_high"] < 0.5
    assert len(shown["per_category"]) == 6 and shown["locations"]["report.png"].startswith("s3://")
    code, out, _ = run(capsys, "show", run_id)
    assert code == 0 and "per category" in out and "A better" in out and "report.png" in out


def test_report_downloads_the_picture_and_summaries(stack, judged, tmp_path, capsys):
    run_id = _run_id(capsys, "B better")
    code, out, _ = run(capsys, "report", run_id, "--out", str(tmp_path / "r"))
    assert code == 0 and sorted(p.name for p in (tmp_path / "r").iterdir()) == ["report.png", "summary.json",
                                                                               "summary.md"]
    assert (tmp_path / "r" / "report.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("verdict, require, expected", [
    ("B better", "better", 0), ("B better", "not-worse", 0), ("A better", "not-worse", 1),
    ("A better", "better", 1), ("unreliable", "not-worse", 4)])
def test_gate_exits_by_the_verdict(stack, judged, capsys, verdict, require, expected):
    code, out, _ = run(capsys, "gate", _run_id(capsys, verdict), "--require", require, "--output", "json")
    decided = json.loads(out)
    assert code == expected == decided["exit_code"] and decided["reason"]
    code, out, _ = run(capsys, "gate", _run_id(capsys, verdict), "--require", require)
    assert code == expected and len(out.strip().splitlines()) == 1


def test_a_run_waiting_for_quota_is_shown_with_why_then_cancelled(stack, tmp_path, capsys):
    sagemaker = boto3.client("sagemaker")
    sagemaker.create_training_job(  # another team's job holds the only ml.g5.12xlarge
        TrainingJobName=f"{OTHER_TEAM}1", RoleArn="arn:aws:iam::123456789012:role/other",
        AlgorithmSpecification={"TrainingImage": "other:latest", "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": "s3://elsewhere/out"},
        ResourceConfig={"InstanceType": "ml.g5.12xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 3600})
    try:
        code, out, _ = run(capsys, "submit", dataset(tmp_path, "waits"), "--model-a", "a", "--model-b", "b",
                           "--instance-types", "ml.g5.12xlarge", "--output", "json")
        run_id = json.loads(out)["run_id"]
        deadline = time.time() + 60
        while time.time() < deadline:
            _, out, _ = run(capsys, "show", run_id, "--output", "json")
            if (json.loads(out).get("waiting") or {}).get("quotas"):
                break
            time.sleep(0.5)
        shown = json.loads(out)
        quota = shown["waiting"]["quotas"]["ml.g5.12xlarge"]
        assert shown["status"] == "RUNNING" and (quota["quota"], quota["in_use"]) == (1, 1)
        assert "ml.g5.12xlarge for training job usage" in shown["reason"]
        _, out, _ = run(capsys, "show", run_id)
        assert "quota 'ml.g5.12xlarge for training job usage'" in out and "1 in use" in out
        assert run(capsys, "gate", run_id, "--require", "not-worse")[0] == 3  # not finished
        assert run(capsys, "wait", run_id, "--timeout", "1")[0] == 3  # still running
        code, out, _ = run(capsys, "cancel", run_id, "--output", "json")
        assert code == 0 and json.loads(out)["status"] == "ABORTED"
        assert run(capsys, "gate", run_id, "--require", "not-worse")[0] == 4
    finally:
        sagemaker.stop_training_job(TrainingJobName=f"{OTHER_TEAM}1")


@pytest.mark.parametrize("argv", [["show", "jf-nope"], ["wait", "jf-nope"], ["cancel", "jf-nope"],
                                  ["gate", "jf-nope", "--require", "better"], ["report", "jf-nope", "--out", "x"]])
def test_an_unknown_run_is_exit_2_with_a_sentence(stack, capsys, argv, tmp_path):
    if argv[0] == "report":
        argv = [*argv[:-1], str(tmp_path / "x")]
    code, _, err = run(capsys, *argv)
    assert code == 2 and "jf-nope" in err and "Traceback" not in err


def test_an_unknown_stack_is_exit_2_with_a_sentence(stack, capsys):
    code, _, err = run(capsys, "runs", "--stack", "NotJudgeflow")
    assert code == 2 and "no stack 'NotJudgeflow'" in err


def test_the_local_stack_stops_cleanly_on_ctrl_c(stack):
    stack.send_signal(signal.SIGINT)
    assert stack.wait(timeout=60) == 0
