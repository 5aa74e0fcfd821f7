"""The results Lambda image: its requirements, installed into a clean environment laid out like
the image (only judgeflow/, lambdas/ and recipes/ copied), are enough to import and run the handler.
No docker here: this installs with pip what the Dockerfile installs."""

from __future__ import annotations

import re
import shutil
import subprocess
import venv

from offline.nova_emulator import emulate
from tests.conftest import REPO_ROOT

DOCKERFILE = REPO_ROOT / "container" / "Dockerfile"


def test_dockerfile_installs_both_requirement_files_and_copies_the_code():
    text = DOCKERFILE.read_text()
    assert "COPY lambdas/requirements.txt" in text and "COPY container/requirements.txt" in text
    assert re.search(r"RUN pip install .*-r /tmp/requirements-lambdas.txt -r /tmp/requirements-results.txt", text)
    for folder in ("judgeflow", "lambdas", "recipes"):
        assert f"COPY {folder} ${{LAMBDA_TASK_ROOT}}/{folder}" in text
    assert 'CMD ["lambdas.results.handler.lambda_handler"]' in text


def test_clean_environment_with_the_image_requirements_imports_and_runs_the_handler(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "boto3",  # boto3 ships in the Lambda base image
         "-r", str(REPO_ROOT / "lambdas" / "requirements.txt"), "-r", str(REPO_ROOT / "container" / "requirements.txt")],
        capture_output=True, text=True, check=False)
    assert install.returncode == 0, install.stderr[-3000:]
    task_root = tmp_path / "task"
    for folder in ("judgeflow", "lambdas", "recipes"):
        shutil.copytree(REPO_ROOT / folder, task_root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    archive = tmp_path / "output.tar.gz"
    archive.write_bytes(emulate([{"prompt": "p q", "response_A": "p q", "response_B": "x"}],
                                "run: {name: r, model_name_or_path: m}\nevaluation: {task: llm_judge}\n"))
    script = (
        "import pathlib, lambdas.results.handler as h, judgeflow.stages.results as r;"
        f"b = r.build_results(pathlib.Path({str(archive)!r}).read_bytes(),"
        " context=r.RunContext(run_id='x'), finished_at=0, date='2026-01-01');"
        "print(callable(h.lambda_handler), sorted(b.files)[0])"
    )
    result = subprocess.run([str(python), "-c", script], cwd=task_root, capture_output=True, text=True, check=False,
                            env={"PATH": "/usr/bin:/bin", "MPLCONFIGDIR": str(tmp_path / "mpl"),
                                 "AWS_DEFAULT_REGION": "us-east-1", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["True", "lake/items/dt=2026-01-01/x.parquet"]
