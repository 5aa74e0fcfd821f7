"""Stage-input stage: the Nova-strict `llm_judge.jsonl` plus a sidecar of the user's extra fields.

Runs only on a file that passed validation. The staged file holds exactly prompt, response_A,
response_B in that order, with text unchanged (non-ASCII kept as UTF-8, not escaped). The
sidecar has one JSON object per staged item: `_line` (line in the original), then `category`
when present, then the other extra fields.
"""

from __future__ import annotations

import tempfile
from typing import Any, BinaryIO, Iterable, Iterator, Mapping

import orjson

from judgeflow import layout
from judgeflow.adapters import s3 as objects
from judgeflow.validation import NOVA_FIELDS, iter_lines


def iter_records(chunks: Iterable[bytes]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) of a file that passed validation (blank trailing lines skipped)."""
    for line_no, (line, _offset) in enumerate(iter_lines(chunks), start=1):
        if line and not line.isspace():
            yield line_no, orjson.loads(line)


def write_staged(chunks: Iterable[bytes], staged: BinaryIO, sidecar: BinaryIO) -> int:
    """Write both files; return the number of items staged. orjson writes UTF-8 text as is."""
    count = 0
    for line_no, record in iter_records(chunks):
        staged.write(orjson.dumps({name: record[name] for name in NOVA_FIELDS}) + b"\n")
        extra = {k: v for k, v in record.items() if k not in NOVA_FIELDS}
        # `_line` then `category` first: the results stage reads both with one vectorized regex.
        head = {"_line": line_no, **({"category": extra.pop("category")} if "category" in extra else {})}
        sidecar.write(orjson.dumps({**head, **extra}) + b"\n")
        count += 1
    return count


def stage_dataset(*, s3: Any, work_bucket: str, run_id: str, dataset: Mapping[str, Any]) -> dict[str, Any]:
    chunks = objects.read_chunks(s3, dataset["bucket"], dataset["key"], version_id=dataset.get("version_id"))
    with tempfile.TemporaryFile() as staged, tempfile.TemporaryFile() as sidecar:
        items = write_staged(chunks, staged, sidecar)
        staged.seek(0)
        sidecar.seek(0)
        input_key = layout.staged_input_key(run_id)
        s3.upload_fileobj(staged, work_bucket, input_key)
        s3.upload_fileobj(sidecar, work_bucket, layout.sidecar_key(run_id))
    return {"items": items, "input_prefix": f"s3://{work_bucket}/{layout.staged_input_prefix(run_id)}",
            "input_key": input_key}
