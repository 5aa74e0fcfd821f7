"""cdk-nag AwsSolutions: zero unacknowledged findings, every acknowledgment reasoned and in use."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3

from infra.nag import ACKNOWLEDGMENTS, AcknowledgedAwsSolutionsChecks


def test_synthesis_passed_the_checks_and_no_acknowledgment_is_stale(synthesized):
    # The session fixture synthesized with the plugin: any unacknowledged finding raised there.
    assert synthesized["nag"].stale_acknowledgments() == []


def test_every_acknowledgment_names_one_finding_and_says_why():
    for entry in ACKNOWLEDGMENTS:
        assert entry.finding.startswith("AwsSolutions-"), entry
        assert len(entry.reason) >= 40, f"reason too thin: {entry}"


def test_an_unacknowledged_finding_fails_synthesis(tmp_path):
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Careless")
    s3.Bucket(stack, "Plain")  # no TLS enforcement, no access logs
    cdk.Validations.of(app).add_plugins(AcknowledgedAwsSolutionsChecks())
    with pytest.raises(Exception, match="AwsSolutions-S1"):
        app.synth()


def test_synthesis_for_a_concrete_account_passes_too(tmp_path):
    """`cdk deploy` synthesizes with CDK_DEFAULT_ACCOUNT set: account ids then appear literally."""
    from infra.app_builder import build_app
    from offline.synth import cdk_json_context

    nag = AcknowledgedAwsSolutionsChecks()
    app = cdk.App(outdir=str(tmp_path), context={**cdk_json_context()})
    build_app(app, account="123456789012", nag=nag)
    app.synth()
    assert nag.stale_acknowledgments() == []
