"""The rendered state machine: task resources, the exact job request, every path releases capacity."""

from __future__ import annotations

import json
import re
from typing import Any

from infra.workflow import LEDGER_CONFLICTS, TRAINING_JOB_FIELDS


def _successors(state: dict[str, Any]) -> set[str]:
    nexts = {state["Next"]} if "Next" in state else set()
    nexts |= {c["Next"] for c in state.get("Catch", [])}
    nexts |= {c["Next"] for c in state.get("Choices", [])}
    if "Default" in state:
        nexts.add(state["Default"])
    return nexts


def test_task_resources(state_machine_definition):
    states = state_machine_definition["States"]
    resources = {name: s["Resource"] for name, s in states.items() if s["Type"] == "Task"}
    assert resources["Run Nova judge"] == "arn:aws:states:::sagemaker:createTrainingJob.sync"
    assert resources["Wait for results"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert resources["Wait for capacity"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    lambdas = {name for name, arn in resources.items() if ":function:" in arn}
    assert lambdas == {"Validate dataset", "Record rejection", "Register run", "Stage Nova input", "Plan judge job",
                       "Check capacity", "Release capacity", "Release capacity after failure",
                       "Release capacity after job failure", "Release slot after quota refusal", "Record failure"}


def test_the_planned_request_is_sent_field_for_field(state_machine_definition):
    parameters = state_machine_definition["States"]["Run Nova judge"]["Parameters"]
    assert parameters == {f"{field}.$": f"$.capacity.request.{field}" for field in TRAINING_JOB_FIELDS}


def test_quota_refusal_goes_back_to_waiting_and_other_failures_are_recorded(state_machine_definition):
    states = state_machine_definition["States"]
    catches = [(c["ErrorEquals"], c["Next"]) for c in states["Run Nova judge"]["Catch"]]
    assert catches == [(["SageMaker.ResourceLimitExceededException"], "Release slot after quota refusal"),
                       (["States.TaskFailed"], "Release capacity after job failure"),
                       (["States.ALL"], "Release capacity after failure")]
    # The refusal lands where the next check reads it (and backs off instead of reserving again).
    assert states["Run Nova judge"]["Catch"][0]["ResultPath"] == "$.capacity.refused"
    assert states["Release slot after quota refusal"]["Next"] == "Check capacity"
    (capacity_error,) = states["Out of instance capacity?"]["Choices"]
    assert capacity_error == {"Variable": "$.error.Cause", "StringMatches": "*CapacityError*",
                              "Next": "Try another instance type"}
    assert states["Out of instance capacity?"]["Default"] == "Record failure"
    assert states["Try another instance type"]["Next"] == "Check capacity"
    assert states["Release capacity after failure"]["Next"] == "Record failure"


def test_waiting_runs_park_until_woken_or_their_wait_runs_out(state_machine_definition):
    wait = state_machine_definition["States"]["Wait for capacity"]
    assert wait["TimeoutSecondsPath"] == "$.capacity.wait_seconds"
    assert wait["Parameters"]["Payload"]["task_token.$"] == "$$.Task.Token"
    assert wait["ResultPath"] == "$.capacity.woken" and wait["Next"] == "Check capacity"
    catches = [(c["ErrorEquals"], c["Next"], c["ResultPath"]) for c in wait["Catch"]]
    assert catches == [(["States.Timeout"], "Check capacity", "$.capacity.timed_out"),
                       (["States.ALL"], "Release capacity after failure", "$.error")]


def test_capacity_states_retry_when_the_ledger_meets_a_concurrent_transaction(state_machine_definition):
    states = state_machine_definition["States"]
    capacity_states = ["Check capacity", "Wait for capacity", "Release capacity", "Release capacity after failure",
                       "Release capacity after job failure", "Release slot after quota refusal"]
    for name in capacity_states:
        retriers = {tuple(r["ErrorEquals"]): r for r in states[name]["Retry"]}
        conflict = retriers[tuple(LEDGER_CONFLICTS)]
        assert conflict["MaxAttempts"] >= 3 and conflict["JitterStrategy"] == "FULL", name
    assert set(LEDGER_CONFLICTS) == {"TransactionConflictException", "TransactionCanceledException"}


def test_every_state_is_reachable_and_every_next_exists(state_machine_definition):
    states = state_machine_definition["States"]
    seen, frontier = set(), [state_machine_definition["StartAt"]]
    while frontier:
        name = frontier.pop()
        if name in seen:
            continue
        seen.add(name)
        for successor in _successors(states[name]):
            assert successor in states, f"{name} -> missing {successor}"
            frontier.append(successor)
    assert seen == set(states)


def test_after_a_reservation_every_end_passes_a_release(state_machine_definition):
    """From the reserving state, no path reaches a terminal state without a Release step."""
    states = state_machine_definition["States"]
    releases = {name for name in states if name.startswith("Release")}

    def unreleased_ends(name: str, visited: frozenset[str]) -> list[list[str]]:
        if name in releases:
            return []
        state = states[name]
        if state["Type"] in ("Succeed", "Fail") or state.get("End"):
            return [[name]]
        paths = []
        for successor in _successors(state):
            if successor not in visited:
                paths += [[name, *p] for p in unreleased_ends(successor, visited | {successor})]
        return paths

    assert unreleased_ends("Capacity reserved?", frozenset({"Capacity reserved?"})) == []


def test_console_sees_why_a_run_waits(state_machine_definition):
    states = state_machine_definition["States"]
    assert states["Check capacity"]["ResultPath"] == "$.capacity"
    assert "reason" in states["Wait for capacity"]["Comment"]


def test_offline_run_uses_the_synthesized_definition(offline, state_machine_definition):
    """The embedded deployment runs the template's definition; only resolved names differ."""
    def normalised(definition: dict[str, Any]) -> str:
        return re.sub(r"function:[A-Za-z0-9-]+", "function:F", json.dumps(definition, sort_keys=True))

    with offline() as jf:
        deployed = jf.d.state_machine_definition
    assert normalised(deployed) == normalised(state_machine_definition)
