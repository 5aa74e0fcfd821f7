"""Builds the judgeflow app: both stacks from validated settings, with cdk-nag AwsSolutions checks."""

from __future__ import annotations

from typing import Any, Mapping

import aws_cdk as cdk

from infra.nag import AcknowledgedAwsSolutionsChecks
from infra.stateful_stack import StatefulStack
from infra.stateless_stack import StatelessStack
from judgeflow.settings import Settings
from judgeflow.stacks import DEPLOYMENT_CONTEXT_KEY, STATEFUL_STACK_NAME, STATELESS_STACK_NAME, stack_names

__all__ = ["DEPLOYMENT_CONTEXT_KEY", "STATEFUL_STACK_NAME", "STATELESS_STACK_NAME", "build_app", "stack_names"]


def build_app(app: cdk.App, *, context: Mapping[str, Any] | None = None, account: str | None = None,
              nag: AcknowledgedAwsSolutionsChecks | None = None,
              deployment: str | None = None) -> tuple[StatefulStack, StatelessStack]:
    """Both stacks; cdk-nag AwsSolutions (with reasoned acknowledgments) fails synthesis on any finding."""
    settings = Settings.from_mapping(context if context is not None else app.node.try_get_context("judgeflow"))
    if deployment is None:
        deployment = str(app.node.try_get_context(DEPLOYMENT_CONTEXT_KEY) or "")
    stateful_name, stateless_name = stack_names(deployment)
    env = cdk.Environment(account=account, region=settings.region)
    stateful = StatefulStack(app, stateful_name, settings=settings, env=env, deployment=deployment,
                             description="judgeflow data: buckets, run registry, metrics lake, judge role")
    stateless = StatelessStack(app, stateless_name, settings=settings, stateful=stateful, env=env,
                               description="judgeflow pipeline: validation, capacity gate, Nova judge runs, results")
    stateless.add_stack_dependency(stateful)
    cdk.Validations.of(app).add_plugins(nag or AcknowledgedAwsSolutionsChecks())
    return stateful, stateless
