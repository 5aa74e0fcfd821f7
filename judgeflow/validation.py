"""Streaming validation of a judge dataset (JSONL), with line-numbered, fixable errors.

Reads bytes chunk by chunk, so memory stays bounded by the longest line, not the file.
Each finding names the line (1-based), the field, what is wrong and how to fix it.
"""

from __future__ import annotations

import hashlib
import queue
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, BinaryIO, Iterable, Iterator

import orjson

from judgeflow import schemas
from judgeflow.adapters.s3 import CHUNK_SIZE
from judgeflow.settings import TASKS

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

NOVA_FIELDS = ("prompt", "response_A", "response_B")
# judgeflow's own key in each sidecar row (the record's line number, stage_input.sidecar_line): a
# record may not use it, so the user's extra fields sit in the row beside it unchanged.
LINE_FIELD = "_line"
UTF8_BOM = b"\xef\xbb\xbf"
GZIP_MAGIC = b"\x1f\x8b"
CR = ord("\r")
# A record within the token limit is a few hundred KB at most; a longer line is reported and
# skipped without being held in memory.
MAX_LINE_BYTES = 1 << 20
OVERSIZED = b"\x00<judgeflow: line cut>"
# Exact duplicate detection keeps about 100 bytes per distinct record: capped so memory stays flat.
DUPLICATE_CHECK_LIMIT = 200_000
# Token estimate (computed inline in validate_stream): about 4 characters of English text per
# token over the three fields, plus the judge's own instructions wrapped around every record.
# Documented in README "Dataset format".
CHARS_PER_TOKEN = 4
JUDGE_PROMPT_OVERHEAD_TOKENS = 300
# How deep a line may nest objects and arrays, the record object counting as level 1. Extra fields
# travel on: staging writes them to the sidecar with orjson.dumps, which refuses more than 254
# levels, and orjson.loads stops at 1024 (https://github.com/ijl/orjson#serialize, #deserialize;
# both tested in tests/domain/test_validation.py); the results stage's json and pyarrow take
# thousands. 64 is far beyond real metadata and well inside every stage.
MAX_NESTING_DEPTH = 64
_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})
_CONTAINER_TYPES = frozenset({dict, list})
# What nests in JSON text: brackets and braces outside strings (a string is skipped whole).
_NESTING_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}:]')


@dataclass(frozen=True)
class Finding:
    line: int | None
    field: str | None
    kind: str
    message: str
    fix: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "kind": self.kind, "message": self.message, "fix": self.fix}


@dataclass
class _LineEnds:
    """Lines ending in CR LF (Windows line ends): valid JSON Lines, reported once per file."""
    first_crlf_line: int | None = None
    crlf_lines: int = 0

    def crlf(self, line_no: int) -> None:
        if self.first_crlf_line is None:
            self.first_crlf_line = line_no
        self.crlf_lines += 1

    def warning(self, lines: int) -> Finding | None:
        if not self.crlf_lines:
            return None
        return Finding(self.first_crlf_line, None, "crlf_line_end",
                       f"{self.crlf_lines} of {lines} lines end with CR LF (Windows line ends), the first on line "
                       f"{self.first_crlf_line}; JSON reads the CR as whitespace and the file is staged with LF "
                       "line ends.", "nothing to fix: CR LF line ends are accepted.")


@dataclass
class ValidationReport:
    source: str
    task: str
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    error_counts: Counter = field(default_factory=Counter)
    warning_counts: Counter = field(default_factory=Counter)
    lines: int = 0
    records: int = 0
    bytes_read: int = 0
    max_tokens_estimate: int = 0
    content_sha256: str = ""
    max_findings: int = 50

    @property
    def valid(self) -> bool:
        return not self.error_counts

    def add_error(self, finding: Finding) -> None:
        self.error_counts[finding.kind] += 1
        if len(self.errors) < self.max_findings:
            self.errors.append(finding)

    def add_warning(self, finding: Finding) -> None:
        self.warning_counts[finding.kind] += 1
        if len(self.warnings) < self.max_findings:
            self.warnings.append(finding)

    def summary(self) -> str:
        status = "VALID" if self.valid else "INVALID"
        head = (
            f"{self.source}: {status} ({self.task}) - {self.records} records on {self.lines} lines, "
            f"{sum(self.error_counts.values())} errors, {sum(self.warning_counts.values())} warnings"
        )
        shown = [f"  line {f.line}, field {f.field or '-'}: {f.message} Fix: {f.fix}" for f in self.errors]
        hidden = sum(self.error_counts.values()) - len(self.errors)
        if hidden > 0:
            shown.append(f"  ... and {hidden} more errors (counts by kind: {dict(self.error_counts)})")
        return "\n".join([head, *shown])

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "task": self.task,
            "valid": self.valid,
            "totals": {
                "lines": self.lines,
                "records": self.records,
                "bytes": self.bytes_read,
                "errors": sum(self.error_counts.values()),
                "warnings": sum(self.warning_counts.values()),
                "max_tokens_estimate": self.max_tokens_estimate,
            },
            "error_counts": dict(self.error_counts),
            "warning_counts": dict(self.warning_counts),
            "errors": [f.as_dict() for f in self.errors],
            "warnings": [f.as_dict() for f in self.warnings],
            "content_sha256": self.content_sha256,
        }


def task_schema(task: str) -> dict[str, Any]:
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; allowed: {list(TASKS)}")
    return schemas.load(task)


@lru_cache(maxsize=None)
def _validator(task: str) -> "Draft202012Validator":
    # jsonschema only names the problems of records that failed the inline check: valid files
    # (and the CLI's start-up) never import it.
    from jsonschema import Draft202012Validator

    return Draft202012Validator(task_schema(task))


def line_batches(chunks: Iterable[bytes], *, max_line_bytes: int = MAX_LINE_BYTES,
                 look_for_nesting: bool = False) -> Iterator[tuple[list[memoryview], int, bool]]:
    """Split a byte stream into lines without their LF, in batches: (lines, byte offset of the
    first, may nest). Within a batch each line starts one byte after the previous one ends; a line
    longer than `max_line_bytes` is cut to its first `max_line_bytes` bytes followed by the
    OVERSIZED marker and comes alone in its batch. Memory stays bounded by one chunk plus
    `max_line_bytes`.

    Lines are views into the chunk they were read in, not copies, and come in batches: the
    usual line costs one slice, so validation runs at several hundred MB/s (copying each line
    cost a third of the time of parsing it).

    "May nest" is False only when `look_for_nesting` is set and no line of the batch holds a `[`
    or a `{` after its first byte: then no line nests an array or object in its record. It costs
    one memchr-fast find per line, where looking at the types of each parsed record's values
    cost validation 13 %.
    """
    pending: list[bytes] = []  # copies of the pieces of the line that spans chunks (<= max_line_bytes)
    kept = length = offset = 0  # offset: where the next line starts in the stream

    def keep(piece: memoryview) -> None:
        nonlocal kept, length
        length += len(piece)
        room = max_line_bytes - kept
        if room > 0 and piece:
            pending.append(bytes(piece[:room]))  # a copy: a view would hold its whole chunk
            kept += min(room, len(piece))

    def cut() -> tuple[list[memoryview], int, bool]:  # the line kept so far, as a batch of its own
        nonlocal kept, length, offset
        batch = [memoryview(b"".join(pending) + (OVERSIZED if length > max_line_bytes else b""))], offset, True
        offset += length + 1
        pending.clear()
        kept = length = 0
        return batch

    for chunk in chunks:
        view, find = memoryview(chunk), chunk.find
        start, end = 0, find(b"\n")
        if end >= 0 and length:  # the line that spanned chunks ends here
            keep(view[:end])
            yield cut()
            start, end = end + 1, find(b"\n", end + 1)
        # A batch is contiguous: the stream offset follows from where it started in the chunk.
        batch: list[memoryview] = []
        batch_offset, batch_start, flat = offset, start, look_for_nesting
        while end >= 0:
            if end - start > max_line_bytes:
                offset = batch_offset + start - batch_start
                if batch:
                    yield batch, batch_offset, not (flat and find(b"[", batch_start, start) < 0)
                    batch = []
                keep(view[start:end])
                yield cut()
                batch_offset, batch_start, flat = offset, end + 1, look_for_nesting
            else:
                batch.append(view[start:end])
                if flat and find(b"{", start + 1, end) >= 0:
                    flat = False
            start, end = end + 1, find(b"\n", end + 1)
        offset = batch_offset + start - batch_start
        if batch:
            yield batch, batch_offset, not (flat and find(b"[", batch_start, start) < 0)
        keep(view[start:])
    if length:
        yield cut()


def iter_lines(chunks: Iterable[bytes], *, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[bytes, int]]:
    """(line, byte offset of its start) of a byte stream, one at a time (see `line_batches`)."""
    for lines, offset, _may_nest in line_batches(chunks, max_line_bytes=max_line_bytes):
        for line in lines:
            yield bytes(line), offset
            offset += len(line) + 1


_PRIORITY = {"required": 0, "type": 1, "minLength": 2, "pattern": 3}


def _field_of(error: Any) -> str | None:
    if error.validator == "required":
        # jsonschema raises one error per missing property; its message names it.
        named = re.match(r"^'(.+)' is a required property", error.message)
        return named.group(1) if named else None
    path = list(error.absolute_path)
    return str(path[0]) if path else None


def _schema_finding(line_no: int, error: Any) -> Finding:
    name = _field_of(error)
    if error.validator == "required":
        return Finding(line_no, name, "missing_field", f"required field '{name}' is missing.",
                       f"add \"{name}\": \"...\" to the object on line {line_no}.")
    if error.validator == "type" and error.instance is None:
        return Finding(line_no, name, "null_field", f"field '{name}' is null.",
                       f"give '{name}' a text value (a JSON string).")
    if error.validator == "type":
        return Finding(line_no, name, "not_a_string",
                       f"field '{name}' must be a string, got {type(error.instance).__name__}.",
                       f"write '{name}' as a JSON string, e.g. \"{name}\": \"text\".")
    if error.validator == "minLength":
        return Finding(line_no, name, "empty_field", f"field '{name}' is empty.", f"put the text of '{name}' in it.")
    if error.validator == "pattern":
        return Finding(line_no, name, "blank_field", f"field '{name}' holds only whitespace.",
                       f"put the text of '{name}' in it; a judge cannot compare blank answers.")
    return Finding(line_no, name, "schema", error.message, "see the dataset format in the README.")


def _is_text(value: Any) -> bool:
    """The schema's rule for each Nova field (the inline check in validate_stream is the same)."""
    return type(value) is str and value != "" and not value.isspace()


def validate_stream(
    chunks: Iterable[bytes],
    *,
    source: str,
    task: str,
    token_limit: int,
    max_rows: int,
    max_findings: int = 50,
) -> ValidationReport:
    """Validate a JSONL byte stream; never raises on bad content, only reports it.

    Every record goes through a fast check equivalent to the task's JSON Schema (tested so);
    only records that fail it are run through jsonschema, which names each problem.
    """
    report = ValidationReport(source=source, task=task, max_findings=max_findings)
    if task not in TASKS:  # fails before any line is read
        raise ValueError(f"Unknown task {task!r}; allowed: {list(TASKS)}")
    digest = _BackgroundDigest()
    trailing_blank: list[int] = []
    line_ends = _LineEnds()
    seen_rows: dict[int, int] = {}  # hash of the three fields -> first line (bounded)

    def hashed(stream: Iterable[bytes]) -> Iterator[bytes]:
        try:
            for chunk in stream:
                digest.update(chunk)
                yield chunk
        finally:  # a failed read (or an abandoned stream) must not leave the digest thread waiting
            digest.close()

    if not source.lower().endswith((".jsonl", ".ndjson")):
        report.add_warning(Finding(None, None, "file_extension",
                                   f"the file name '{source}' does not end in .jsonl.",
                                   "name dataset files *.jsonl so they are recognised as JSON Lines."))

    line_no = records = max_tokens = 0
    tracking = True
    loads, seen, line_field = orjson.loads, seen_rows.setdefault, LINE_FIELD
    binary = False
    for lines, batch_offset, may_nest in line_batches(hashed(chunks), look_for_nesting=True):
        if binary:
            continue  # still hash and count the rest
        batch_first_line = line_no + 1
        known_index, known_offset = 0, batch_offset  # where lines[known_index] starts (found lazily)
        for body in lines:
            line_no += 1
            try:
                record = loads(body)
            except orjson.JSONDecodeError:
                record = None
            # The usual line is one record and nothing else: everything else takes the long way. A
            # CR before the LF is JSON whitespace (RFC 8259 section 2), so orjson has read the record.
            if type(record) is not dict or trailing_blank or line_no == 1:
                if line_no == 1 and _is_binary(body):
                    report.add_error(Finding(1, None, "binary_content",
                                             "the file is binary (gzip or other), not JSON Lines text.",
                                             "upload the uncompressed .jsonl text file."))
                    binary = True
                    break
                index = line_no - batch_first_line
                known_offset += sum(len(line) + 1 for line in lines[known_index:index])
                known_index = index
                record = _unusual_line(report, line_no, body, known_offset, trailing_blank, line_ends)
                if record is None:
                    continue
            elif body[-1] == CR:
                line_ends.crlf(line_no)
            records += 1
            if records == max_rows + 1:
                report.add_error(Finding(line_no, None, "too_many_rows",
                                         f"the file has more than {max_rows} records (the configured maximum).",
                                         "split the file, or raise judgeflow.max_rows in cdk.json."))
            if line_field in record:
                report.add_error(Finding(line_no, LINE_FIELD, "reserved_field",
                                         f"the field name '{LINE_FIELD}' is reserved: judgeflow keeps each record's "
                                         "line number under it, beside your extra fields.",
                                         f"rename '{LINE_FIELD}' (for example to 'source_line'); its value is then "
                                         "kept as is with your other extra fields."))
            # Only extra fields can nest (a Nova field must be a string).
            if may_nest and len(record) > 3 and not _CONTAINER_TYPES.isdisjoint(map(type, record.values())):
                for name, value in record.items():
                    if name not in NOVA_FIELDS and _nests_deeper(value, MAX_NESTING_DEPTH - 1):
                        report.add_error(_too_deep(line_no, name))
            prompt, response_a, response_b = record.get("prompt"), record.get("response_A"), record.get("response_B")
            # The schema's rule, checked inline for speed (tests prove it agrees with the schema): each
            # field a string holding a non-whitespace character.
            if not (type(prompt) is str and type(response_a) is str and type(response_b) is str
                    and prompt and response_a and response_b
                    and not prompt.isspace() and not response_a.isspace() and not response_b.isspace()):
                # One finding per field, the most basic first (an empty string also fails the pattern).
                by_field: dict[str, Any] = {}
                for error in sorted(_validator(task).iter_errors(record), key=lambda e: _PRIORITY.get(e.validator, 9)):
                    by_field.setdefault(_field_of(error) or "", error)
                for name in sorted(by_field):
                    report.add_error(_schema_finding(line_no, by_field[name]))
                continue
            tokens = (-(-(len(prompt) + len(response_a) + len(response_b)) // CHARS_PER_TOKEN)
                      + JUDGE_PROMPT_OVERHEAD_TOKENS)
            if tokens > max_tokens:
                max_tokens = tokens
            if tokens > token_limit:
                report.add_error(Finding(line_no, None, "too_many_tokens",
                                         f"the record is about {tokens} tokens, over the limit of {token_limit}.",
                                         "shorten the prompt or responses, or raise judgeflow.token_limit."))
            if tracking:
                first = seen(hash((prompt, response_a, response_b)), line_no)
                if first != line_no:
                    report.add_warning(Finding(line_no, None, "duplicate_row", f"same record as line {first}.",
                                               "remove the repeated record unless you mean to count it twice."))
                if len(seen_rows) >= DUPLICATE_CHECK_LIMIT:
                    tracking = False  # memory stays flat whatever the file size
                    report.add_warning(Finding(line_no, None, "duplicate_check_limited",
                                               f"duplicates were checked among the first {DUPLICATE_CHECK_LIMIT:,} "
                                               "distinct records only.", "split very large files."))
    report.records = records
    report.max_tokens_estimate = max_tokens
    report.lines = line_no
    if crlf_warning := line_ends.warning(line_no):
        report.add_warning(crlf_warning)
    report.content_sha256 = digest.hexdigest()
    report.bytes_read = digest.size
    if report.records == 0 and not report.error_counts:
        report.add_error(Finding(None, None, "empty_file", "the file holds no records.",
                                 "add one JSON object per line with prompt, response_A and response_B."))
    return report


def _nests_deeper(value: Any, levels: int) -> bool:
    """Whether `value` holds more than `levels` levels of arrays and objects (a scalar holds none).
    A flat container is settled by one C-level look at its element types; the walk recurses only
    into nested ones, and never more than `levels` deep."""
    if type(value) is dict:
        children: Iterable[Any] = value.values()
    elif type(value) is list:
        children = value
    else:
        return False
    if levels == 0:
        return True
    if _SCALAR_TYPES.issuperset(map(type, children)):
        return False
    return any(_nests_deeper(child, levels - 1) for child in children)


def _text_nests_too_deep(text: bytes) -> tuple[bool, str | None]:
    """For a line orjson refused: whether its text nests more than MAX_NESTING_DEPTH levels, and
    the top-level field it was in when it went past (None if it is not in one)."""
    depth, field_name, last_string = 0, None, b'""'
    for match in _NESTING_TOKENS.finditer(text):
        token = match.group()
        if token[0] == 0x22:  # a string
            last_string = token
        elif token == b":":
            if depth == 1:
                field_name = last_string
        elif token in (b"[", b"{"):
            depth += 1
            if depth > MAX_NESTING_DEPTH:
                try:
                    return True, None if field_name is None else orjson.loads(field_name)
                except orjson.JSONDecodeError:
                    return True, None
        else:
            depth -= 1
    return False, None


def _too_deep(line_no: int, name: str | None) -> Finding:
    where = f"field '{name}'" if name is not None else "the line"
    return Finding(line_no, name, "nesting_too_deep",
                   f"{where} nests objects and arrays more than {MAX_NESTING_DEPTH} levels deep (the record "
                   f"counts as one level); judgeflow keeps extra fields up to {MAX_NESTING_DEPTH} levels.",
                   f"flatten {where} (for example, store it as a JSON string) or drop it.")


def _is_binary(first_line: memoryview) -> bool:
    head = bytes(first_line[:1024])
    return head.startswith(GZIP_MAGIC) or b"\x00" in head


def _unusual_line(report: ValidationReport, line_no: int, body: memoryview, line_offset: int,
                  blank_lines: list[int], line_ends: _LineEnds) -> dict[str, Any] | None:
    """The record of a line that is not simply one JSON object, or None; reports what is wrong
    (a BOM, a cut line, blank lines before it, bad UTF-8 or JSON, a non-object) and tallies a CR
    LF line end in `line_ends`. A blank line is remembered in `blank_lines`: it is an error only
    if a record follows it."""
    if line_no == 1 and bytes(body[:len(UTF8_BOM)]) == UTF8_BOM:
        report.add_error(Finding(1, None, "byte_order_mark", "the file starts with a UTF-8 byte-order mark (BOM).",
                                 "save the file as UTF-8 without BOM."))
        body = body[len(UTF8_BOM):]
        line_offset += len(UTF8_BOM)
    if len(body) > MAX_LINE_BYTES:  # only a cut line (OVERSIZED marker) is this long
        report.add_error(Finding(line_no, None, "line_too_long",
                                 f"the line is longer than {MAX_LINE_BYTES // (1 << 20)} MiB; it was not read.",
                                 "put one record per line; a record must stay within the token limit."))
        return None
    if body and body[-1] == CR:
        line_ends.crlf(line_no)
        body = body[:-1]
    if not body or bytes(body).isspace():
        blank_lines.append(line_no)
        return None
    for blank in blank_lines:
        report.add_error(Finding(blank, None, "blank_line", "blank line inside the data.",
                                 "remove empty lines between records."))
    blank_lines.clear()
    try:
        record = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            str(body, "utf-8")
        except UnicodeDecodeError as bad:
            report.add_error(Finding(line_no, None, "invalid_utf8",
                                     f"invalid UTF-8 at byte offset {line_offset + bad.start} of the file.",
                                     "re-encode the file as UTF-8."))
            return None
        too_deep, name = _text_nests_too_deep(bytes(body))
        # Past the bound, that is the finding: orjson stops at 1024 levels, so deeper valid JSON lands here.
        if too_deep:
            report.add_error(_too_deep(line_no, name))
            return None
        fix = "write one complete JSON object per line."
        # A CR that is not a line end is JSON whitespace, unless it separates records or sits in a string.
        if b"\r" in bytes(body):
            fix += (" The line holds a carriage return (CR): if the file has CR-only (classic Mac) line ends, "
                    "save it with LF or CR LF line ends; inside a string, write a CR as \\r.")
        report.add_error(Finding(line_no, None, "invalid_json", f"not valid JSON: {exc.msg} at column {exc.colno}.",
                                 fix))
        return None
    if type(record) is not dict:
        report.add_error(Finding(line_no, None, "not_an_object", f"the line is a JSON {json_type(record)}, not an object.",
                                 "write each record as {\"prompt\": ..., \"response_A\": ..., \"response_B\": ...}."))
        return None
    return record


class _BackgroundDigest:
    """SHA-256 of the stream, computed on another thread while the lines are parsed: hashlib
    releases the GIL while it hashes, so on two cores the digest costs the parse nothing. The
    queue is bounded: memory stays flat even if hashing ever fell behind."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._thread = threading.Thread(target=self._run, name="dataset-sha256", daemon=True)
        self._thread.start()
        self.size = 0

    def _run(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            self._digest.update(chunk)

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._chunks.put(chunk)

    def close(self) -> None:
        if self._thread.is_alive():
            self._chunks.put(None)
            self._thread.join()

    def hexdigest(self) -> str:
        self.close()
        return self._digest.hexdigest()


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type ("object", "array", "string", ...)."""
    names = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
    return names.get(type(value), "null")


def read_file_chunks(handle: BinaryIO, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    while chunk := handle.read(chunk_size):
        yield chunk
