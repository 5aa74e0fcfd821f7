"""The domain package stands alone: it never imports the infrastructure, the handlers or the
offline harness, and the CLI loads heavy dependencies only for the commands that need them."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

from tests.conftest import REPO_ROOT

OUTSIDE_THE_DOMAIN = ("infra", "lambdas", "offline", "tests", "aws_cdk", "constructs", "moto")


def _imported_names(path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module" and node.args \
                and isinstance(node.args[0], ast.Constant):
            names.add(node.args[0].value)
    return names


def test_the_domain_package_imports_nothing_of_infra_handlers_or_the_harness():
    found = {}
    for path in sorted((REPO_ROOT / "judgeflow").rglob("*.py")):
        bad = sorted(n for n in _imported_names(path) if n.split(".")[0] in OUTSIDE_THE_DOMAIN)
        if bad and path.name != "cli.py":
            found[str(path.relative_to(REPO_ROOT))] = bad
    assert found == {}
    # The exceptions: `judgeflow demo` and `judgeflow local up` load the harness by name, when they run.
    cli = _imported_names(REPO_ROOT / "judgeflow" / "cli.py")
    assert {n for n in cli if n.split(".")[0] in OUTSIDE_THE_DOMAIN} == {"offline.demo", "offline.local_stack"}


def test_help_and_validate_load_no_heavy_dependency(tmp_path):
    dataset = tmp_path / "ok.jsonl"
    dataset.write_text(json.dumps({"prompt": "p", "response_A": "a", "response_B": "b"}) + "\n")
    script = ("import sys; from judgeflow.cli import main; code = main(['validate', sys.argv[1]]); "
              "print(sorted({m.split('.')[0] for m in sys.modules}), file=sys.stderr); sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", script, str(dataset)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    loaded = set(eval(result.stderr.strip().splitlines()[-1]))  # noqa: S307 - our own printed list
    assert loaded.isdisjoint({"pyarrow", "matplotlib", "numpy", "jsonschema", "boto3", "yaml", "offline", "infra",
                              "aws_cdk", "moto"}), loaded
