"""The judgeflow command: exit codes, report JSON, plan output, local results ingestion, and a
sentence (exit 2, no traceback) for every usage mistake."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from judgeflow import cli, layout
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
    assert main(["validate"]) == 2
    assert main(["--help"]) == 0


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


# --- usage mistakes: exit 2, the argument or file named, the fix said, no traceback ---

PLAN = ["plan", "--task", "llm_judge", "--judge", "micro", "--dataset", "s3://b/in/", "--output", "s3://b/out/",
        "--role", "arn:aws:iam::123456789012:role/judge", "--instance", "ml.g5.12xlarge", "--region", "us-east-1"]
RECIPE = "run: {name: r, model_name_or_path: m}\nevaluation: {task: llm_judge}\n"


def judge_archive() -> bytes:
    records = [{"prompt": "capital city", "response_A": "capital city is Paris", "response_B": "no"}] * 3
    return emulator.emulate(records, RECIPE)


@pytest.fixture()
def workspace(tmp_path, monkeypatch):
    """The current folder, holding a valid dataset, a judge archive, a folder and an unreadable file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.jsonl").write_bytes(sample_dataset())
    (tmp_path / "output.tar.gz").write_bytes(judge_archive())
    (tmp_path / "a folder").mkdir()
    unreadable = tmp_path / "unreadable.jsonl"
    unreadable.write_bytes(sample_dataset())
    unreadable.chmod(0)
    yield tmp_path
    unreadable.chmod(0o600)


RUNNING_AS_ROOT = os.geteuid() == 0
INGEST = ["ingest-results", "output.tar.gz", "--out", "results"]
USAGE_MISTAKES = [
    pytest.param(["validate", "missing.jsonl"], ["argument FILE: file 'missing.jsonl' does not exist"],
                 id="validate-file-missing"),
    pytest.param(["validate", "a folder"], ["argument FILE: 'a folder' is a folder, not a file"],
                 id="validate-file-is-a-folder"),
    pytest.param(["validate", "unreadable.jsonl"], ["'unreadable.jsonl' cannot be read", "chmod u+r"],
                 id="validate-file-unreadable",
                 marks=pytest.mark.skipif(RUNNING_AS_ROOT, reason="root reads a chmod 000 file")),
    pytest.param(["validate", "-good.jsonl"], ["required: FILE", "if '-good.jsonl' is a file name, write it as "
                                               "'./-good.jsonl' or put -- before it"], id="validate-dash-name-as-option"),
    pytest.param(["validate", "good.jsonl", "-x.jsonl"], ["unrecognized arguments: -x.jsonl", "'./-x.jsonl'"],
                 id="validate-extra-dash-name"),
    pytest.param(["validate", "--", "-missing.jsonl"], ["file '-missing.jsonl' does not exist"],
                 id="validate-dash-name-missing"),
    pytest.param(["validate", "new\nline.jsonl"], ["file 'new\\nline.jsonl' does not exist"],
                 id="validate-newline-name-missing"),
    pytest.param(["validate", "données d'été.jsonl"], ["file \"données d'été.jsonl\" does not exist"],
                 id="validate-non-ascii-name-missing"),
    pytest.param(["validate", "good.jsonl", "--token-limit", "0"],
                 ["argument --token-limit: must be a positive whole number (1 or more), got '0'"],
                 id="token-limit-zero"),
    pytest.param(["validate", "good.jsonl", "--max-rows", "-5"],
                 ["argument --max-rows: must be a positive whole number (1 or more), got '-5'"],
                 id="max-rows-negative"),
    pytest.param(["validate", "good.jsonl", "--token-limit", "1.5"],
                 ["argument --token-limit: must be a positive whole number"], id="token-limit-fraction"),
    pytest.param(["validate", "good.jsonl", "--report", "a folder"],
                 ["argument --report: 'a folder' is a folder: name a file to write"], id="report-is-a-folder"),
    pytest.param(["validate", "good.jsonl", "--report", "nowhere/report.json"],
                 ["argument --report: cannot write 'nowhere/report.json': 'nowhere' does not exist; create the folder"],
                 id="report-folder-missing"),
    pytest.param([*PLAN, "--run-name", "my_eval"],
                 ["argument --run-name: 'my_eval' is not a usable run name", "use 1 to 55 letters, digits and "
                  "hyphens, starting with a letter or digit", "e.g. 'my-eval-2026'"], id="plan-run-name-underscore"),
    pytest.param([*PLAN, "--run-name", "r" * 56], ["argument --run-name:", "use 1 to 55 letters"],
                 id="plan-run-name-too-long-for-the-suffix"),
    pytest.param([*PLAN, "--run-name", "a" + "-" * 60 + "b"], ["argument --run-name:", "use 1 to 55 letters"],
                 id="plan-run-name-hyphens-past-63"),
    pytest.param([*PLAN, "--run-name=-eval"], ["argument --run-name: '-eval' is not a usable run name"],
                 id="plan-run-name-leading-hyphen"),
    pytest.param([*INGEST, "--run-id", "../../x"], ["argument --run-id: '../../x' is not a usable run name"],
                 id="ingest-run-id-climbs-out"),
    pytest.param([*INGEST, "--run-id", "/etc/cron.d/x"], ["argument --run-id: '/etc/cron.d/x'"],
                 id="ingest-run-id-absolute"),
    pytest.param(["ingest-results", "output.tar.gz", "--out", "good.jsonl"],
                 ["argument --out: 'good.jsonl' is a file, not a folder"], id="ingest-out-is-a-file"),
    pytest.param(["ingest-results", "output.tar.gz", "--out", "good.jsonl/results"],
                 ["--out 'good.jsonl/results' cannot be created (Not a directory)", "choose a folder you can write to"],
                 id="ingest-out-cannot-be-created"),
    pytest.param(["ingest-results", "a folder", "--out", "results"],
                 ["argument OUTPUT_TAR: 'a folder' is a folder, not a file"], id="ingest-archive-is-a-folder"),
    pytest.param([*INGEST, "--sidecar", "sidecar.jsonl"], ["argument --sidecar: file 'sidecar.jsonl' does not exist"],
                 id="ingest-sidecar-missing"),
    pytest.param([*INGEST, "--model-a", "m" * 129], ["argument --model-a: a model label is 1 to 128 characters, got 129"],
                 id="ingest-model-label-too-long"),
    pytest.param(["demo", "--out", "good.jsonl"], ["argument --out: 'good.jsonl' is a file, not a folder"],
                 id="demo-out-is-a-file"),
]


@pytest.mark.parametrize("argv, expected", USAGE_MISTAKES)
def test_a_usage_mistake_is_a_sentence_and_exit_2(workspace, capsys, argv, expected):
    def files_around() -> list:
        return sorted(workspace.rglob("*")) + sorted(workspace.parent.iterdir())

    before = files_around()
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    for fragment in expected:
        assert fragment in captured.err
    assert files_around() == before  # nothing written, here or a level up


@pytest.mark.parametrize("name", ["-data.jsonl", "with spaces.jsonl", "new\nline.jsonl", "données d'été.jsonl"],
                         ids=["leading-dash", "spaces", "newline", "non-ascii"])
def test_odd_file_names_that_exist_work(workspace, capsys, name):
    (workspace / name).write_bytes(sample_dataset())
    assert main(["validate", "--", name]) == 0
    assert main(["validate", f"./{name}", "--report", f"./{name}.report.json"]) == 0
    assert json.loads((workspace / f"{name}.report.json").read_text())["valid"] is True
    (workspace / f"{name}.tar.gz").write_bytes(judge_archive())
    assert main(["ingest-results", "--out", f"{name} out", "--", f"{name}.tar.gz"]) == 0
    assert (workspace / f"{name} out" / layout.report_prefix("local") / "report.png").is_file()


def test_the_longest_run_name_sagemaker_takes_is_accepted(capsys):
    assert main([*PLAN, "--run-name", "r" * 55]) == 0
    assert json.loads(capsys.readouterr().out)["create_training_job"]["TrainingJobName"] == "r" * 55 + "-judge-0"


def test_ingest_refuses_to_write_through_a_symlink_that_leaves_out(workspace, capsys):
    """Defence in depth: a safe run id, but --out/reports links elsewhere; nothing is written at all."""
    elsewhere = workspace / "elsewhere"
    elsewhere.mkdir()
    (workspace / "results").mkdir()
    (workspace / "results" / layout.REPORTS_PREFIX.rstrip("/")).symlink_to(elsewhere, target_is_directory=True)
    assert main(INGEST) == 2
    err = capsys.readouterr().err
    assert "refusing to write 'reports/local/" in err and "outside --out" in err and "Traceback" not in err
    assert list(elsewhere.iterdir()) == [] and not (workspace / "results" / layout.LAKE_PREFIX).exists()


@pytest.mark.parametrize("relative", ["../x", "a/../../x", "/etc/x", ""], ids=["parent", "nested-parent",
                                                                              "absolute", "the-folder-itself"])
def test_path_under_refuses_what_leaves_the_folder(tmp_path, relative):
    with pytest.raises(cli.UsageError, match="outside --out"):
        cli.path_under(tmp_path, relative)
    assert cli.path_under(tmp_path, "reports/r/summary.md") == tmp_path.resolve() / "reports/r/summary.md"


def test_the_installed_command_exits_2_without_a_traceback(tmp_path):
    from tests.conftest import REPO_ROOT

    result = subprocess.run([sys.executable, "-m", "judgeflow.cli", "ingest-results", "nothing.tar.gz", "--out",
                             str(tmp_path), "--run-id", "../../x"], capture_output=True, text=True, check=False,
                            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "argument OUTPUT_TAR: file 'nothing.tar.gz' does not exist" in result.stderr
