"""The Lambda code asset: the domain package, the handlers and the recipes, plus pinned wheels.

One asset serves every zip Lambda (handlers differ only by entry point). It is bundled
locally with pip (manylinux wheels for the Lambda runtime, no docker needed); a docker image
is the fallback CDK uses only when local bundling is not possible.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling, IgnoreMode
from aws_cdk import aws_lambda as lambda_

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_14
RUNTIME_PYTHON_VERSION = "3.14"
CODE_FOLDERS = ("judgeflow", "lambdas", "recipes")
# The asset source is the repo root restricted to what the Lambdas run (gitignore-style rules).
ASSET_EXCLUDES = ["*", *[f"!{name}/**" for name in CODE_FOLDERS], "**/__pycache__", "**/*.pyc",
                  "judgeflow/offline/**", "judgeflow/sample_data/**"]


@jsii.implements(ILocalBundling)
class PipBundler:
    """Installs lambdas/requirements.txt for the Lambda platform and copies the code folders."""

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_kwargs) -> bool:
        command = [
            # --no-warn-conflicts: the target folder is the whole Lambda environment; what else is
            # installed beside the CDK app does not matter to it.
            sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--no-warn-conflicts",
            "--platform", "manylinux2014_x86_64", "--implementation", "cp",
            "--python-version", RUNTIME_PYTHON_VERSION, "--only-binary=:all:",
            "--target", output_dir, "-r", str(REPO_ROOT / "lambdas" / "requirements.txt"),
        ]
        if subprocess.run(command, check=False).returncode != 0:
            return False
        for name in CODE_FOLDERS:
            shutil.copytree(REPO_ROOT / name, Path(output_dir) / name, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "offline", "sample_data"))
        return True


def lambda_code() -> lambda_.Code:
    return lambda_.Code.from_asset(
        str(REPO_ROOT),
        exclude=ASSET_EXCLUDES,
        ignore_mode=IgnoreMode.GLOB,
        asset_hash_type=AssetHashType.SOURCE,
        bundling=BundlingOptions(
            image=LAMBDA_RUNTIME.bundling_image,
            local=PipBundler(),
            command=[
                "bash", "-c",
                "pip install --no-compile -r lambdas/requirements.txt -t /asset-output && "
                "cp -r " + " ".join(CODE_FOLDERS) + " /asset-output/",
            ],
        ),
    )


def results_image_code() -> lambda_.DockerImageCode:
    """The results Lambda image (pyarrow + matplotlib exceed the zip limit); built at deploy time."""
    return lambda_.DockerImageCode.from_image_asset(
        str(REPO_ROOT),
        file="container/Dockerfile",
        cmd=["lambdas.results.handler.lambda_handler"],
        exclude=[*ASSET_EXCLUDES, "!container/**"],
        ignore_mode=IgnoreMode.GLOB,
    )
