"""The judgeflow command: exit codes, report JSON, plan output, local results ingestion."""

from __future__ import annotations

import json

import pytest
import yaml

from judgeflow.cli import main
from offline import nova_emulator as emulator
from tests.bad_inputs import BAD_INPUTS, GOOD, jsonl
from tests.conftest import sample_dataset


def test_validate_exit_codes_and_report(tmp_path, capsys):
    good = tmp_path / "good.jsonl"
    good.write_bytes(sample_dataset())
    assert main(["validate", str(good)]) == 0
    assert "VALID" in capsys.readouterr().out

    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"prompt": "p", "response_A": "a", "response_B": "b"}\n{"prompt": 1}\n')
    report_path = tmp_path / "report.json"
    assert main(["validate", str(bad), "--report", str(report_path)]) == 1
    out = capsys.readouterr().out
    assert "line 2, field prompt" in out
    report = json.loads(report_path.read_text())
    assert {"line": 2, "field": "prompt"}.items() <= report["errors"][0].items()
    assert all({"line", "field", "message"} <= set(e) for e in report["errors"])

    assert main(["validate", str(tmp_path / "missing.jsonl")]) == 2
    try:
        main(["validate"])
    except SystemExit as exc:
        assert exc.code == 2


def test_plan_prints_recipe_and_request(capsys):
    code = main(["plan", "--task", "llm_judge", "--judge", "micro", "--dataset", "s3://b/in/", "--output",
                 "s3://b/out/", "--role", "arn:aws:iam::123456789012:role/judge", "--instance", "ml.g5.12xlarge",
                 "--region", "us-east-1"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert yaml.safe_load(printed["recipe_yaml"])["run"]["model_type"] == "amazon.nova-micro-v1:0:128k"
    assert printed["create_training_job"]["ResourceConfig"]["InstanceType"] == "ml.g5.12xlarge"


def test_plan_refuses_an_instance_the_recipe_does_not_allow(capsys):
    code = main(["plan", "--task", "llm_judge", "--judge", "pro", "--dataset", "s3://b/in/", "--output", "s3://b/o/",
                 "--role", "r", "--instance", "ml.g5.12xlarge", "--region", "us-east-1"])
    assert code == 2 and "allowed: ['ml.p5.48xlarge']" in capsys.readouterr().err


def test_ingest_results_writes_the_lake_locally(tmp_path):
    records = [{"prompt": "capital city", "response_A": "capital city is Paris", "response_B": "no"}] * 3
    archive = tmp_path / "output.tar.gz"
    archive.write_bytes(emulator.emulate(records, "run: {name: r, model_name_or_path: m}\nevaluation: {task: llm_judge}\n"))
    assert main(["ingest-results", str(archive), "--out", str(tmp_path / "out")]) == 0
    written = {p.name for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert {"local.parquet", "report.png", "summary.json", "summary.md"} <= written


@pytest.mark.parametrize("name, data, expected", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_cli_locates_every_bad_input_and_leaves_the_file_alone(tmp_path, capsys, name, data, expected):
    path = tmp_path / f"{name}.jsonl"
    path.write_bytes(data)
    report_path = tmp_path / "report.json"
    assert main(["validate", str(path), "--report", str(report_path)]) == 1
    first = json.loads(report_path.read_text())["errors"][0]
    assert (first["line"], first["field"], first["kind"]) == expected
    assert first["message"] and first["fix"]
    assert path.read_bytes() == data
    line, field, _ = expected
    assert (f"line {line}, field {field or '-'}" if line else "INVALID") in capsys.readouterr().out


def test_cli_warnings_do_not_fail(tmp_path):
    path = tmp_path / "data.txt"
    path.write_bytes(jsonl(GOOD, GOOD))
    report_path = tmp_path / "r.json"
    assert main(["validate", str(path), "--report", str(report_path)]) == 0
    assert {w["kind"] for w in json.loads(report_path.read_text())["warnings"]} == {"duplicate_row", "file_extension"}


def test_an_installed_package_plans_with_its_own_recipes(tmp_path):
    """A non-editable install (the wheel carries recipes/ as judgeflow/_recipes) runs `judgeflow plan`."""
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    target = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                              str(REPO_ROOT)], capture_output=True, text=True, check=False, cwd=tmp_path)
    assert install.returncode == 0, install.stderr[-2000:]
    script = ("import sys; sys.path.insert(0, sys.argv[1]); import judgeflow, judgeflow.recipes as r; "
              "from judgeflow.cli import main; print(judgeflow.__file__, r.recipes_dir()); "
              "main(['plan', '--task', 'rubric_llm_judge', '--judge', 'lite-2', '--dataset', 's3://b/in/', "
              "'--output', 's3://b/out/', '--role', 'arn:aws:iam::123456789012:role/j', "
              "'--instance', 'ml.p5.48xlarge', '--region', 'us-east-1'])")
    result = subprocess.run([sys.executable, "-I", "-c", script, str(target)], capture_output=True, text=True,
                            check=False, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    located, plan = result.stdout.split("\n", 1)
    assert located.split() == [str(target / "judgeflow" / "__init__.py"), str(target / "judgeflow" / "_recipes")]
    assert json.loads(plan)["create_training_job"]["ResourceConfig"]["InstanceType"] == "ml.p5.48xlarge"
