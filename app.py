#!/usr/bin/env python3
"""CDK entry point: `cdk deploy --all` (or `python app.py` to synthesize into cdk.out)."""

import os

import aws_cdk as cdk

from infra.app_builder import build_app

app = cdk.App()
build_app(app, account=os.environ.get("CDK_DEFAULT_ACCOUNT"))
app.synth()
