"""Stage-input stage: the Nova-strict `llm_judge.jsonl` plus a sidecar of the user's extra fields.

Runs only on a file that passed validation. The staged file holds exactly prompt, response_A,
response_B in that order, with text unchanged (non-ASCII kept as UTF-8, not escaped). The
sidecar has one JSON object per staged item: `_line` (line in the original), then `category`
when present, then the other extra fields, each value as the record holds it (a `category` of any
JSON type). Validation rejects a record with a field `_line`, so nothing overrides the line number.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping

import orjson

from judgeflow import layout
from judgeflow.adapters import s3 as objects
from judgeflow.validation import LINE_FIELD, NOVA_FIELDS, iter_lines


def iter_records(chunks: Iterable[bytes]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) of a file that passed validation (blank trailing lines skipped)."""
    for line_no, (line, _offset) in enumerate(iter_lines(chunks), start=1):
        if line and not line.isspace():
            yield line_no, orjson.loads(line)


def staged_line(record: Mapping[str, Any]) -> bytes:
    """The Nova-strict line: the three fields in order, UTF-8 text as is (orjson does not escape it)."""
    return orjson.dumps({name: record[name] for name in NOVA_FIELDS}) + b"\n"


def sidecar_line(line_no: int, record: Mapping[str, Any]) -> bytes:
    extra = {k: v for k, v in record.items() if k not in NOVA_FIELDS}
    if LINE_FIELD in extra:  # validation rejects it: reaching here is a fault, never a silent overwrite
        raise ValueError(f"line {line_no} has the reserved field {LINE_FIELD!r}; it did not pass validation")
    # `_line` then `category` first: the results stage reads both with one vectorized regex.
    head = {LINE_FIELD: line_no, **({"category": extra.pop("category")} if "category" in extra else {})}
    return orjson.dumps({**head, **extra}) + b"\n"


class _Counted:
    """Counts the lines an upload consumes as it streams them."""

    def __init__(self) -> None:
        self.count = 0

    def each(self, lines: Iterable[bytes]) -> Iterator[bytes]:
        for line in lines:
            self.count += 1
            yield line


def stage_dataset(*, s3: Any, work_bucket: str, run_id: str, dataset: Mapping[str, Any]) -> dict[str, Any]:
    """Stream the dataset (the version validation read) into both files, S3 to S3: nothing goes
    through /tmp, so a dataset of any size validation accepts stages within the function's
    ephemeral storage. One read of the original per file keeps memory at a few upload parts."""
    def records() -> Iterator[tuple[int, dict[str, Any]]]:
        return iter_records(objects.read_chunks(s3, dataset["bucket"], dataset["key"],
                                                version_id=dataset.get("version_id")))

    # orjson may write a record a little longer than it was read (numbers, `_line`): room for twice.
    size_hint = 2 * int(dataset.get("bytes") or 0)
    staged, sidecar = _Counted(), _Counted()
    input_key = layout.staged_input_key(run_id)
    objects.upload_stream(s3, work_bucket, input_key, staged.each(staged_line(r) for _, r in records()),
                          size_hint=size_hint)
    objects.upload_stream(s3, work_bucket, layout.sidecar_key(run_id),
                          sidecar.each(sidecar_line(n, r) for n, r in records()), size_hint=size_hint)
    if staged.count != sidecar.count:  # both read the same version: a difference is a fault, never a dataset's
        raise RuntimeError(f"staged {staged.count} items but {sidecar.count} sidecar rows from {dataset['key']}")
    items = staged.count
    return {"items": items, "input_prefix": f"s3://{work_bucket}/{layout.staged_input_prefix(run_id)}",
            "input_key": input_key}
