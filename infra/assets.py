"""What `cdk deploy` uploads for the stage Lambdas: one zip asset per zip stage and the build
context of the results image, each holding exactly the code and requirements that stage needs.

A stage's code is its handler module and the first-party modules it imports (found statically by
modulefinder, lazy imports included), the package data of those packages, and recipes/ when it
reads recipes. A zip asset adds the locked requirements installed for the Lambda platform, and
everything is precompiled for the runtime's Python: /var/task is read-only on Lambda, so an
uncompiled asset would compile on every cold start.

Assets are built here, at synth, without docker, into build/ (cached by content). Their hashes are
computed from exactly those inputs, never from the repository folder: an edit to any of them
changes the hash (cdk deploy uploads it), a stray file (caches, other stages' code) does not.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from modulefinder import ModuleFinder
from pathlib import Path

from aws_cdk import AssetHashType
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_lambda as lambda_

REPO_ROOT = Path(__file__).resolve().parent.parent
# Built assets and installed requirements, cached by content (safe to share between checkouts).
BUILD_DIR = Path(os.environ.get("JUDGEFLOW_BUILD_DIR") or REPO_ROOT / "build")
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_14
RUNTIME_PYTHON_VERSION = "3.14"
FIRST_PARTY = ("judgeflow", "lambdas")
ZIP_LOCK = REPO_ROOT / "lambdas" / "requirements.lock"
IMAGE_LOCK = REPO_ROOT / "container" / "requirements.lock"
DOCKERFILE = REPO_ROOT / "container" / "Dockerfile"
RECIPES_PACKAGE = "judgeflow._recipes"  # the top-level recipes/ folder, as the wheel ships it
# Wheels for the Lambda platform (Amazon Linux 2023: glibc 2.34, x86_64). pyarrow, numpy and
# matplotlib publish only manylinux_2_28 wheels for recent CPython, hence the newer tags too.
PLATFORMS = ("manylinux_2_34_x86_64", "manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
# Where the code sits on Lambda: tracebacks and bytecode name these paths.
TASK_ROOT = "/var/task"
# Part of every hash: change it when the way assets are built changes.
BUILD_RECIPE_VERSION = "1"


class AssetBuildError(RuntimeError):
    """An asset could not be built; the message says what to install or fix."""


def lambda_python() -> str:
    """The Lambda runtime's CPython on this machine: $JUDGEFLOW_LAMBDA_PYTHON, the one `make setup`
    provides in .tools/ (tools/install-lambda-python.sh), or python3.14 on PATH."""
    candidates = [os.environ.get("JUDGEFLOW_LAMBDA_PYTHON"),
                  str(REPO_ROOT / ".tools" / f"python{RUNTIME_PYTHON_VERSION}" / "bin" / f"python{RUNTIME_PYTHON_VERSION}"),
                  shutil.which(f"python{RUNTIME_PYTHON_VERSION}")]
    for candidate in filter(None, candidates):
        if _python_version(candidate) == RUNTIME_PYTHON_VERSION:
            return candidate
    raise AssetBuildError(
        f"Building the Lambda assets needs CPython {RUNTIME_PYTHON_VERSION} (the Lambda runtime) to precompile "
        f"their bytecode. Run `make setup` (it provides one in .tools/), or set JUDGEFLOW_LAMBDA_PYTHON to a "
        f"python{RUNTIME_PYTHON_VERSION}.")


@lru_cache(maxsize=None)
def _python_version(executable: str) -> str | None:
    try:
        answer = subprocess.run([executable, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                capture_output=True, text=True, timeout=60, check=False)
    except OSError:
        return None
    return answer.stdout.strip() if answer.returncode == 0 else None


@dataclass(frozen=True)
class StageCode:
    """The first-party files a handler module needs, as paths relative to the repository root."""

    handler_module: str
    files: tuple[str, ...]


@lru_cache(maxsize=None)
def stage_code(handler_module: str) -> StageCode:
    """The handler's first-party import closure, its packages' data files, and recipes/ if it
    reads them. Third-party and standard-library imports are not followed (modulefinder only
    searches the repository root)."""
    finder = ModuleFinder(path=[str(REPO_ROOT)])
    finder.run_script(str(REPO_ROOT / Path(*handler_module.split(".")).with_suffix(".py")))
    files: set[Path] = set()
    data = package_data()
    for name, module in finder.modules.items():
        if name.split(".")[0] not in FIRST_PARTY or not module.__file__:
            continue
        source = Path(module.__file__)
        files.add(source)
        if module.__path__:  # a package imported: its own data files go with it (the JSON schemas)
            for root, patterns in data.values():
                files.update(p for pattern in patterns for p in root.glob(pattern)
                             if p.parent == source.parent and p.is_file())
    if "judgeflow.recipes" in finder.modules:  # it reads the recipes package's files
        root, patterns = data[RECIPES_PACKAGE]
        files.update(p for pattern in patterns for p in root.glob(pattern) if p.is_file())
    handler_file = REPO_ROOT / Path(*handler_module.split(".")).with_suffix(".py")
    files.add(handler_file)
    return StageCode(handler_module, tuple(sorted(str(p.relative_to(REPO_ROOT)) for p in files)))


@lru_cache(maxsize=None)
def package_data() -> dict[str, tuple[Path, tuple[str, ...]]]:
    """Package -> (its folder, glob patterns of the data files that ship with it), from pyproject.toml's
    [tool.setuptools.package-data]: one list for the wheel and the assets, so a stray file beside the
    code (an editor's backup, .DS_Store, notes) ships in neither and moves no hash."""
    setuptools = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    folders = setuptools.get("package-dir", {})
    return {package: (REPO_ROOT / folders.get(package, package.replace(".", "/")), tuple(patterns))
            for package, patterns in setuptools["package-data"].items()}


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def content_hash(code: StageCode, *extra_files: Path) -> str:
    """Hash of everything an asset is built from: build recipe, runtime, each file's path and bytes."""
    parts = [BUILD_RECIPE_VERSION.encode(), RUNTIME_PYTHON_VERSION.encode(), " ".join(PLATFORMS).encode()]
    for extra in extra_files:
        parts += [extra.name.encode(), extra.read_bytes()]
    for relative in code.files:
        parts += [relative.encode(), (REPO_ROOT / relative).read_bytes()]
    return _digest(*parts)


def _publish(build: "callable[[Path], None]", final: Path) -> Path:
    """Build into a temporary folder beside `final`, then move it in place in one step (another
    synth building the same content at the same time wins or loses the rename, both are equal)."""
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        build(staging)
        staging.chmod(0o755)
        try:
            staging.rename(final)
        except OSError:
            if not final.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def _compile(folder: Path) -> None:
    """Bytecode for the runtime's Python. unchecked-hash: Lambda's read-only task root never
    changes under it, so the interpreter need not stat or hash the sources; named as under /var/task."""
    result = subprocess.run(
        [lambda_python(), "-m", "compileall", "-q", "-j", "1", "--invalidation-mode", "unchecked-hash",
         "-s", str(folder), "-p", TASK_ROOT, str(folder)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AssetBuildError(f"compiling {folder} for Python {RUNTIME_PYTHON_VERSION} failed:\n"
                              f"{result.stdout[-3000:]}{result.stderr[-3000:]}")


def install_requirements(lock: Path) -> Path:
    """The locked requirements installed for the Lambda platform and compiled (cached by the lock's content)."""
    def build(target: Path) -> None:
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                   "--no-deps", "--require-hashes", "--only-binary=:all:", "--no-compile", "--no-warn-conflicts",
                   "--implementation", "cp", "--python-version", RUNTIME_PYTHON_VERSION,
                   *[arg for platform in PLATFORMS for arg in ("--platform", platform)],
                   "--target", str(target), "-r", str(lock)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise AssetBuildError(f"pip could not install {lock.relative_to(REPO_ROOT)} for the Lambda platform:\n"
                                  f"{result.stderr[-3000:]}")
        # Console scripts are not importable and name this machine's interpreter: not shipped.
        shutil.rmtree(target / "bin", ignore_errors=True)
        _compile(target)

    key = _digest(BUILD_RECIPE_VERSION.encode(), " ".join(PLATFORMS).encode(), lock.read_bytes())[:24]
    return _publish(build, BUILD_DIR / "lambda-requirements" / f"{lock.parent.name}-py{RUNTIME_PYTHON_VERSION}-{key}")


def _copy_files(code: StageCode, target: Path) -> None:
    for relative in code.files:
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / relative, destination)
        destination.chmod(0o644)  # Lambda reads the code as another user: world-readable


def zip_bundle(handler_module: str) -> tuple[Path, str]:
    """The folder of a zip stage's asset and its content hash."""
    code = stage_code(handler_module)
    asset_hash = content_hash(code, ZIP_LOCK)

    def build(target: Path) -> None:
        shutil.copytree(install_requirements(ZIP_LOCK), target, dirs_exist_ok=True)
        _copy_files(code, target)
        _compile(target)

    stage = handler_module.split(".")[1]
    return _publish(build, BUILD_DIR / "lambda-assets" / f"{stage}-{asset_hash[:24]}"), asset_hash


def lambda_code(handler_module: str) -> lambda_.Code:
    folder, asset_hash = zip_bundle(handler_module)
    return lambda_.Code.from_asset(str(folder), asset_hash=asset_hash, asset_hash_type=AssetHashType.CUSTOM)


# The image's build context: what container/Dockerfile COPYs, and nothing else.
IMAGE_CODE_FOLDER = "task"
IMAGE_LOCK_NAME = "requirements.lock"


def image_context(handler_module: str) -> Path:
    """The docker build context of an image stage: the Dockerfile, the locked requirements and the
    stage's code under task/ (copied into the image's task root)."""
    code = stage_code(handler_module)
    context_hash = content_hash(code, DOCKERFILE, IMAGE_LOCK)

    def build(target: Path) -> None:
        shutil.copyfile(DOCKERFILE, target / "Dockerfile")
        shutil.copyfile(IMAGE_LOCK, target / IMAGE_LOCK_NAME)
        _copy_files(code, target / IMAGE_CODE_FOLDER)

    stage = handler_module.split(".")[1]
    return _publish(build, BUILD_DIR / "image-contexts" / f"{stage}-{context_hash[:24]}")


def image_code(handler: str) -> lambda_.DockerImageCode:
    """The image of an image stage, built by `cdk deploy` (docker) for the functions' architecture."""
    module = handler.rpartition(".")[0]
    return lambda_.DockerImageCode.from_image_asset(str(image_context(module)), cmd=[handler],
                                                    platform=ecr_assets.Platform.LINUX_AMD64)
