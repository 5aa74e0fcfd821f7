"""What `cdk deploy` uploads is what runs: checks of the cloud assembly itself (the staged asset
folders and the image build context), of each handler imported from its asset alone in the Lambda
runtime's Python, and of asset hashes that follow the code."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from modulefinder import ModuleFinder
from pathlib import Path

import pytest

from infra import assets
from offline.lambda_runtime import runtime_packages, standard_library_roots
from tests.conftest import REPO_ROOT, STATELESS_STACK_NAME

# Only the results function may load these (the zip asset would pass 250 MB with them).
HEAVY = ("pyarrow", "matplotlib", "numpy", "pandas")


def _functions(assembly) -> dict[str, tuple[str, Path, bool]]:
    """Stage functions by logical id: (handler, staged asset folder, is an image)."""
    found = {}
    for logical, resource in assembly.templates[STATELESS_STACK_NAME]["Resources"].items():
        properties = resource["Properties"] if resource["Type"] == "AWS::Lambda::Function" else {}
        if "ZipFile" in properties.get("Code", {"ZipFile": ""}):
            continue  # CDK's own inline custom-resource code
        handler = properties.get("Handler") or properties["ImageConfig"]["Command"][0]
        folder, image = assembly.asset_folder(STATELESS_STACK_NAME, properties["Code"])
        found[logical] = (handler, folder, image)
    return found


def _code_paths(folder: Path, image: bool) -> tuple[Path, ...]:
    """The function's code as Lambda lays it out (for an image: what its Dockerfile installs)."""
    if image:
        return folder / assets.IMAGE_CODE_FOLDER, assets.install_requirements(folder / assets.IMAGE_LOCK_NAME)
    return (folder,)


def _import_alone(handler: str, paths: tuple[Path, ...]) -> subprocess.CompletedProcess:
    """Import the handler's module in the runtime's Python, isolated (no site-packages, no user
    path, no bytecode written), with only `paths` and the runtime's boto3 before the stdlib."""
    script = ("import importlib, json, sys; sys.path[:0] = json.loads(sys.argv[1]); "
              "importlib.import_module(sys.argv[2]); "
              "print(json.dumps({n: getattr(m, '__file__', None) for n, m in list(sys.modules.items())}))")
    search = json.dumps([str(p) for p in (*paths, runtime_packages())])
    return subprocess.run([assets.lambda_python(), "-I", "-S", "-B", "-c", script, search, handler.rpartition(".")[0]],
                          capture_output=True, text=True, check=False, cwd=paths[0],
                          env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1", "LANG": "C.UTF-8"})


def test_the_template_runs_the_python_the_tests_run(assembly):
    zips = [handler for handler, _, image in _functions(assembly).values() if not image]
    runtimes = {r["Properties"].get("Runtime") for r in assembly.templates[STATELESS_STACK_NAME]["Resources"].values()
                if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler") in zips}
    assert runtimes == {f"python{assets.RUNTIME_PYTHON_VERSION}"}
    version = subprocess.run([assets.lambda_python(), "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert version == str(tuple(int(p) for p in assets.RUNTIME_PYTHON_VERSION.split(".")))


def test_every_handler_imports_from_its_asset_alone_and_loads_nothing_from_elsewhere(assembly):
    stdlib = standard_library_roots(assets.lambda_python())
    runtime = runtime_packages()
    functions = _functions(assembly)
    assert len(functions) >= 12
    for logical, (handler, folder, image) in functions.items():
        paths = _code_paths(folder, image)
        result = _import_alone(handler, paths)
        assert result.returncode == 0, f"{logical} ({handler}) does not import from its asset:\n{result.stderr[-2000:]}"
        modules = json.loads(result.stdout)
        heavy = sorted(name for name in modules if name.split(".")[0] in HEAVY)
        assert bool(heavy) == handler.startswith("lambdas.results."), f"{logical} loads {heavy}"
        allowed = (*paths, runtime, *stdlib)
        outside = sorted(f for f in modules.values() if f and not any(Path(f).is_relative_to(root) for root in allowed))
        assert outside == [], f"{logical} loads modules from outside its asset: {outside}"
        first_party = [f for n, f in modules.items() if n.split(".")[0] in assets.FIRST_PARTY and f]
        assert all(Path(f).is_relative_to(paths[0]) for f in first_party)


def _third_party_imports(handler_module: str) -> set[str]:
    """Top-level names of what the handler's first-party code imports, lazily or not, beyond the
    standard library (modulefinder sees every import statement, run or not)."""
    finder = ModuleFinder(path=[str(REPO_ROOT)])
    finder.run_script(str(REPO_ROOT / Path(*handler_module.split(".")).with_suffix(".py")))
    names = set()
    for name, importers in finder.badmodules.items():
        top = name.split(".")[0]
        if top in assets.FIRST_PARTY or top in sys.stdlib_module_names or top == "__future__":
            continue
        if any(importer.split(".")[0] in assets.FIRST_PARTY or importer == "__main__" for importer in importers):
            names.add(top)
    return names


def test_no_handler_import_closure_leaves_the_packages_its_asset_bundles(assembly):
    runtime = runtime_packages()
    for logical, (handler, folder, image) in _functions(assembly).items():
        roots = (*_code_paths(folder, image), runtime)
        missing = sorted(name for name in _third_party_imports(handler.rpartition(".")[0])
                         if not any((root / name).is_dir() or (root / f"{name}.py").is_file() for root in roots))
        assert missing == [], f"{logical} imports {missing}, which its asset does not bundle"


def test_no_test_double_and_no_other_stage_is_in_an_asset(assembly):
    for logical, (handler, folder, image) in _functions(assembly).items():
        code = _code_paths(folder, image)[0]
        assert not (code / "offline").exists() and not (code / "infra").exists() and not (code / "tests").exists()
        stage = handler.split(".")[1]
        assert {p.name for p in (code / "lambdas").iterdir() if p.is_dir() and p.name != "__pycache__"} == {stage}
        assert {p.name for p in (code / "judgeflow" / "stages").glob("*.py")} == {"__init__.py", f"{stage}.py"}


def test_zip_assets_ship_bytecode_for_the_runtime_and_no_machine_paths(assembly):
    tag = f"cpython-{assets.RUNTIME_PYTHON_VERSION.replace('.', '')}"
    for logical, (handler, folder, image) in _functions(assembly).items():
        if image:
            continue
        sources = [p for p in folder.rglob("*.py") if "__pycache__" not in p.parts]
        uncompiled = [p for p in sources if not (p.parent / "__pycache__" / f"{p.stem}.{tag}.pyc").is_file()]
        assert uncompiled == [], f"{logical}: {len(uncompiled)} modules without {tag} bytecode, e.g. {uncompiled[:3]}"
        handler_pyc = folder / "lambdas" / handler.split(".")[1] / "__pycache__" / f"handler.{tag}.pyc"
        assert int.from_bytes(handler_pyc.read_bytes()[4:8], "little") == 0b01  # hash-based, never re-checked
        assert not (folder / "bin").exists()  # console scripts carry the build machine's interpreter path
        assert str(REPO_ROOT).encode() not in handler_pyc.read_bytes()


def test_zip_assets_install_the_lock_and_nothing_that_shadows_the_runtime(assembly):
    locked = {line.split("==")[0].lower().replace("_", "-") for line in assets.ZIP_LOCK.read_text().splitlines()
              if "==" in line}
    for logical, (handler, folder, image) in _functions(assembly).items():
        if image:
            continue
        installed = {re.sub(r"-[^-]+\.dist-info$", "", p.name).lower().replace("_", "-")
                     for p in folder.glob("*.dist-info")}
        assert installed == locked, logical
        assert not any((folder / name).exists() for name in ("boto3", "botocore", "urllib3", "s3transfer"))


def test_every_lock_pins_every_package_with_hashes():
    for lock in (assets.ZIP_LOCK, assets.IMAGE_LOCK):
        entries = re.split(r"\n(?=\S)", lock.read_text().split("\n", 1)[1].strip())
        assert entries and all(re.match(r"^[A-Za-z0-9_.\-\[\]]+==\S+ \\\n\s+--hash=sha256:[0-9a-f]{64}", e)
                               for e in entries), lock
    wanted = [line.split("==")[0].split("[")[0] for line in (REPO_ROOT / "lambdas" / "requirements.txt").read_text()
              .splitlines() if "==" in line]
    image = assets.IMAGE_LOCK.read_text()
    assert all(f"\n{name}==" in image for name in [*wanted, "pyarrow", "matplotlib"])


def test_the_image_context_holds_the_dockerfile_and_exactly_what_it_copies(assembly):
    ((handler, context, _image),) = [f for f in _functions(assembly).values() if f[2]]
    dockerfile = (context / "Dockerfile").read_text()
    copied = [line.split()[-2] for line in dockerfile.splitlines() if line.startswith("COPY ")]
    assert copied and all((context / source).exists() for source in copied)
    assert {p.name for p in context.iterdir()} == {"Dockerfile", *(source.rstrip("/") for source in copied)}
    assert "--require-hashes" in dockerfile and f"python:{assets.RUNTIME_PYTHON_VERSION}" in dockerfile
    shipped = sorted(str(p.relative_to(context / assets.IMAGE_CODE_FOLDER))
                     for p in (context / assets.IMAGE_CODE_FOLDER).rglob("*") if p.is_file())
    assert shipped == sorted(assets.stage_code(handler.rpartition(".")[0]).files)
    assert (context / assets.IMAGE_LOCK_NAME).read_bytes() == assets.IMAGE_LOCK.read_bytes()


def _synthesized_hashes(checkout: Path) -> dict[str, str]:
    """Asset hash of each stage function, as `python app.py` (what `cdk synth` runs) writes them."""
    environment = {**os.environ, "JUDGEFLOW_BUILD_DIR": str(assets.BUILD_DIR),
                   "JUDGEFLOW_LAMBDA_PYTHON": assets.lambda_python()}
    environment.pop("CDK_CONTEXT_JSON", None)
    shutil.rmtree(checkout / "cdk.out", ignore_errors=True)
    result = subprocess.run([sys.executable, "app.py"], cwd=checkout, env=environment, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    template = json.loads((checkout / "cdk.out" / f"{STATELESS_STACK_NAME}.template.json").read_text())
    hashes = {}
    for logical, resource in template["Resources"].items():
        code = resource["Properties"].get("Code", {}) if resource["Type"] == "AWS::Lambda::Function" else {}
        if "S3Key" in code:
            hashes[logical] = code["S3Key"]
        elif "ImageUri" in code:
            hashes[logical] = code["ImageUri"]["Fn::Sub"].rsplit(":", 1)[-1]
    return hashes


def test_asset_hashes_follow_the_code_and_ignore_stray_files(tmp_path):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for name in ("app.py", "cdk.json", "pyproject.toml", "infra", "judgeflow", "lambdas", "recipes", "container"):
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, checkout / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, checkout / name)
    before = _synthesized_hashes(checkout)

    # An edit of one stage's domain module and of the image's Dockerfile...
    with (checkout / "judgeflow" / "stages" / "plan.py").open("a") as module:
        module.write("\n# edited\n")
    with (checkout / "container" / "Dockerfile").open("a") as dockerfile:
        dockerfile.write("\n# edited\n")
    # ...and stray files no stage ships.
    (checkout / ".pytest_cache").mkdir()
    (checkout / ".pytest_cache" / "README.md").write_text("stray")
    (checkout / "judgeflow" / "__pycache__").mkdir(exist_ok=True)
    (checkout / "judgeflow" / "__pycache__" / "stray.cpython-314.pyc").write_bytes(b"stray")
    (checkout / "judgeflow" / "scratch.py").write_text("import pyarrow\n")
    (checkout / "lambdas" / "notes.txt").write_text("stray")
    (checkout / "judgeflow" / "notes.txt").write_text("stray")
    (checkout / "judgeflow" / "schemas" / ".DS_Store").write_bytes(b"stray")
    (checkout / "judgeflow" / "schemas" / "llm_judge.schema.json~").write_text("an editor's backup")
    (checkout / "recipes" / ".DS_Store").write_bytes(b"stray")
    (checkout / "recipes" / "llm_judge" / "notes.md").write_text("stray")
    after = _synthesized_hashes(checkout)

    changed = sorted(logical for logical in before if before[logical] != after[logical])
    assert [re.sub(r"[0-9A-F]{8}$", "", logical) for logical in changed] == ["PlanStagePlan", "ResultsStageResults"]
