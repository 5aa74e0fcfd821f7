"""The operator commands (`judgeflow submit|runs|show|wait|report|gate|cancel`): each reads the
deployment (judgeflow.deployed) and prints a table (rich) or JSON (`--output json`, for scripts).

Exit codes: 0 done; 1 the run ended otherwise (`wait`, `submit --wait`) or the requirement does
not hold (`gate`); 2 a usage mistake or an unknown stack or run; 3 the run has not finished (`wait
--timeout`, `gate`); 4 it cannot be decided (`gate`: the run failed, was rejected or stopped, or is
unreliable).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from judgeflow import runs
from judgeflow.deployed import Deployed, NotFound, RunNotStarted, when

NOT_FINISHED = 3
UNDECIDABLE = 4


def _deployed(args: argparse.Namespace) -> Deployed:
    return Deployed.find(profile=args.profile, region=args.region, stack=args.stack)


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")  # whole values (S3 URIs), wrapped, never cut
    for row in rows:
        table.add_row(*("-" if value is None else str(value) for value in row))
    return table


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str, ensure_ascii=False))


def _statistics(item: Mapping[str, Any]) -> dict[str, Any]:
    """The results the run recorded (the results stage's output), {} before there are any."""
    text = item.get("results_summary")
    return json.loads(text) if isinstance(text, str) and text else {}


# --- submit --------------------------------------------------------------------------------------------
def submit(args: argparse.Namespace) -> int:
    from judgeflow import validation
    from judgeflow.settings import Settings

    settings = Settings.from_mapping(None)
    with open(args.file, "rb") as handle:  # the same check as `judgeflow validate`, before anything is sent
        report = validation.validate_stream(
            validation.read_file_chunks(handle), source=str(args.file), task=args.task or settings.default_task,
            token_limit=settings.token_limit, max_rows=settings.max_rows, max_findings=settings.max_errors_reported)
    if not report.valid:
        if args.output == "json":
            _print_json({"valid": False, **report.as_dict()})
        else:
            print(report.summary(), file=sys.stderr)
        return 1
    metadata = {"model-a": args.model_a, "model-b": args.model_b}
    for header, value in (("task", args.task), ("judge-model", args.judge),
                          ("instance-types", ",".join(args.instance_types or []))):
        if value:
            metadata[header] = value
    if args.rerun:
        metadata["rerun"] = "true"
    deployed = _deployed(args)
    key, version = deployed.upload(args.file, metadata)
    try:
        run = deployed.run_of_upload(key, version, timeout=args.register_timeout)
    except RunNotStarted as exc:
        print(f"judgeflow submit: {exc}", file=sys.stderr)
        return 1
    dataset = f"s3://{deployed.datasets_bucket}/{key}"
    result = {"run_id": run["run_id"], "dataset": dataset, "version_id": version,
              "console": deployed.console_link(run["execution_arn"]), "status": run.get("status")}
    if run.get("duplicate_of"):
        result["duplicate_of"] = run["duplicate_of"]
    if run.get("status") == runs.REJECTED:  # the deployment refused what passed the local check
        result["reason"] = run.get("reason")
        if args.output == "json":
            _print_json(result)
        else:
            print(f"rejected: {run.get('reason')}\n  run      {run['run_id']}\n  console  {result['console']}",
                  file=sys.stderr)
        return 1
    if args.output == "json" and not args.wait:
        _print_json(result)
    elif args.output != "json":
        said = (f"already judged as run {run['run_id']} ({run.get('status')}); nothing new was launched"
                if run.get("duplicate_of") else f"run {run['run_id']} started")
        print(f"{said}\n  dataset  {dataset} (version {version})\n  console  {result['console']}")
    if args.wait:
        code = _wait(deployed, run["run_id"], timeout=args.timeout, output=args.output, quiet=args.output == "json")
        if args.output == "json":
            _print_json({**result, **_show_data(deployed, run["run_id"])})
        return code
    return 0


# --- runs ----------------------------------------------------------------------------------------------
def list_runs(args: argparse.Namespace) -> int:
    since = datetime.fromisoformat(args.since).replace(tzinfo=timezone.utc) if args.since else None
    found = _deployed(args).runs(status=args.status, since=since, limit=args.limit)
    if args.output == "json":
        _print_json([{"run_id": item["run_id"], "created_at": item.get("created_at"), "task": item.get("task"),
                      "model_a": item.get("model_a"), "model_b": item.get("model_b"),
                      "judge_model": item.get("judge_model"), "status": item.get("status"),
                      "verdict": item.get("verdict"), "reason": item.get("reason")} for item in found])
        return 0
    _console().print(_table(f"{len(found)} run(s)", ["run id", "when (UTC)", "A", "B", "judge", "status", "verdict"], [
        [item["run_id"], when(item.get("created_at")), item.get("model_a"), item.get("model_b"),
         item.get("judge_model"), item.get("status"), item.get("verdict")] for item in found]))
    return 0


# --- show ----------------------------------------------------------------------------------------------
def _show_data(deployed: Deployed, run_id: str) -> dict[str, Any]:
    item = deployed.require_run(run_id)
    results = _statistics(item)
    summary = deployed.summary(run_id) if item.get("status") != runs.RUNNING else None
    low, high = (results.get("judgeflow_wilson_95") or [None, None])
    waiting = json.loads(item["waiting_json"]) if item.get("waiting_json") else None
    return {
        "run_id": run_id, "status": item.get("status"), "reason": item.get("reason") or item.get("waiting_reason"),
        "waiting": waiting if item.get("status") == runs.RUNNING else None,
        "task": item.get("task"), "judge_model": item.get("judge_model"), "model_a": item.get("model_a"),
        "model_b": item.get("model_b"), "instance_type": item.get("instance_type"), "job_name": item.get("job_name"),
        "verdict": results.get("verdict") or item.get("verdict"), "verdict_reason": results.get("verdict_reason"),
        "counts": results.get("counts"), "count_unit": results.get("count_unit"),
        "service_metrics": results.get("service_metrics"), "judgeflow_b_share": results.get("judgeflow_b_share"),
        "wilson_low": low, "wilson_high": high, "error_rate": results.get("judgeflow_error_rate"),
        "per_category": (summary or {}).get("per_category") or [],
        "warnings": results.get("warnings") or item.get("results_warnings") or [],
        "locations": {**({"dataset": f"s3://{item.get('dataset_bucket')}/{item.get('dataset_key')}"}
                         if item.get("dataset_key") else {}), **(results.get("locations") or {})},
        "execution_arn": item.get("execution_arn"),
    }


def show(args: argparse.Namespace) -> int:
    deployed = _deployed(args)
    data = _show_data(deployed, args.run_id)
    if args.output == "json":
        _print_json(data)
        return 0
    _render_show(data)
    return 0


def _fmt(value: Any, pattern: str = "{:.3f}") -> str:
    return "-" if value is None else pattern.format(value)


def _render_show(data: Mapping[str, Any]) -> None:
    console = _console()
    rows = [["status", data["status"]], ["reason", data.get("reason")],
            ["task / judge", f"{data.get('task')} / {data.get('judge_model')}"],
            ["A / B", f"{data.get('model_a')} / {data.get('model_b')}"]]
    waiting = data.get("waiting") or {}
    for quota in (waiting.get("quotas") or {}).values():
        rows.append([f"quota '{quota.get('quota_name')}'",
                     f"{quota.get('quota')} instances, {_fmt(quota.get('in_use'), '{}')} in use"
                     + (f", {quota['queued_ahead']} ahead in line" if quota.get("queued_ahead") else "")])
    if waiting:
        rows += [["place in line", waiting.get("queued_ahead")], ["next check", waiting.get("next_check_at")]]
    if data.get("counts"):
        counts = data["counts"]
        service = data.get("service_metrics") or {}
        rows += [[f"A / B / ties / errors ({data.get('count_unit')}s)",
                  f"{counts['a']} / {counts['b']} / {counts['ties']} / {counts['errors']}"],
                 ["service winrate [lower, upper]", f"{service.get('winrate')} [{service.get('lower_rate')}, "
                                                    f"{service.get('upper_rate')}]"],
                 ["judgeflow B share, Wilson 95%", f"{_fmt(data.get('judgeflow_b_share'))} "
                                                   f"[{_fmt(data.get('wilson_low'))}, {_fmt(data.get('wilson_high'))}]"],
                 ["error rate", _fmt(data.get("error_rate"), "{:.1%}")],
                 ["verdict", f"{data.get('verdict')} ({data.get('verdict_reason')})"]]
    console.print(_table(f"run {data['run_id']}", ["", ""], rows))
    if data.get("per_category"):
        console.print(_table("per category", ["category", "A", "B", "ties", "errors", "B share", "Wilson 95%"], [
            [c["category"], c["A"], c["B"], c["tie"], c["error"], _fmt(c.get("b_share")),
             f"[{_fmt(c.get('wilson_low'))}, {_fmt(c.get('wilson_high'))}]"] for c in data["per_category"]]))
    for warning in data.get("warnings") or []:
        console.print(f"warning: {warning}", markup=False)
    locations = data.get("locations") or {}
    if locations:
        console.print(_table("locations", ["what", "where"], [[name, uri] for name, uri in locations.items()]))


# --- wait ----------------------------------------------------------------------------------------------
def wait(args: argparse.Namespace) -> int:
    deployed = _deployed(args)
    deployed.require_run(args.run_id)
    code = _wait(deployed, args.run_id, timeout=args.timeout, output=args.output, quiet=args.output == "json")
    if args.output == "json":
        _print_json(_show_data(deployed, args.run_id))
    return code


def _wait(deployed: Deployed, run_id: str, *, timeout: float | None, output: str, quiet: bool) -> int:
    """Follow the run with a live display until it ends: 0 when it succeeded, 1 when it ended
    otherwise, 3 when `timeout` passed first."""
    from rich.live import Live

    started = time.monotonic()

    def line() -> tuple[dict[str, Any], str]:
        item = deployed.require_run(run_id)
        job = deployed.job_status(item["job_name"]) if item.get("job_name") else None
        text = (f"{run_id}  {item.get('status')}  job {item.get('job_name') or '-'}: {job or '-'}  "
                f"{time.monotonic() - started:.0f} s")
        if item.get("status") == runs.RUNNING and item.get("waiting_reason") and not job:
            text += f"\n  waiting: {item['waiting_reason']}"
        return item, text

    item, text = line()
    console = _console()
    # A terminal gets one line kept up to date; a log (CI, a pipe) gets a line per change.
    display = (_Silent() if quiet else Live(text, console=console, auto_refresh=False, redirect_stdout=False)
               if console.is_terminal else _Log(console, text))
    with display as live:
        while item.get("status") == runs.RUNNING:
            if timeout is not None and time.monotonic() - started > timeout:
                live.update(text + f"\n  still running after {timeout:.0f} s", refresh=True)
                return NOT_FINISHED
            time.sleep(1.0)
            item, text = line()
            live.update(text, refresh=True)
    if not quiet:
        _render_show(_show_data(deployed, run_id))
    return 0 if item.get("status") == runs.SUCCEEDED else 1


class _Silent:
    """Live's shape, showing nothing (JSON output prints only the final document)."""

    def __enter__(self) -> "_Silent":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, *args: Any, **kwargs: Any) -> None:
        return None


class _Log(_Silent):
    """Live's shape for a log: prints the state line whenever it changes (the seconds aside)."""

    def __init__(self, console: Any, text: str) -> None:
        self.console, self.shown = console, ""
        self.update(text)

    def update(self, text: str, **kwargs: Any) -> None:
        state = text.rsplit("  ", 1)[0]
        if state != self.shown:
            self.console.print(text, markup=False)
            self.shown = state


# --- report --------------------------------------------------------------------------------------------
def report(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    written = _deployed(args).download_report(args.run_id, args.out)
    if args.output == "json":
        _print_json({"run_id": args.run_id, "files": [str(path) for path in written]})
    else:
        for path in written:
            print(path)
    return 0


# --- gate ----------------------------------------------------------------------------------------------
def gate(args: argparse.Namespace) -> int:
    """0 when the requirement holds, 1 when it does not, 3 when the run has not finished, 4 when
    it cannot be decided; one sentence says why."""
    data = _show_data(_deployed(args), args.run_id)
    code, sentence = decide(data, require=args.require, max_error_rate=args.max_error_rate)
    if args.output == "json":
        _print_json({"run_id": args.run_id, "require": args.require, "passed": code == 0, "exit_code": code,
                     "reason": sentence, "status": data["status"], "verdict": data.get("verdict"),
                     "wilson_low": data.get("wilson_low"), "wilson_high": data.get("wilson_high")})
    else:
        print(sentence)
    return code


def decide(data: Mapping[str, Any], *, require: str, max_error_rate: float | None) -> tuple[int, str]:
    run_id, status = data["run_id"], data["status"]
    low, high = data.get("wilson_low"), data.get("wilson_high")
    if status == runs.RUNNING:
        return NOT_FINISHED, f"run {run_id} has not finished ({data.get('reason') or 'running'}); gate it once it ends"
    if status == runs.UNRELIABLE:
        return UNDECIDABLE, f"run {run_id} is unreliable ({data.get('verdict_reason')}): no decision"
    if status != runs.SUCCEEDED or low is None or high is None:
        return UNDECIDABLE, f"run {run_id} ended {status} ({data.get('reason')}): no decision"
    interval = f"judgeflow's Wilson 95% interval for B [{low:.3f}, {high:.3f}] over {data.get('count_unit')}s"
    error_rate = data.get("error_rate")
    if max_error_rate is not None and error_rate is not None and error_rate > max_error_rate:
        return 1, f"fails: {error_rate:.1%} of {data.get('count_unit')}s were inference errors, over {max_error_rate:.1%}"
    if require == "better":
        return (0, f"passes: B is better, {interval} lies above 0.5") if low > 0.5 else (
            1, f"fails: B is not shown better, {interval} does not lie above 0.5")
    return (0, f"passes: B is not worse, {interval} does not lie below 0.5") if high >= 0.5 else (
        1, f"fails: B is worse, {interval} lies below 0.5")


# --- cancel --------------------------------------------------------------------------------------------
def cancel(args: argparse.Namespace) -> int:
    item = _deployed(args).cancel(args.run_id)
    if args.output == "json":
        _print_json({"run_id": args.run_id, "status": item.get("status"), "reason": item.get("reason")})
    else:
        print(f"run {args.run_id}: {item.get('status')} ({item.get('reason')})")
    return 0


__all__ = ["NotFound", "cancel", "decide", "gate", "list_runs", "report", "show", "submit", "wait"]
