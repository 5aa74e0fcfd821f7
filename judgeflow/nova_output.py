"""The Nova judge job's output archive: safe extraction and parsing (layout in NOVA-REFERENCE.md).

output.tar.gz holds `<run.name>/eval_results/results_<ts>.json` (read `results.all`) and, when
present, `<run.name>/eval_results/details/<model dir>/<dt>/details_<task>_#_<dt>.parquet`.
"""

from __future__ import annotations

import ast
import io
import json
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from judgeflow.errors import OutputError

MAX_MEMBER_BYTES = 2 * 1024**3
MAX_MEMBERS = 10000
LABEL_PATTERN = re.compile(r"\[\[(A>B|B>A|A=B \(bothbad\)|A=B)\]\]")


@dataclass
class JudgeOutput:
    summary: dict[str, Any]
    summary_path: str
    details: pa.Table | None = None
    details_path: str | None = None
    produced_by: str = "sagemaker"
    warnings: list[str] = field(default_factory=list)


def read_archive(data: bytes, *, max_member_bytes: int = MAX_MEMBER_BYTES) -> dict[str, bytes]:
    """Read regular files from a .tar.gz into memory, refusing anything unsafe."""
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise OutputError(f"output.tar.gz is not a readable tar archive: {exc}") from exc
    files: dict[str, bytes] = {}
    with archive:
        for count, member in enumerate(archive, start=1):
            if count > MAX_MEMBERS:
                raise OutputError(f"output.tar.gz has more than {MAX_MEMBERS} entries; refusing to extract")
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
            if member.isdir():
                continue
            if not member.isfile():
                raise OutputError(f"archive entry '{name}' is not a regular file; refusing to extract")
            if member.size > max_member_bytes:
                raise OutputError(
                    f"archive entry '{name}' is {member.size} bytes, over the {max_member_bytes} byte limit"
                )
            handle = archive.extractfile(member)
            files[str(path)] = handle.read() if handle else b""
    return files


def parse_output(files: dict[str, bytes]) -> JudgeOutput:
    summaries = sorted(p for p in files if re.search(r"eval_results/results_[^/]*\.json$", p))
    if not summaries:
        raise OutputError(
            "no summary JSON (<run>/eval_results/results_<timestamp>.json) in output.tar.gz; the judge "
            "job did not produce results - check its CloudWatch logs"
        )
    summary_path = summaries[-1]
    try:
        document = json.loads(files[summary_path])
        summary = document["results"]["all"]
    except (ValueError, KeyError, TypeError) as exc:
        raise OutputError(f"{summary_path} has no 'results.all' object: {exc}") from exc
    output = JudgeOutput(summary=summary, summary_path=summary_path)
    general = document.get("config_general") or {}
    if isinstance(general, dict) and general.get("produced_by"):
        output.produced_by = str(general["produced_by"])  # the local emulator labels its output
    details = sorted(p for p in files if re.search(r"eval_results/details/.*details_[^/]*\.parquet$", p))
    if not details:
        output.warnings.append("no details Parquet in the archive: per-item verdicts are unavailable")
        return output
    output.details_path = details[-1]
    try:
        output.details = pq.read_table(io.BytesIO(files[output.details_path]))
    except Exception as exc:  # a corrupt details file must not lose the summary
        output.warnings.append(f"details Parquet {output.details_path} is unreadable: {exc}")
    return output


def label_of(text: Any) -> str | None:
    """The verdict label in a judge output text ([[A>B]], [[B>A]], [[A=B]]...), or None."""
    if not isinstance(text, str):
        return None
    found = LABEL_PATTERN.findall(text)
    return found[-1] if found else None


def parse_rubric_metrics(value: Any) -> dict[str, Any]:
    """The rubric `metrics` column is a Python literal (repr), not JSON."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str) or not value.strip():
        return {}
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return {}
    return parsed if isinstance(parsed, dict) else {}
