"""Every kind of bad dataset the validator must locate and explain, shared by the handler and
CLI tests: (name, file bytes, first expected finding as (line, field, kind))."""

from __future__ import annotations

import gzip
import json

GOOD = {"prompt": "What is the capital of Peru?", "response_A": "Lima.", "response_B": "Lima is the capital."}


def jsonl(*records) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r, ensure_ascii=False).encode()) + b"\n"
                    for r in records)


BAD_INPUTS = [
    ("invalid-json", jsonl(GOOD, b'{"prompt": "p",'), (2, None, "invalid_json")),
    ("not-an-object", jsonl(b'["prompt", "a", "b"]'), (1, None, "not_an_object")),
    ("missing-field", jsonl({"prompt": "p", "response_A": "a"}), (1, "response_B", "missing_field")),
    ("null-field", jsonl({**GOOD, "response_A": None}), (1, "response_A", "null_field")),
    ("non-string", jsonl(GOOD, {**GOOD, "prompt": 42}), (2, "prompt", "not_a_string")),
    ("empty-prompt", jsonl({**GOOD, "prompt": ""}), (1, "prompt", "empty_field")),
    ("blank-response", jsonl({**GOOD, "response_B": "  \n\t"}), (1, "response_B", "blank_field")),
    ("invalid-utf8", jsonl(GOOD) + b'{"prompt": "caf\xe9"}\n', (2, None, "invalid_utf8")),
    ("bom", b"\xef\xbb\xbf" + jsonl(GOOD), (1, None, "byte_order_mark")),
    ("blank-line", jsonl(GOOD) + b"\n" + jsonl(GOOD), (2, None, "blank_line")),
    ("empty-file", b"", (None, None, "empty_file")),
    ("huge-line", jsonl({**GOOD, "prompt": "x" * (2 << 20)}), (1, None, "line_too_long")),
    ("over-token-limit", jsonl(GOOD, {**GOOD, "response_A": "word " * 8000}), (2, None, "too_many_tokens")),
    ("too-many-rows", jsonl(*[{**GOOD, "prompt": f"q{i}"} for i in range(100_001)]), (100_001, None, "too_many_rows")),
    ("gzip", gzip.compress(jsonl(GOOD)), (1, None, "binary_content")),
    ("nested-too-deep", jsonl(GOOD, {**GOOD, "meta": json.loads("[" * 80 + "]" * 80)}), (2, "meta", "nesting_too_deep")),
    ("reserved-field", jsonl({**GOOD, "_line": 7}), (1, "_line", "reserved_field")),
]
