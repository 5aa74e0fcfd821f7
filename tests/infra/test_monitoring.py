"""Alarms and dashboard of the stateless stack: every stage Lambda alarms on errors to the
notifications topic, and the dashboard reads the metrics the handlers really emit."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from judgeflow import runs
from judgeflow.environment import METRICS_NAMESPACE, SERVICE_NAME
from tests.conftest import REPO_ROOT, STATELESS_STACK_NAME


def _resources(templates: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {logical: resource for logical, resource in templates[STATELESS_STACK_NAME]["Resources"].items()
            if resource["Type"] == kind}


def _stage_functions(templates: dict[str, Any]) -> set[str]:
    """Logical ids of judgeflow's own Lambdas (CDK's helper functions carry no Powertools setup)."""
    return {logical for logical, resource in _resources(templates, "AWS::Lambda::Function").items()
            if "POWERTOOLS_SERVICE_NAME" in resource["Properties"].get("Environment", {}).get("Variables", {})}


def _topic(templates: dict[str, Any]) -> str:
    (topic,) = _resources(templates, "AWS::SNS::Topic")
    return topic


def test_every_stage_lambda_alarms_on_errors_to_the_notifications_topic(templates):
    functions = _stage_functions(templates)
    assert len(functions) >= 12  # validate, 4 register, stage input, plan, 4 capacity, results
    alarmed = {}
    for logical, alarm in _resources(templates, "AWS::CloudWatch::Alarm").items():
        properties = alarm["Properties"]
        if properties.get("MetricName") != "Errors" or properties.get("Namespace") != "AWS/Lambda":
            continue
        (dimension,) = properties["Dimensions"]
        alarmed[dimension["Value"]["Ref"]] = properties
    assert functions <= set(alarmed), f"Lambdas without an error alarm: {sorted(functions - set(alarmed))}"
    for function in functions:
        properties = alarmed[function]
        assert properties["Threshold"] == 1 and properties["TreatMissingData"] == "notBreaching"
        assert properties["AlarmActions"] == [{"Ref": _topic(templates)}]


def _dashboard_metrics(templates: dict[str, Any]) -> list[list[Any]]:
    (dashboard,) = _resources(templates, "AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]
    text = "".join(part if isinstance(part, str) else "token" for part in body["Fn::Join"][1])
    return [metric for widget in json.loads(text)["widgets"]
            for metric in widget.get("properties", {}).get("metrics", [])]


def _emitted_metric_names() -> set[str]:
    """Names the handlers pass to Powertools' add_metric (literal, or Runs<Status> by run status)."""
    names: set[str] = set()
    for handler in Path(REPO_ROOT, "lambdas").rglob("handler.py"):
        for call in re.findall(r"add_metric\(name=(.+?), unit=", handler.read_text()):
            names.update(re.findall(r'"([A-Za-z]+)"', call))
            if call.startswith('f"Runs{'):
                names.update(f"Runs{status.title()}" for status in (runs.SUCCEEDED, runs.UNRELIABLE, runs.FAILED))
    return names


def test_dashboard_shows_capacity_checks_from_the_metrics_the_handlers_emit(templates):
    own = [m for m in _dashboard_metrics(templates) if m[0] == METRICS_NAMESPACE]
    names = {m[1] for m in own}
    assert {"CapacityReserved", "CapacityWaits"} <= names
    assert all(m[2:4] == ["service", SERVICE_NAME] for m in own)  # Powertools' dimension
    emitted = _emitted_metric_names()
    assert "CapacityWaits" in emitted and "RunsUnreliable" in emitted  # the parser sees both forms
    assert names <= emitted, f"the dashboard reads metrics no handler emits: {sorted(names - emitted)}"
