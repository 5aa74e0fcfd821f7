"""Step Functions task tokens: waking a parked execution, or completing the one waiting for results."""

from __future__ import annotations

import json
from typing import Any, Mapping

from judgeflow import runs


def _task_gone(sfn: Any) -> tuple[type[Exception], ...]:
    """What SendTask* raises when the waiting task already ended (timed out, stopped, completed)."""
    return sfn.exceptions.TaskTimedOut, sfn.exceptions.InvalidToken, sfn.exceptions.TaskDoesNotExist


def succeed(sfn: Any, task_token: str, output: Mapping[str, Any] | str) -> bool:
    """Complete a task; False when it had already ended (it timed out and went on by itself)."""
    try:
        sfn.send_task_success(taskToken=task_token, output=output if isinstance(output, str) else json.dumps(output))
        return True
    except _task_gone(sfn):
        return False


def fail(sfn: Any, task_token: str, *, error: str, cause: str) -> bool:
    try:
        sfn.send_task_failure(taskToken=task_token, error=error, cause=cause[:32000])
        return True
    except _task_gone(sfn):
        return False


def complete_results_wait(sfn: Any, task_token: str, run: Mapping[str, Any]) -> None:
    """Let the execution waiting for results finish with what the run's record holds: its summary,
    or its failure."""
    if run.get("status") == runs.FAILED:
        fail(sfn, task_token, error="ResultsFailed", cause=run.get("reason", ""))
    else:
        succeed(sfn, task_token, run["results_summary"])
