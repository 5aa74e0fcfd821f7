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
