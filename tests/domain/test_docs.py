"""The documentation in docs/ stays in step with the code.

- docs/settings.md and docs/troubleshooting.md are what judgeflow.docs_reference renders from the
  code (regenerate with `python -m judgeflow.docs_reference`); every cdk.json key has a sentence.
- The error catalogue explains exactly the issue codes the validator emits (read from the source),
  and the messages the code produces, case by case, have the shapes the catalogue documents.
- Every column the Athena cookbook's SQL names exists in judgeflow.lake.
- docs/README.md indexes every page, and relative links between pages resolve.
"""

from __future__ import annotations

import ast
import functools
import io
import json
import re
import tarfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import pytest

from judgeflow import capacity_policy as policy
from judgeflow import docs_reference, error_catalog, lake, recipes, runs, stats
from judgeflow.settings import DEFAULTS, SETTING_DOCS, Settings
from tests.conftest import REPO_ROOT
from tests.forms.published import archive

DOCS = REPO_ROOT / "docs"


# --- generated pages ---------------------------------------------------------------------------

def test_every_setting_has_one_sentence():
    assert set(SETTING_DOCS) == set(DEFAULTS), "describe each DEFAULTS key in SETTING_DOCS (judgeflow/settings.py)"
    for key, text in SETTING_DOCS.items():
        assert text.strip() and text.endswith(".") and "\n" not in text, key


@pytest.mark.parametrize("page", sorted(docs_reference.PAGES))
def test_generated_page_is_current(page):
    expected = docs_reference.PAGES[page]()
    assert (DOCS / page).read_text(encoding="utf-8") == expected, (
        f"docs/{page} is out of date: run python -m judgeflow.docs_reference")


def test_check_mode_reports_a_stale_page(tmp_path):
    assert docs_reference.main(["--docs", str(tmp_path)]) == 0
    assert docs_reference.main(["--check", "--docs", str(tmp_path)]) == 0
    (tmp_path / "settings.md").write_text("edited by hand\n", encoding="utf-8")
    assert docs_reference.main(["--check", "--docs", str(tmp_path)]) == 1


# --- the catalogue against the validator's source ------------------------------------------------

def _finding_kinds(path: Path) -> set[str]:
    """The `kind` of every Finding(...) the module builds: the third argument, or kind=. A kind that is
    not a string literal fails, so a new way of naming kinds cannot slip past this test."""
    kinds = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Finding":
            given = node.args[2] if len(node.args) > 2 else next(k.value for k in node.keywords if k.arg == "kind")
            assert isinstance(given, ast.Constant) and isinstance(given.value, str), ast.unparse(node)
            kinds.add(given.value)
    return kinds


def _dict_kinds(path: Path) -> set[str]:
    """The values of "kind" keys in dict literals (the validate stage's settings and metadata findings)."""
    kinds = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "kind":
                    assert isinstance(value, ast.Constant), ast.unparse(node)
                    kinds.add(value.value)
    return kinds


VALIDATOR_KINDS = _finding_kinds(REPO_ROOT / "judgeflow" / "validation.py")


def test_validator_kinds_are_found():
    assert {"invalid_json", "reserved_field", "nesting_too_deep", "crlf_line_end"} <= VALIDATOR_KINDS


def test_dataset_entries_are_exactly_the_validator_issue_codes():
    documented = {entry.code for entry in error_catalog.DATASET.entries}
    assert documented == VALIDATOR_KINDS, (
        f"undocumented: {sorted(VALIDATOR_KINDS - documented)}, no longer emitted: {sorted(documented - VALIDATOR_KINDS)}")


def test_every_report_kind_is_explained():
    emitted = VALIDATOR_KINDS | _dict_kinds(REPO_ROOT / "judgeflow" / "stages" / "validate.py")
    assert error_catalog.report_kinds() == emitted


def test_catalogue_entries_are_well_formed():
    codes = [entry.code for group in error_catalog.CATALOG for entry in group.entries]
    assert len(codes) == len(set(codes)), "codes are unique"
    for entry in error_catalog.ENTRIES.values():
        assert re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)?", entry.code), entry.code
        assert entry.messages and entry.fix and entry.title, entry.code
        assert set(entry.shows) <= set(error_catalog.PLACES), entry.code
        assert entry.severity in error_catalog.SEVERITIES, entry.code
        for shape in entry.messages:
            assert "<" not in re.sub(r"<[^<>]*>", "", shape), f"{entry.code}: placeholders do not nest: {shape}"


# --- messages the code produces have the documented shapes --------------------------------------

def _validate(data: bytes, source: str = "data.jsonl") -> Any:
    from judgeflow import validation

    return validation.validate_stream(iter([data]), source=source, task="llm_judge", token_limit=7000,
                                      max_rows=100_000)


def _findings_of(kind: str) -> list[str]:
    return _findings().get(kind, [])


@functools.lru_cache(maxsize=1)
def _findings() -> dict[str, list[str]]:
    """The messages of every finding, by kind, in the reports of the shared bad inputs and a few more files."""
    from tests.bad_inputs import BAD_INPUTS, GOOD, jsonl

    files = [(data, "data.jsonl") for _name, data, _first in BAD_INPUTS] + [
        (jsonl(GOOD), "data.txt"),
        (jsonl(GOOD, GOOD), "data.jsonl"),
        (jsonl(GOOD).replace(b"\n", b"\r\n"), "data.jsonl"),
        (jsonl({**GOOD, "meta": json.loads("[" * 70 + "]" * 70)}), "data.jsonl"),
        (b'{"prompt": "p", "response_A": "a", "response_B": "b", "meta": ' + b"[" * 1100 + b"]" * 1100 + b"}\n",
         "data.jsonl"),
        (jsonl({**GOOD, "prompt": 1}, {**GOOD, "prompt": [1]}, {**GOOD, "prompt": {"a": 1}}), "data.jsonl"),
    ]
    messages: dict[str, list[str]] = {}
    for data, source in files:
        report = _validate(data, source)
        for finding in report.errors + report.warnings:
            messages.setdefault(finding.kind, []).append(finding.message)
    return messages


def _rejected_message() -> list[str]:
    from judgeflow.stages import validate

    class Body(io.BytesIO):
        def iter_chunks(self, chunk_size: int):
            yield from iter(lambda: self.read(chunk_size), b"")

    class S3:
        def head_object(self, **_request):
            return {"VersionId": "v1", "Metadata": {"model-a": "aurora"}}

        def get_object(self, **_request):
            return {"Body": Body(b'{"prompt": "p",\n\n{"prompt": "p", "response_A": "a", "response_B": "b"}\n')}

        def put_object(self, **_request):
            return {"VersionId": "r1"}

    result = validate.validate_dataset(s3=S3(), settings=Settings.from_mapping(None), bucket="datasets",
                                       key="incoming/answers.jsonl", requested_settings=None)
    return [result["message"]]


def _metadata(metadata: dict[str, str]) -> list[str]:
    with pytest.raises(runs.RunSettingsError) as raised:
        runs.settings_from_metadata(metadata)
    return [str(raised.value)]


def _run_settings(*requests: dict[str, Any]) -> list[str]:
    messages = []
    for requested in requests:
        with pytest.raises(runs.RunSettingsError) as raised:
            runs.resolve_run_settings(requested, Settings.from_mapping(None))
        messages.append(str(raised.value))
    return messages


def _recipe(task: str, judge: str, instance_types: list[str] | None = None) -> list[str]:
    with pytest.raises(recipes.RecipeError) as raised:
        choice = recipes.choose_recipe(task, judge)
        recipes.allowed_instance_order(choice, instance_types or [])
    return [str(raised.value)]


def _request(request: Any, head_error: str | None = None) -> list[str]:
    from botocore.exceptions import ClientError

    from judgeflow.stages import validate

    class S3:
        exceptions = SimpleNamespace(ClientError=ClientError)  # where boto3 clients keep their errors

        def head_object(self, **_request):
            raise ClientError({"Error": {"Code": head_error}}, "HeadObject")

    result = validate.validate_request(s3=S3(), settings=Settings.from_mapping(None), datasets_bucket="datasets",
                                       request=request, execution_name="x")
    assert result["valid"] is False
    return [result["message"]]


def _not_launched_again() -> list[str]:
    from judgeflow.stages import register

    class Registry:
        def register(self, **_item):
            return {"status": "SUCCEEDED", "dataset_bucket": "datasets", "dataset_key": "incoming/a.jsonl",
                    "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:run:first"}

    settings = {"task": "llm_judge", "judge_model": "micro", "model_a": "a", "model_b": "b",
                "instance_types": ["ml.g5.12xlarge"]}
    messages = []
    for rerun in (False, True):
        result = register.register_run(
            registry=Registry(), settings=Settings.from_mapping(None), execution_arn="arn:second", execution_name="s",
            validation_result={"settings": {**settings, "rerun": rerun}, "upload": "s3://datasets/incoming/b.jsonl?v",
                               "dataset": {"bucket": "datasets", "key": "incoming/b.jsonl", "sha256": "0" * 64,
                                           "records": 1}})
        messages.append(result["message"])
    return messages


def _budget(waited: int = 0, total: int = 86_400) -> Any:
    return policy.WaitBudget(region="us-east-1", attempt=0, waited_seconds=waited, initial=60, maximum=180,
                             total=total)


G5 = "ml.g5.12xlarge"


def _quotas(ahead: int = 0) -> dict[str, Any]:
    return {G5: {"quota_name": "ml.g5.12xlarge for training job usage", "quota": 2, "in_use": 2,
                               "queued_ahead": ahead, "quota_code": "L-C6383286"}}


def _wait(situation: str, **budget: int) -> list[str]:
    return [policy.wait_decision(situation, _budget(**budget), quotas=_quotas(), hint_type="ml.g5.12xlarge").reason]


def _account() -> dict[str, Any]:
    return {"quota_name": policy.ACCOUNT_INSTANCES_QUOTA, "quota": 4, "in_use": 4, "quota_code": None}


def _acquire(previous: dict[str, Any]) -> list[str]:
    """One capacity check through the stage, for the reasons it words itself."""
    from judgeflow.stages import capacity

    class Ledger:
        def versions(self, types):
            return {t: 1 for t in types}

        def join_queue(self, **_place):
            pass

    class Registry:
        def update(self, run_id, **fields):
            self.fields = fields

    registry = Registry()
    state = capacity.acquire_capacity(
        ledger=Ledger(), quotas_client=None, sagemaker=None, settings=Settings.from_mapping(None), registry=registry,
        run_id="jf-1", execution_arn="arn:x", plan=capacity.Plan(instance_order=["ml.g5.12xlarge"], instances=1,
                                                                 request={}),
        previous=capacity.CapacityState.from_event({"attempt": 0, "wait_seconds": 60, **previous}))
    assert registry.fields["waiting_reason"] == state.reason
    return [state.reason]


def _execution_ended() -> list[str]:
    from judgeflow.stages import capacity

    class Ledger:
        def release(self, **_holder):
            return {}

    class Registry:
        def find_by_execution(self, _arn):
            return {"run_id": "jf-1", "status": "RUNNING"}

        def finish(self, run_id, *, status, reason):
            self.reason = reason

    registry = Registry()
    capacity.release_ended_execution(ledger=Ledger(), sfn=None, registry=registry, settings=Settings.from_mapping(None),
                                     execution_arn="arn:x", status="ABORTED", cause=None)
    return [registry.reason]


def _failure(error: str, cause: str) -> list[str]:
    from judgeflow.stages import register

    return [register.failure_message("jf-1", {"Error": error, "Cause": cause})]


SUMMARY = "run/eval_results/results_2026-01-01T00-00-00.json"
COUNTS = {"a_scores": 2.0, "b_scores": 4.0, "ties": 0.0, "inference_error": 0.0}


def _summary(results: Any) -> bytes:
    return json.dumps({"results": results}).encode()


def _parquet(columns: dict[str, list[Any]], index: list[int] | None = None) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if index is None:
        table = pa.table(columns)
    else:
        import pandas as pd

        table = pa.Table.from_pandas(pd.DataFrame(columns, index=index))
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _details(name: str = "details_custom|llm_judge_judge|0_1.parquet", folder: str = "run/eval_results") -> str:
    return f"{folder}/details/model/1/{name}"


PAIRWISE = {"forward_output": ["[[A>B]]"], "backward_output": ["[[B>A]]"]}


def _output_error(files: dict[str, bytes], task: str = "llm_judge", **limits: int) -> list[str]:
    from judgeflow import nova_output

    with pytest.raises(nova_output.OutputError) as raised:
        source = archive(files) if isinstance(files, dict) else files
        nova_output.parse_output(nova_output.read_archive(source, limits=nova_output.ArchiveLimits(**limits)),
                                 task=task)
    return [str(raised.value)]


def _unsafe(name: str, tweak: Callable[[tarfile.TarInfo], Any] | None = None) -> list[str]:
    from judgeflow import nova_output

    with pytest.raises(nova_output.OutputError) as raised:
        nova_output.read_archive(archive({name: b"x"}, tweak))
    return [str(raised.value)]


def _output_warnings(files: dict[str, bytes], task: str = "llm_judge") -> list[str]:
    from judgeflow import nova_output

    return nova_output.parse_output(files, task=task).warnings


def _count_warnings() -> list[str]:
    from judgeflow import nova_output

    return (nova_output.count_mismatches(COUNTS, task="llm_judge", details_items=2, input_items=3)
            + nova_output.count_mismatches(COUNTS, task="rubric_llm_judge", details_items=9, input_items=None)
            + nova_output.count_mismatches(COUNTS, task="llm_judge", details_items=None, input_items=4))


def _verdict(a: int, b: int, ties: int, errors: int) -> list[str]:
    result = stats.pairwise_stats(a, b, ties, errors)
    assert result.verdict == stats.UNRELIABLE
    return [result.verdict_reason]


def _cdk(values: dict[str, Any]) -> list[str]:
    from judgeflow.errors import SettingsError

    with pytest.raises(SettingsError) as raised:
        Settings.from_mapping(values)
    return [str(raised.value)]


def _deployment_name() -> list[str]:
    from infra.app_builder import stack_names

    with pytest.raises(ValueError) as raised:
        stack_names("Staging_1")
    return [str(raised.value)]


def _cli(*argvs: list[str]) -> list[str]:
    """What `judgeflow` prints after its usage line for each command line (each must exit 2)."""
    import contextlib

    from judgeflow import cli

    messages = []
    for argv in argvs:
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            assert cli.main(argv) == 2, argv
        text = stderr.getvalue()
        start = re.search(r"^judgeflow[^\n]*: error: ", text, re.MULTILINE)
        messages.append(text[start.start():].rstrip("\n"))
    return messages


@pytest.fixture
def files(tmp_path, monkeypatch):
    """A working folder with a valid dataset, a folder and a plain file, as the CLI cases need."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ok.jsonl").write_text('{"prompt": "p", "response_A": "a", "response_B": "b"}\n')
    (tmp_path / "folder").mkdir()
    (tmp_path / "plain.txt").write_text("x")
    return tmp_path


def _path_outside(root: Path) -> list[str]:
    from judgeflow import cli

    with pytest.raises(cli.UsageError) as raised:
        cli.path_under(root, "../escape.txt")
    return [f"judgeflow ingest-results: error: {raised.value}"]


def _operator(name: str) -> Any:
    """An operator module (judgeflow.commands / judgeflow.deployed); the case is skipped until it exists."""
    return pytest.importorskip(name)


def _gate(*cases: tuple[dict[str, Any], str, float | None]) -> list[str]:
    decide = _operator("judgeflow.commands").decide
    return [decide({"run_id": "jf-1", "count_unit": "item", **data}, require=require, max_error_rate=limit)[1]
            for data, require, limit in cases]


FINISHED = {"status": "SUCCEEDED", "wilson_low": 0.31, "wilson_high": 0.45, "error_rate": 0.1}


class _Session:
    """A boto3 session whose run registry is empty and whose metrics bucket holds no report."""

    region_name = "us-east-1"

    def resource(self, _name: str) -> Any:
        return SimpleNamespace(Table=lambda _table: SimpleNamespace(get_item=lambda **_key: {}))

    def client(self, _name: str) -> Any:
        def missing(**_key: Any) -> Any:
            raise KeyError("NoSuchKey")

        return SimpleNamespace(exceptions=SimpleNamespace(NoSuchKey=KeyError), get_object=missing)


def _not_found(call: Callable[[Any], Any], command: str) -> list[str]:
    deployed = _operator("judgeflow.deployed")
    found = deployed.Deployed(session=_Session(), stack="JudgeflowPipeline", datasets_bucket="datasets",
                              metrics_bucket="metrics", registry_table="runs", state_machine_arn="arn:sm")
    with pytest.raises(deployed.NotFound) as raised:
        call(found)
    return [f"judgeflow {command}: error: {raised.value}"]  # how cli.main words a NotFound


def _no_credentials(monkeypatch: pytest.MonkeyPatch, tmp: Path) -> list[str]:
    """`judgeflow show` where boto3 finds no credentials: it fails before sending anything."""
    _operator("judgeflow.commands")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return _cli(["show", "jf-1", "--region", "us-east-1"])


PLAN = ["--dataset", "s3://b/in/", "--output", "s3://b/out/", "--role", "arn:aws:iam::123456789012:role/j",
        "--instance", "ml.g5.12xlarge", "--region", "us-east-1"]
LIMIT_CAUSE = ("The account-level service limit 'ml.g5.12xlarge for training job usage' is 1 Instances, with current "
               "utilization of 1 Instances and a request delta of 1 Instances.")

# code -> the messages the code produces for it, given the CLI cases' working folder (`.tmp`) and
# pytest's monkeypatch (`.monkeypatch`).
PRODUCERS: dict[str, Callable[..., list[str]]] = {
    **{kind: (lambda _ctx, kind=kind: _findings_of(kind)) for kind in sorted(VALIDATOR_KINDS - {
        "schema", "duplicate_check_limited"})},
    "metadata.given_twice": lambda _: _metadata({"model-a": "x", "model_a": "y"}),
    "metadata.misspelt_key": lambda _: _metadata({"judge-modle": "micro"}),
    "metadata.rerun_value": lambda _: _metadata({"rerun": "yes"}),
    "metadata.bad_encoding": lambda _: (_metadata({"model-a": "=?x-unknown?q?abc?="})
                                        + _metadata({"model-b": "=?UTF-8?B?/w==?="})),
    "run_settings.invalid": lambda _: _run_settings({"colour": "red"}, {"judge_model": "huge"},
                                                    {"model_a": ""}, {"instance_types": ["g5"], "task": "x"}),
    "recipe.no_recipe": lambda _: _recipe("rubric_llm_judge", "micro") + _recipe("llm_judge", "lite-2"),
    "recipe.no_allowed_instance_type": lambda _: _recipe("llm_judge", "pro", ["ml.g5.12xlarge"]),
    "rejected": lambda _: _rejected_message(),
    "request.not_an_object": lambda _: _request("incoming/a.jsonl") + _request(["x"]) + _request(None),
    "request.keys": lambda _: _request({"bucket": "datasets"}) + _request({"bucket": "datasets", "key": "k", "x": 1}),
    "request.settings_not_object": lambda _: _request({"bucket": "datasets", "key": "k", "settings": "micro"}),
    "request.version_id": lambda _: _request({"bucket": "datasets", "key": "k", "version_id": 3}),
    "request.other_bucket": lambda _: _request({"bucket": "other", "key": "k"}),
    "request.no_such_object": lambda _: (_request({"bucket": "datasets", "key": "incoming/a+b.jsonl"}, "404")
                                         + _request({"bucket": "datasets", "key": "k", "version_id": "v"}, "404")),
    "request.bad_version": lambda _: _request({"bucket": "datasets", "key": "k", "version_id": "v"}, "400"),
    "run.not_launched_again": lambda _: _not_launched_again(),
    "capacity.all_in_use": lambda _: (_wait(policy.full_situation(_quotas(), 1))
                                      + _wait(policy.full_situation({**_quotas(1), "other": _quotas()[G5]}, 1))),
    "capacity.in_line": lambda _: _wait(policy.full_situation({G5: {**_quotas(2)[G5], "in_use": 0}}, 1)),
    "capacity.account_full": lambda _: _wait(policy.account_full_situation(_account(), 1)),
    "capacity.zone_unavailable": lambda _: _acquire({"unavailable_type": "ml.g5.12xlarge"}),
    "capacity.gave_up": lambda _: _wait("All allowed quotas are in use (...)", waited=86_400),
    "capacity.no_quota": lambda _: [policy.no_quota_decision([G5], {}, "us-east-1").reason],
    "capacity.account_too_small": lambda _: [policy.account_too_small_decision(
        0, 1, {policy.ACCOUNT_INSTANCES_QUOTA: _account()}, "us-east-1").reason],
    "job.resource_limit_exceeded": lambda _: _acquire({
        "refused": {"Error": "SageMaker.ResourceLimitExceededException", "Cause": LIMIT_CAUSE},
        "instance_type": "ml.g5.12xlarge"}),
    "job.failed": lambda _: _failure("States.TaskFailed", json.dumps({
        "TrainingJobName": "jf-1-judge-0", "TrainingJobStatus": "Failed", "FailureReason": "AlgorithmError: x"})),
    "job.resource_in_use": lambda _: _failure("SageMaker.ResourceInUseException",
                                              "Training job names must be unique within an AWS account and region"),
    "run.step_failed": lambda _: _failure("States.Timeout", "") + _failure("Lambda.Unknown", "The function failed"),
    "run.execution_ended": lambda _: _execution_ended(),
    "results.no_summary": lambda _: _output_error({"run/eval_results/readme.txt": b""}),
    "results.summary_not_json": lambda _: _output_error({SUMMARY: b"{"}) + _output_error({SUMMARY: b"\xff"}),
    "results.summary_incomplete": lambda _: (_output_error({SUMMARY: _summary(3)}) + _output_error({SUMMARY: _summary({})})
                                             + _output_error({SUMMARY: _summary({"all": 5})})),
    "results.several_task_entries": lambda _: _output_error({SUMMARY: _summary(
        {"custom|a_judge|0": COUNTS, "custom|b_judge|0": {**COUNTS, "ties": 1.0}})}),
    "results.field_malformed": lambda _: (_output_error({SUMMARY: _summary({"all": {"a_scores": -1}})})
                                          + _output_error({SUMMARY: _summary({"all": {"winrate": "high"}})})),
    "results.details_columns": lambda _: (
        _output_error({SUMMARY: _summary({"all": COUNTS}), _details(): _parquet({"metrics": ["{}"]})})
        + _output_error({SUMMARY: _summary({"all": COUNTS}), _details(): _parquet({"gold": ["x"]})})
        + _output_error({SUMMARY: _summary({"all": COUNTS}), _details(): _parquet(PAIRWISE)}, task="rubric_llm_judge")),
    # Past the bound while the stream is read, and a member bigger than the room left (the reader reads ahead).
    "results.archive_too_large": lambda _: (_output_error({SUMMARY: b"x" * 2000}, max_unpacked_bytes=100)
                                            + _output_error({SUMMARY: b"x" * 100_000}, max_unpacked_bytes=50_000)),
    "results.too_many_members": lambda _: _output_error({SUMMARY: b"{}", "b": b""}, max_members=1),
    "results.unsafe_entry": lambda _: (
        _unsafe("/etc/passwd") + _unsafe("../escape") + _unsafe("link", lambda i: (
            setattr(i, "type", tarfile.SYMTYPE), setattr(i, "linkname", "x")))
        + _unsafe("dev", lambda i: setattr(i, "type", tarfile.CHRTYPE))
        + _unsafe("pipe", lambda i: setattr(i, "type", tarfile.FIFOTYPE))),
    "results.not_a_tar": lambda _: _output_error(b"this is not an archive at all" * 40),
    "results.no_details": lambda _: _output_warnings({SUMMARY: _summary({"all": COUNTS})}),
    "results.details_unreadable": lambda _: _output_warnings({SUMMARY: _summary({"all": COUNTS}),
                                                              _details(): b"not parquet"}),
    "results.indexes_overlap": lambda _: _output_warnings({
        SUMMARY: _summary({"all": COUNTS}),
        _details("details_a.parquet"): _parquet({k: v * 2 for k, v in PAIRWISE.items()}, index=[0, 1]),
        _details("details_b.parquet"): _parquet({k: v * 2 for k, v in PAIRWISE.items()}, index=[0, 1])}),
    "results.counts_do_not_add_up": lambda _: _count_warnings(),
    "results.summary_entry_named_otherwise": lambda _: _output_warnings({
        SUMMARY: _summary({"custom|rubric_llm_judge_judge|0": COUNTS}), _details(): _parquet(PAIRWISE)}),
    "results.several_summaries": lambda _: _output_warnings({
        SUMMARY: _summary({"all": COUNTS}), "run/eval_results/results_2025-01-01T00-00-00.json": b"{}",
        _details(): _parquet(PAIRWISE)}),
    "results.details_outside_folder": lambda _: _output_warnings({
        SUMMARY: _summary({"all": COUNTS}), _details(): _parquet(PAIRWISE),
        _details(folder="old/eval-results"): _parquet(PAIRWISE)}),
    "verdict.nothing_judged": lambda _: _verdict(0, 0, 0, 0),
    "verdict.too_many_errors": lambda _: _verdict(4, 4, 0, 3),
    "verdict.no_decisive": lambda _: _verdict(0, 0, 3, 0),
    "cdk.unknown_key": lambda _: _cdk({"regoin": "us-east-1"}),
    "cdk.not_positive": lambda _: _cdk({"token_limit": 0}) + _cdk({"max_rows": "10"}),
    "cdk.wait_order": lambda _: _cdk({"capacity_wait_initial_seconds": 600}),
    "cdk.no_image": lambda _: _cdk({"region": "eu-west-1"}),
    "cdk.default_task": lambda _: _cdk({"default_task": "judge"}),
    "cdk.default_judge_model": lambda _: _cdk({"default_judge_model": "huge"}),
    "cdk.instance_preferences": lambda _: _cdk({"instance_preferences": ["g5.12xlarge"]}),
    "cdk.deployment_name": lambda _: _deployment_name(),
    "cli.arguments": lambda _: _cli(["validate"], ["validate", "ok.jsonl", "--task", "judge"],
                                    ["validate", "ok.jsonl", "-x.jsonl"]),
    "cli.not_positive": lambda _: _cli(["validate", "ok.jsonl", "--max-rows", "0"]),
    "cli.run_name": lambda _: _cli(["ingest-results", "ok.jsonl", "--out", "out", "--run-id", "a_b"]),
    "cli.model_label": lambda _: _cli(["ingest-results", "ok.jsonl", "--out", "out", "--model-a", ""]),
    "cli.input_file": lambda _: _cli(["validate", ""], ["validate", "missing.jsonl"], ["validate", "folder"]),
    "cli.output_folder": lambda _: _cli(["ingest-results", "ok.jsonl", "--out", ""],
                                        ["ingest-results", "ok.jsonl", "--out", "plain.txt"],
                                        ["demo", "--out", "plain.txt/sub"]),
    "cli.output_file": lambda _: _cli(["validate", "ok.jsonl", "--report", ""],
                                      ["validate", "ok.jsonl", "--report", "folder"],
                                      ["validate", "ok.jsonl", "--report", "nowhere/r.json"]),
    "cli.path_outside_out": lambda ctx: _path_outside(ctx.tmp / "folder"),
    "cli.plan_recipe": lambda _: _cli(["plan", "--task", "rubric_llm_judge", "--judge", "micro", *PLAN]),
    "cli.operator_values": lambda _: (_operator("judgeflow.commands") and _cli(
        ["gate", "jf-1", "--require", "better", "--max-error-rate", "20"], ["runs", "--since", "last week"],
        ["local", "up", "--port", "70000"])),
    "cli.deployment_not_found": lambda ctx: _no_credentials(ctx.monkeypatch, ctx.tmp),
    "cli.unknown_run": lambda _: _not_found(lambda found: found.require_run("jf-1"), "show"),
    "cli.report_not_ready": lambda ctx: _not_found(lambda found: found.download_report("jf-1", ctx.tmp), "report"),
    "gate.fails": lambda _: _gate((FINISHED, "not-worse", None), (FINISHED, "better", None),
                                  ({**FINISHED, "wilson_high": 0.6}, "not-worse", 0.05)),
    "gate.not_finished": lambda _: _gate(({"status": "RUNNING", "reason": "All allowed quotas are in use"},
                                          "better", None)),
    "gate.undecidable": lambda _: _gate(({"status": "UNRELIABLE", "verdict_reason": "no decisive verdicts"},
                                         "better", None),
                                        ({"status": "FAILED", "reason": "Run jf-1 failed: x"}, "better", None)),
}

# Entries no unit test can produce, and why: they are checked by reading, not by this test.
NOT_PRODUCED = {
    "schema": "the task schemas hold no rule the inline check and the named findings do not cover",
    "duplicate_check_limited": "needs 200,000 distinct records",
    "ignored_metadata": "worded in the validate stage's report; see test_every_report_kind_is_explained",
    "job.capacity_error": "SageMaker's own failure reason",
    "console.dataset_unreadable": "the raw error of a failed Lambda",
    "console.registry_error": "the raw error of a failed Lambda",
    "results.not_applied": "notes written by the results stage against the run registry (tests/stages)",
}


def test_every_entry_is_produced_or_says_why_not():
    assert set(PRODUCERS) | set(NOT_PRODUCED) == set(error_catalog.ENTRIES)
    assert not set(PRODUCERS) & set(NOT_PRODUCED)


@pytest.mark.parametrize("code", sorted(PRODUCERS))
def test_the_code_words_messages_as_documented(code, files, monkeypatch):
    messages = PRODUCERS[code](SimpleNamespace(tmp=files, monkeypatch=monkeypatch))
    assert messages, f"{code}: the case produced no message"
    entry = error_catalog.entry(code)
    for message in messages:
        assert error_catalog.matches(entry, message), f"{code}: {message!r} fits none of {entry.messages}"


def test_a_value_that_is_not_base64_is_a_metadata_finding():
    assert error_catalog.matches(error_catalog.entry("metadata.bad_encoding"),
                                 _metadata({"model-a": "=?UTF-8?B?not base64?="})[0])


def test_a_message_of_another_shape_does_not_match():
    assert not error_catalog.matches(error_catalog.entry("blank_line"), "blank lines inside the data.")
    assert error_catalog.find("field 'prompt' is empty.")[0].code == "empty_field"


# --- the Athena cookbook's SQL names real columns ------------------------------------------------

COOKBOOK = DOCS / "athena-cookbook.md"
SQL_BLOCK = re.compile(r"```sql\n(.*?)```", re.DOTALL)
# Convention of the cookbook (stated on the page): tables are named `judgeflow.runs <alias>` /
# `judgeflow.items <alias>`, an unnested array names its columns `UNNEST(...) AS <alias>(<column>, ...)`
# (the criteria with the struct's fields, in order), and every column is written qualified,
# `<alias>.<column>`.
TABLE_ALIAS = re.compile(r"\bjudgeflow\.(\w+)\s+(?:AS\s+)?(\w+)", re.IGNORECASE)
UNNEST_ALIAS = re.compile(r"\s+AS\s+(\w+)\s*\(([^)]*)\)", re.IGNORECASE)
QUALIFIED = re.compile(r"\b([A-Za-z_]\w*)\.([A-Za-z_]\w*)\b")
PARTITION = "dt"


def _sql_blocks() -> list[str]:
    blocks = SQL_BLOCK.findall(COOKBOOK.read_text(encoding="utf-8"))
    # String literals and comments name no columns ('$.winrate', '2026-11-01', -- notes).
    return [re.sub(r"--[^\n]*", "", re.sub(r"'(?:[^']|'')*'", "''", block)) for block in blocks]


def _unnests(sql: str) -> list[tuple[str, str, str]]:
    """(what is unnested, alias, column list) of each `UNNEST(...) AS alias(columns)`; the argument's
    parentheses are balanced by hand (a regular expression cannot)."""
    found = []
    for start in (m.end() for m in re.finditer(r"\bUNNEST\s*\(", sql, re.IGNORECASE)):
        depth, end = 1, start
        while depth and end < len(sql):
            depth += {"(": 1, ")": -1}.get(sql[end], 0)
            end += 1
        alias = UNNEST_ALIAS.match(sql, end)
        if alias:
            found.append((sql[start:end - 1], alias.group(1), alias.group(2)))
    return found


def check_columns(sql: str) -> list[str]:
    """The qualified names in `sql` that name no column of judgeflow.lake (empty when all do)."""
    columns = {table: {name for name, _type in cols} | {PARTITION} for table, cols in lake.TABLES.items()}
    aliases: dict[str, set[str]] = {}
    for table, alias in TABLE_ALIAS.findall(sql):
        if table not in columns:
            return [f"judgeflow.{table} (no such table)"]
        aliases[alias] = columns[table]
    criterion = [name for name, _type in lake.CRITERION_FIELDS]
    for unnested, alias, names in _unnests(sql):
        aliases[alias] = {name.strip() for name in names.split(",")}
        if re.fullmatch(r"\s*\w+\.criteria\s*", unnested) and [n.strip() for n in names.split(",")] != criterion:
            return [f"UNNEST(criteria) AS {alias}({names}): name the fields {', '.join(criterion)}"]
    unknown = []
    for owner, name in QUALIFIED.findall(sql):
        if owner == "judgeflow":
            continue
        if owner not in aliases:
            unknown.append(f"{owner}.{name} (no alias {owner})")
        elif name not in aliases[owner]:
            unknown.append(f"{owner}.{name}")
    return unknown


def test_cookbook_queries_name_real_columns():
    blocks = _sql_blocks()
    assert len(blocks) >= 6
    for block in blocks:
        assert TABLE_ALIAS.search(block), f"a query names no judgeflow table: {block}"
        assert check_columns(block) == [], block


def test_the_column_check_catches_a_misspelt_column():
    assert check_columns("SELECT r.run_id, r.b_win FROM judgeflow.runs r") == ["r.b_win"]
    assert check_columns("SELECT i.catgory FROM judgeflow.items AS i") == ["i.catgory"]
    assert check_columns("SELECT x.run_id FROM judgeflow.runs r") == ["x.run_id (no alias x)"]
    assert check_columns("SELECT r.run_id FROM judgeflow.run r") == ["judgeflow.run (no such table)"]
    fields = "name, score_a, score_b, weight, type, description, justification_a, justification_b"
    assert check_columns(f"SELECT c.name, c.scor_a FROM judgeflow.items i CROSS JOIN UNNEST(i.criteria) AS c({fields})"
                         ) == ["c.scor_a"]
    assert check_columns("SELECT c.name FROM judgeflow.items i CROSS JOIN UNNEST(i.criteria) AS c(name, score)") \
        == [f"UNNEST(criteria) AS c(name, score): name the fields {fields}"]
    assert check_columns("SELECT w.warning FROM judgeflow.runs r CROSS JOIN UNNEST(CAST(json_parse("
                         "r.warnings_json) AS array(varchar))) AS w(warning)") == []


# --- the index and the links ---------------------------------------------------------------------

LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_readme_indexes_every_page_and_links_resolve():
    pages = sorted(path.name for path in DOCS.glob("*.md") if path.name != "README.md")
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    assert [page for page in pages if f"]({page})" not in index] == []
    for path in DOCS.glob("*.md"):
        for target in LINK.findall(path.read_text(encoding="utf-8")):
            if not re.match(r"[a-z]+://", target):
                assert (path.parent / target).resolve().exists(), f"{path.name} links to {target}"
