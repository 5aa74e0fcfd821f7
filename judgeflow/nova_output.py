"""The Nova judge job's output archive: safe extraction, then every published form of its files.

Forms read (sources in ../shared/NOVA-REFERENCE.md and the notes beside each constant):
- The results folder is spelt `eval_results/` (real archives, aws-samples/amazon-nova-samples Nova
  1.0 and 2.0 judge notebooks), `eval-result/` (SageMaker/Nova guide "Accessing and analyzing
  evaluation results") or `eval-results/` (amazon-nova-samples nova_evaluation_container_demo
  notebook), at any depth: under the recipe's `run.name`, or under `output/<run>/` as an
  uncompressed job writes it.
- The summary `results_<timestamp>.json` holds the metrics under `results.all` (lighteval 0.10
  always adds it) or only under the task's key `custom|<task>_judge|0` (the rubric judge's
  documented schema); the SageMaker Python SDK v3 reader (`show_results_utils.
  _extract_metrics_from_results`) takes `all`, else the task's entry.
- Details are `details/<model>/<timestamp>/details_<task key>_<timestamp>.parquet`, read all,
  each row the item at its index (the DataFrame index AWS's notebooks read: pandas' stored index,
  else the row's position, files in name order).
"""

from __future__ import annotations

import ast
import gzip
import io
import json
import math
import re
import tarfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from judgeflow.errors import OutputError

LABEL_PATTERN = re.compile(r"\[\[(A>B|B>A|A=B \(bothbad\)|A=B)\]\]")
GZIP_MAGIC = b"\x1f\x8b"
# The results folder's published spellings, and the summary and details files inside it (any depth).
RESULTS_FOLDERS = ("eval_results", "eval-result", "eval-results")
_FOLDER = r"(?P<folder>(?:.*/)?(?:eval_results|eval-results?))"
SUMMARY_FILE = re.compile(_FOLDER + r"/results_[^/]*\.json")
DETAILS_FILE = re.compile(_FOLDER + r"/details/(?:.*/)?details_[^/]*\.parquet")

PAIRWISE = "llm_judge"
RUBRIC = "rubric_llm_judge"

# The service's counts (a_scores, b_scores, ties, inference_error) count judgments, not items.
# Pairwise: each item is judged in both orders (A, B then B, A) and each order is counted: the Nova
# 1.0 LLM-as-a-Judge notebook (aws-samples/amazon-nova-samples, customization/Nova_1.0/
# SageMakerTrainingJobs/Amazon-Nova-LLM-As-A-Judge) judges 6 questions and reports "12 questions
# evaluated (6 Each)", A 3 + B 9, win rate 9/12. Rubric: the rubric notebook (customization/
# Nova_2.0/04_eval/Amazon-Nova-Rubric-Based-LLM-As-A-Judge) judges 7 questions, its details hold 7
# rows and its summary counts 3 + 7 + 0 + 1 = 11, and the rubric guide page states "forward/backward
# evaluation": more than one judgment per item, how many is not documented.
SERVICE_COUNT_UNIT = "judgment"
JUDGMENTS_PER_ITEM = {PAIRWISE: 2, RUBRIC: None}  # None: not a fixed number

# Summary fields judgeflow computes with: a malformed one is an error naming it.
SUMMARY_COUNTS = ("a_scores", "b_scores", "ties", "inference_error")
# Rubric figures under both published namings: the guide's (weighted_score_A, weighted_score_B,
# score_margin) and the rubric notebook README's (average_weighted_score_a/b, average_margin,
# error_rate). The margin is A - B in both (negative favours B: 0.495 - 0.630 = -0.135).
RUBRIC_FIGURES = {
    "weighted_score_a": ("weighted_score_A", "average_weighted_score_a"),
    "weighted_score_b": ("weighted_score_B", "average_weighted_score_b"),
    "score_margin": ("score_margin", "average_margin"),
    "error_rate": ("error_rate",),
}
SUMMARY_NUMBERS = SUMMARY_COUNTS + ("winrate", "lower_rate", "upper_rate") + tuple(
    name for names in RUBRIC_FIGURES.values() for name in names)


@dataclass(frozen=True)
class ArchiveLimits:
    """How much a results archive may unpack to, and into how many entries (settings
    `results_max_unpacked_bytes` / `results_max_members`). Checked while the archive streams, so
    a compression bomb is refused once past the bound, never after extracting."""

    max_unpacked_bytes: int = 1 << 30
    max_members: int = 10_000


class _Bounded(io.RawIOBase):
    """A stream read through `read(n)` alone (an S3 body is no raw file), refused as soon as it
    passes `limit` bytes when there is one (the unpacked tar stream, headers included)."""

    def __init__(self, raw: Any, limit: int | None) -> None:
        self._raw, self._limit, self.consumed = raw, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        wanted = len(buffer) if self._limit is None else min(len(buffer), self._limit + 1 - self.consumed)
        data = self._raw.read(wanted)
        self.consumed += len(data)
        if self._limit is not None and self.consumed > self._limit:
            raise OutputError(f"output.tar.gz unpacks to more than {self._limit} bytes (setting "
                              "results_max_unpacked_bytes); refusing to extract")
        buffer[:len(data)] = data
        return len(data)


def read_archive(source: bytes | BinaryIO, *, limits: ArchiveLimits = ArchiveLimits()) -> dict[str, bytes]:
    """Read the regular files of a .tar.gz (bytes, or a stream read once, front to back) into
    memory, refusing anything unsafe and stopping at the limits while it streams."""
    stream = io.BufferedReader(_Bounded(io.BytesIO(source) if isinstance(source, bytes) else source, limit=None))
    if stream.peek(2)[:2] == GZIP_MAGIC:
        stream = gzip.GzipFile(fileobj=stream, mode="rb")
    unpacked = _Bounded(stream, limits.max_unpacked_bytes)
    files: dict[str, bytes] = {}
    try:
        # Stream mode ("r|"): members are read in order, each once; nothing is seeked or extracted to disk.
        with tarfile.open(fileobj=io.BufferedReader(unpacked), mode="r|") as archive:
            for count, member in enumerate(archive, start=1):
                if count > limits.max_members:
                    raise OutputError(f"output.tar.gz has more than {limits.max_members} entries (setting "
                                      "results_max_members); refusing to extract")
                _check_member(member, room=limits.max_unpacked_bytes - unpacked.consumed)
                if member.isfile():
                    handle = archive.extractfile(member)
                    files[str(PurePosixPath(member.name))] = handle.read() if handle else b""
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise OutputError(f"output.tar.gz is not a readable tar archive: {exc}") from exc
    return files


def _check_member(member: tarfile.TarInfo, *, room: int) -> None:
    name = member.name
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith("/"):
        raise OutputError(f"archive entry '{name}' has an absolute path; refusing to extract")
    if ".." in path.parts:
        raise OutputError(f"archive entry '{name}' escapes the archive with '..'; refusing to extract")
    if member.issym() or member.islnk():
        raise OutputError(f"archive entry '{name}' is a link; refusing to extract")
    if member.isdev() or member.isfifo():
        raise OutputError(f"archive entry '{name}' is a device or pipe; refusing to extract")
    if not (member.isfile() or member.isdir()):
        raise OutputError(f"archive entry '{name}' is not a regular file; refusing to extract")
    if member.size > room:
        raise OutputError(f"archive entry '{name}' is {member.size} bytes: the archive would unpack to more than "
                          "the results_max_unpacked_bytes setting allows; refusing to extract")


def task_key(task: str) -> str:
    """The summary's and the details file's name for a judge task: `custom|llm_judge_judge|0`."""
    return f"custom|{task}_judge|0"


@dataclass(frozen=True)
class Details:
    """The per-item rows of every details file, one row per judged item, in item order.

    Columns: `item_index` (0-based line of the staged llm_judge.jsonl), `details_file`, then per
    task: pairwise `forward_output`, `backward_output` (the judge's text in each order); rubric
    `metrics_json` (the row's metrics as JSON, `predictions` included)."""

    table: pa.Table
    files: tuple[str, ...]
    complete: bool  # False when a details file could not be read: the rows are a part of the run


@dataclass
class JudgeOutput:
    summary: dict[str, Any]  # the service's metrics, verbatim
    summary_path: str
    summary_key: str  # "all" or the task's key
    results_folder: str  # where the summary was found, e.g. "my-run/eval-result"
    details: Details | None = None
    produced_by: str = "sagemaker"
    warnings: list[str] = field(default_factory=list)

    def figure(self, name: str) -> float | None:
        """A rubric figure under whichever published name the summary uses (RUBRIC_FIGURES)."""
        for spelling in RUBRIC_FIGURES.get(name, (name,)):
            if self.summary.get(spelling) is not None:
                return self.summary[spelling]
        return None


def parse_output(files: Mapping[str, bytes], *, task: str) -> JudgeOutput:
    """Read the summary and every details file of a judge job's archive (read_archive's files)."""
    summaries = {path: match["folder"] for path in files if (match := SUMMARY_FILE.fullmatch(path))}
    summary_path, folder = _newest_summary(summaries)
    try:
        document = json.loads(files[summary_path])
    except ValueError as exc:  # UnicodeDecodeError included
        raise OutputError(f"{summary_path}: the summary is not JSON ({exc}); the judge job's output is "
                          "damaged - check its CloudWatch logs") from exc
    key, summary = _summary_metrics(document, summary_path, task)
    output = JudgeOutput(summary=summary, summary_path=summary_path, summary_key=key, results_folder=folder)
    if key not in ("all", task_key(task)):
        output.warnings.append(f"{summary_path}: read the summary's only entry, '{key}', not named after the run's "
                               f"task ('{task_key(task)}')")
    general = document.get("config_general")
    if isinstance(general, dict) and general.get("produced_by"):
        output.produced_by = str(general["produced_by"])  # the local emulator labels its output
    others = sorted(path for path in summaries if path != summary_path)
    if others:
        output.warnings.append(f"the archive holds {len(others) + 1} summaries; read the newest, {summary_path}, "
                               f"not {', '.join(others)}")
    details_folders = {path: match["folder"] for path in files if (match := DETAILS_FILE.fullmatch(path))}
    ordered = sorted(details_folders, key=_natural)
    outside = [path for path in ordered if details_folders[path] != folder]
    if outside:
        output.warnings.append(f"details outside {folder}/ not read: {', '.join(outside)}")
    details = [path for path in ordered if details_folders[path] == folder]
    if not details:
        output.warnings.append("no details Parquet in the archive (the pairwise judge writes none): per-item "
                               "verdicts are unavailable, statistics are over the service's counts")
        return output
    output.details = _read_details(files, details, task, output.warnings)
    return output


def _newest_summary(summaries: Mapping[str, str]) -> tuple[str, str]:
    """(path, results folder) of the newest summary among {path: folder}."""
    if not summaries:
        raise OutputError(
            "no summary JSON (<run>/eval_results/results_<timestamp>.json, or eval-result/ or eval-results/) in "
            "output.tar.gz; the judge job did not produce results - check its CloudWatch logs")
    # The newest by its file name's timestamp (both published timestamp forms sort as text).
    path = max(summaries, key=lambda p: (PurePosixPath(p).name, p))
    return path, summaries[path]


def _summary_metrics(document: Any, path: str, task: str) -> tuple[str, dict[str, Any]]:
    """`results.all`, else the one task entry (several entries must agree)."""
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, dict):
        raise OutputError(f"{path}: field 'results' is missing or not an object; the judge job's summary is "
                          "incomplete - check its CloudWatch logs")
    if "all" in results:
        key = "all"
    else:
        entries = {name: value for name, value in results.items() if isinstance(value, dict)}
        distinct = {json.dumps(value, sort_keys=True, default=str) for value in entries.values()}
        if not entries:
            raise OutputError(f"{path}: field 'results' holds neither 'all' nor a task entry such as "
                              f"'{task_key(task)}'; the judge job's summary is incomplete - check its CloudWatch logs")
        if len(distinct) > 1:
            raise OutputError(f"{path}: field 'results' has no 'all' and several task entries that differ "
                              f"({', '.join(sorted(entries))}); judgeflow cannot tell which one is the run's")
        key = task_key(task) if task_key(task) in entries else min(entries)
    summary = results[key]
    where = f"results.{key}" if key == "all" else f"results['{key}']"
    if not isinstance(summary, dict):
        raise OutputError(f"{path}: field '{where}' is missing or not an object; the judge job's summary is "
                          "incomplete - check its CloudWatch logs")
    for name in SUMMARY_NUMBERS:
        value = summary.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or (name in SUMMARY_COUNTS and value < 0)):
            kind = "a count (a number, 0 or more)" if name in SUMMARY_COUNTS else "a finite number"
            raise OutputError(f"{path}: field '{where}.{name}' must be {kind}, got {value!r}")
    return key, summary


def _natural(path: str) -> list[Any]:
    """Name order with numbers compared as numbers (part2 before part10)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]


def _read_details(files: Mapping[str, bytes], paths: list[str], task: str, warnings: list[str]) -> Details:
    reader = _READERS.get(task)
    if reader is None:
        raise OutputError(f"no details reader for task {task!r}; judgeflow reads {', '.join(sorted(_READERS))}")
    parts, stored, read, complete = [], [], [], True
    for path in paths:
        try:
            table = pq.read_table(io.BytesIO(files[path]))
        except Exception as exc:  # a damaged details file must not lose the summary or the other files
            warnings.append(f"details Parquet {path} is unreadable ({exc}): its items are missing; statistics "
                            "are over the service's counts")
            complete = False
            continue
        read.append(path)
        if not table.num_rows:  # nothing judged: no columns to check
            continue
        repeated_path = pa.DictionaryArray.from_arrays(pa.array(np.zeros(table.num_rows, np.int32)), [path])
        parts.append(pa.table({"details_file": pc.cast(repeated_path, pa.string()), **reader(table, path)}))
        stored.append(_stored_index(table))
    if not parts:
        return Details(table=pa.table({}), files=tuple(read), complete=complete and bool(read))
    positions = np.arange(sum(part.num_rows for part in parts), dtype=np.int64)
    index = positions
    if all(values is not None for values in stored):
        candidate = np.concatenate(stored)
        if np.unique(candidate).size == candidate.size and (candidate >= 0).all():
            index = candidate
        else:
            warnings.append(f"the {len(parts)} details files' stored indexes overlap: rows are matched to items by "
                            "position, files in name order")
    table = pa.concat_tables(parts).add_column(0, "item_index", pa.array(index))
    if (np.diff(index) < 0).any():  # rows stored out of item order
        table = table.take(pa.array(np.argsort(index, kind="stable")))
    return Details(table=table, files=tuple(read), complete=complete)


def _stored_index(table: pa.Table) -> np.ndarray | None:
    """The DataFrame index pandas stored with the file (what AWS's notebooks iterate as the row
    number), or None when the file has no integer index of its own."""
    stored = (table.schema.pandas_metadata or {}).get("index_columns") or []
    if len(stored) != 1:
        return None
    (index,) = stored
    if isinstance(index, dict) and index.get("kind") == "range":
        values = np.arange(index["start"], index["stop"], index.get("step", 1), dtype=np.int64)
        return values if values.size == table.num_rows else None
    if isinstance(index, str) and index in table.column_names and pa.types.is_integer(table.schema.field(index).type):
        return table.column(index).to_numpy().astype(np.int64)
    return None


def _columns_error(path: str, table: pa.Table, needs: str, other: str) -> OutputError:
    return OutputError(f"{path}: a {needs}; found columns {sorted(table.column_names)}"
                       + (f" (the columns of a {other} details file)" if other else "")
                       + "; check the run's task and the judge job's recipe")


def _pairwise_columns(table: pa.Table, path: str) -> dict[str, pa.Array]:
    """Pairwise details (not published: the guide says llm_judge writes none): the judge's text in
    each order, as columns or inside each row's metrics."""
    names = set(table.column_names)
    if {"forward_output", "backward_output"} <= names:
        return {name: pc.cast(table.column(name), pa.string()) for name in ("forward_output", "backward_output")}
    if "metrics" in names:
        rows = [parse_metrics(value) for value in table.column("metrics").to_pylist()]
        if any("forward_output" in row or "backward_output" in row for row in rows):
            return {name: pa.array([_text(row.get(name)) for row in rows], pa.string())
                    for name in ("forward_output", "backward_output")}
    rubric = "metrics" in names or "predictions" in names
    raise _columns_error(path, table, "pairwise (llm_judge) details file needs columns forward_output and "
                                      "backward_output, or a metrics column holding them", RUBRIC if rubric else "")


def _rubric_columns(table: pa.Table, path: str) -> dict[str, pa.Array]:
    """Rubric details: each row's `metrics` (a Python literal: AWS's notebook reads it with
    ast.literal_eval), its `predictions` in the row's metrics or in a column of its own."""
    names = set(table.column_names)
    if not names & {"metrics", "predictions"}:
        pairwise = {"forward_output", "backward_output"} <= names
        raise _columns_error(path, table, "rubric (rubric_llm_judge) details file needs a metrics or a predictions "
                                          "column", PAIRWISE if pairwise else "")
    length = table.num_rows
    metrics = table.column("metrics").to_pylist() if "metrics" in names else [None] * length
    predictions = table.column("predictions").to_pylist() if "predictions" in names else [None] * length
    rows = []
    for value, prediction in zip(metrics, predictions):
        row = parse_metrics(value)
        if row.get("predictions") is None and prediction is not None:
            row["predictions"] = _text(prediction)
        rows.append(json.dumps(row, default=str, ensure_ascii=False))
    return {"metrics_json": pa.array(rows, pa.string())}


# The details reader of each task: chosen by the run's task, never by the columns a file happens to have.
_READERS = {PAIRWISE: _pairwise_columns, RUBRIC: _rubric_columns}


def _text(value: Any) -> str | None:
    """A judge output as one text: `predictions` is published as a string, as the text of a
    Python list ("['...']") and as an array; a list's texts are joined (the last label wins)."""
    if value is None:
        return None
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("[") and stripped.endswith("]") and not stripped.startswith("[["):
            try:
                value = ast.literal_eval(stripped)
            except (ValueError, SyntaxError):
                return value
        else:
            return value
    if isinstance(value, (list, tuple, np.ndarray)):
        return "\n".join(str(part) for part in value if part is not None)
    return str(value)


def label_of(text: Any) -> str | None:
    """The verdict label in a judge output text ([[A>B]], [[B>A]], [[A=B]]...), or None."""
    if not isinstance(text, str):
        return None
    found = LABEL_PATTERN.findall(text)
    return found[-1] if found else None


def parse_metrics(value: Any) -> dict[str, Any]:
    """A details row's `metrics`: a Python literal (repr) in AWS's files, a mapping when a writer
    kept it structured; {} when it is neither."""
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, str) or not value.strip():
        return {}
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def count_mismatches(summary: Mapping[str, Any], *, task: str, details_items: int | None,
                     input_items: int | None) -> list[str]:
    """Warnings, with both numbers, where the summary's judgments, the details' items and the
    staged input's items do not add up (SERVICE_COUNT_UNIT, JUDGMENTS_PER_ITEM)."""
    judgments = sum(float(summary.get(name) or 0) for name in SUMMARY_COUNTS)
    per_item = JUDGMENTS_PER_ITEM.get(task)
    warnings = []
    if details_items is not None:
        if per_item and judgments != per_item * details_items:
            warnings.append(f"the summary counts {judgments:g} judgments but the details hold {details_items} items "
                            f"({per_item} judgments per item: {per_item * details_items} expected)")
        elif per_item is None and judgments < details_items:
            warnings.append(f"the summary counts {judgments:g} judgments, fewer than the {details_items} items the "
                            "details hold")
        if input_items is not None and details_items != input_items:
            warnings.append(f"the details hold {details_items} items but {input_items} were staged for the judge")
    elif input_items is not None and per_item and judgments != per_item * input_items:
        warnings.append(f"the summary counts {judgments:g} judgments for {input_items} staged items "
                        f"({per_item} judgments per item: {per_item * input_items} expected)")
    return warnings
