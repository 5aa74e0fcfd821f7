"""Staging: the Nova-strict `llm_judge.jsonl` plus a sidecar of the user's extra fields.

Runs only on a file that passed validation. The staged file holds exactly prompt, response_A,
response_B in that order, with text unchanged (non-ASCII kept as UTF-8, not escaped). The
sidecar has one JSON object per staged item: `_line` (line in the original), then `category`
when present, then the other extra fields.
"""

from __future__ import annotations

import json
from typing import Any, BinaryIO, Iterable, Iterator

from judgeflow.validation import NOVA_FIELDS, UTF8_BOM, iter_lines

STAGED_FILE_NAME = "llm_judge.jsonl"
SIDECAR_FILE_NAME = "sidecar.jsonl"


def iter_records(chunks: Iterable[bytes]) -> Iterator[tuple[int, dict[str, Any]]]:
    for line_no, raw in enumerate(iter_lines(chunks), start=1):
        if line_no == 1 and raw.startswith(UTF8_BOM):
            raw = raw[len(UTF8_BOM):]
        text = raw.decode("utf-8").strip()
        if text:
            yield line_no, json.loads(text)


def stage(chunks: Iterable[bytes], staged: BinaryIO, sidecar: BinaryIO) -> int:
    """Write both files; return the number of items staged."""
    count = 0
    for line_no, record in iter_records(chunks):
        nova = {name: record[name] for name in NOVA_FIELDS}
        staged.write(json.dumps(nova, ensure_ascii=False).encode("utf-8") + b"\n")
        extra = {k: v for k, v in record.items() if k not in NOVA_FIELDS}
        # `_line` then `category` first: the results stage reads both with one vectorized regex.
        head = {"_line": line_no, **({"category": extra.pop("category")} if "category" in extra else {})}
        sidecar.write(json.dumps({**head, **extra}, ensure_ascii=False).encode("utf-8") + b"\n")
        count += 1
    return count
