"""The Nova judge job's output archive: safe extraction and parsing (layout in NOVA-REFERENCE.md).

output.tar.gz holds `<run.name>/eval_results/results_<ts>.json` (read `results.all`) and, when
present, `<run.name>/eval_results/details/<model dir>/<dt>/details_<task>_#_<dt>.parquet`.
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
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from judgeflow.errors import OutputError

LABEL_PATTERN = re.compile(r"\[\[(A>B|B>A|A=B \(bothbad\)|A=B)\]\]")
GZIP_MAGIC = b"\x1f\x8b"
# Summary fields judgeflow computes with: a malformed one is an error naming it.
SUMMARY_COUNTS = ("a_scores", "b_scores", "ties", "inference_error")
SUMMARY_NUMBERS = SUMMARY_COUNTS + ("winrate", "lower_rate", "upper_rate", "weighted_score_A", "weighted_score_B",
                                    "score_margin")


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


@dataclass
class JudgeOutput:
    summary: dict[str, Any]
    summary_path: str
    details: pa.Table | None = None
    details_path: str | None = None
    produced_by: str = "sagemaker"
    warnings: list[str] = field(default_factory=list)


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
    except ValueError as exc:  # UnicodeDecodeError included
        raise OutputError(f"{summary_path}: the summary is not JSON ({exc}); the judge job's output is "
                          "damaged - check its CloudWatch logs") from exc
    results = document.get("results") if isinstance(document, dict) else None
    summary = results.get("all") if isinstance(results, dict) else None
    if not isinstance(summary, dict):
        raise OutputError(f"{summary_path}: field 'results.all' is missing or not an object; the judge job's "
                          "summary is incomplete - check its CloudWatch logs")
    for name in SUMMARY_NUMBERS:
        value = summary.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or (name in SUMMARY_COUNTS and value < 0)):
            kind = "a count (a number, 0 or more)" if name in SUMMARY_COUNTS else "a finite number"
            raise OutputError(f"{summary_path}: field 'results.all.{name}' must be {kind}, got {value!r}")
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
