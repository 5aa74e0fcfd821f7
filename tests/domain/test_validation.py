"""Streaming validation: each bad input is located (line, field) and explained."""

from __future__ import annotations

import gzip
import json

import pytest

from judgeflow.validation import OVERSIZED, iter_lines, validate_stream

GOOD = {"prompt": "What is 2+2?", "response_A": "4", "response_B": "Four."}


def run(data: bytes, *, name: str = "data.jsonl", chunk: int = 7, **kwargs):
    chunks = [data[i:i + chunk] for i in range(0, len(data), chunk)]
    defaults = dict(source=name, task="llm_judge", token_limit=7000, max_rows=100)
    return validate_stream(chunks, **{**defaults, **kwargs})


def lines(*records) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r, ensure_ascii=False).encode()) + b"\n"
                    for r in records)


def findings(report):
    return [(f.line, f.field, f.kind) for f in report.errors]


def test_valid_file_counts_records_and_hashes_content():
    data = lines(GOOD, {**GOOD, "category": "math"})
    report = run(data)
    assert report.valid and report.records == 2 and report.lines == 2
    import hashlib
    assert report.content_sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("record, expected", [
    ({"prompt": "p", "response_A": "a"}, (1, "response_B", "missing_field")),
    ({**GOOD, "response_A": None}, (1, "response_A", "null_field")),
    ({**GOOD, "response_B": 5}, (1, "response_B", "not_a_string")),
    ({**GOOD, "prompt": ""}, (1, "prompt", "empty_field")),
    ({**GOOD, "response_B": " \t\n"}, (1, "response_B", "blank_field")),
])
def test_field_errors_name_line_and_field(record, expected):
    assert findings(run(lines(record))) == [expected]


def test_invalid_json_and_non_object_lines():
    report = run(lines(GOOD, b"{broken", b"[1, 2]"))
    assert findings(report) == [(2, None, "invalid_json"), (3, None, "not_an_object")]
    assert "column" in report.errors[0].message


def test_invalid_utf8_reports_byte_offset():
    first = lines(GOOD)
    report = run(first + b'{"prompt": "\xff"}\n')
    (error,) = report.errors
    assert (error.line, error.kind) == (2, "invalid_utf8")
    assert f"byte offset {len(first) + 12}" in error.message



@pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
def test_every_invalid_utf8_line_reports_its_own_byte_offset(chunk):
    bad = b'{"prompt": "\xff"}'
    data = b"".join(lines(GOOD) * (i % 3) + bad + b"\n" for i in range(12))
    report = run(data, chunk=chunk, max_findings=50)
    expected, start = [], 0
    while (start := data.find(b"\xff", start)) >= 0:
        expected.append(f"invalid UTF-8 at byte offset {start} of the file.")
        start += 1
    assert [f.message for f in report.errors if f.kind == "invalid_utf8"] == expected


def test_bom_and_blank_lines_inside_are_errors_trailing_blank_lines_are_fine():
    data = b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\r\n\n" + lines(GOOD) + b"\n\n"
    assert findings(run(data)) == [(1, None, "byte_order_mark"), (2, None, "blank_line")]


def warnings(report):
    return [(f.line, f.field, f.kind) for f in report.warnings]


@pytest.mark.parametrize("chunk", [7, 1 << 20])
def test_crlf_line_ends_are_valid_with_one_warning_for_the_file(chunk):
    records = [{**GOOD, "prompt": f"q{i}"} for i in range(5)]
    data = lines(*records).replace(b"\n", b"\r\n")
    report = run(data, chunk=chunk)
    assert report.valid and report.records == 5 and report.lines == 5
    assert warnings(report) == [(1, None, "crlf_line_end")]
    (warning,) = report.warnings
    assert "5 of 5 lines" in warning.message and "staged with LF line ends" in warning.message
    assert warning.fix.startswith("nothing to fix")
    import hashlib
    assert report.content_sha256 == hashlib.sha256(data).hexdigest()  # the bytes as uploaded


def test_some_crlf_lines_name_the_first_and_count_them():
    records = [{**GOOD, "prompt": f"q{i}"} for i in range(6)]
    data = b"".join(json.dumps(r).encode() + (b"\r\n" if i in (2, 4) else b"\n") for i, r in enumerate(records))
    report = run(data)
    assert report.valid and report.records == 6
    (warning,) = report.warnings
    assert (warning.line, warning.kind) == (3, "crlf_line_end") and "2 of 6 lines" in warning.message


def test_crlf_blank_lines_are_blank_lines():
    data = lines(GOOD).replace(b"\n", b"\r\n") + b"\r\n" + lines({**GOOD, "prompt": "x"})
    assert findings(run(data)) == [(2, None, "blank_line")]
    trailing = run(lines(GOOD, {**GOOD, "prompt": "x"}).replace(b"\n", b"\r\n") + b"\r\n\r\n")
    assert trailing.valid and trailing.records == 2 and warnings(trailing) == [(1, None, "crlf_line_end")]


def test_a_cr_between_json_tokens_is_whitespace_and_not_a_line_end():
    """RFC 8259 section 2: CR is insignificant whitespace between tokens, wherever it stands."""
    data = b'{"prompt": "p",\r"response_A": "a",\r\r"response_B": "b"}\n' + lines(GOOD)
    report = run(data)
    assert report.valid and report.records == 2 and report.warnings == []


def test_a_raw_cr_inside_a_string_or_cr_only_line_ends_are_invalid_with_a_hint():
    raw_cr_in_text = b'{"prompt": "p\r", "response_A": "a", "response_B": "b"}\n'
    classic_mac = lines(GOOD, {**GOOD, "prompt": "x"}).replace(b"\n", b"\r")
    for data in (raw_cr_in_text, classic_mac):
        (error,) = run(data).errors
        assert (error.line, error.kind) == (1, "invalid_json")
        assert "carriage return (CR)" in error.fix and "CR-only" in error.fix
    (plain,) = run(b"{broken\n").errors
    assert "carriage return" not in plain.fix


def test_empty_file_and_binary_content():
    assert findings(run(b"")) == [(None, None, "empty_file")]
    assert findings(run(gzip.compress(lines(GOOD)))) == [(1, None, "binary_content")]


def test_token_limit_and_row_limit():
    long = {**GOOD, "prompt": "word " * 30000}
    report = run(lines(long), token_limit=7000)
    assert findings(report) == [(1, None, "too_many_tokens")]
    report = run(lines(GOOD, GOOD, GOOD), max_rows=2)
    assert (3, None, "too_many_rows") in findings(report)


def test_duplicates_and_wrong_extension_are_warnings():
    report = run(lines(GOOD, GOOD), name="data.txt")
    assert report.valid
    assert {w.kind for w in report.warnings} == {"duplicate_row", "file_extension"}


def test_first_errors_in_full_and_counts_for_the_rest():
    report = run(lines(*[{"prompt": "p"}] * 80), max_findings=5)
    assert len(report.errors) == 5
    assert report.error_counts["missing_field"] == 160
    assert "more errors" in report.summary()


def test_iter_lines_joins_across_chunks_and_reports_offsets():
    assert list(iter_lines([b"a\r", b"\nb", b"c\n", b"d"])) == [(b"a\r", 0), (b"bc", 3), (b"d", 6)]


def test_iter_lines_cuts_a_huge_line_without_buffering_it():
    lines = list(iter_lines([b"x" * 10, b"y" * 10, b"z\nok\n"], max_line_bytes=8))
    assert lines == [(b"x" * 8 + OVERSIZED, 0), (b"ok", 22)]


def test_single_huge_line_is_reported_and_the_rest_is_read():
    data = b'{"prompt": "' + b"p" * (2 << 20) + b'"}\n' + lines(GOOD)
    report = run(data, chunk=1 << 16)
    assert findings(report) == [(1, None, "line_too_long")]
    assert report.records == 1 and report.lines == 2


def test_fast_check_agrees_with_the_schema():
    """The fast path must accept exactly what the JSON Schema accepts."""
    from jsonschema import Draft202012Validator
    from judgeflow.validation import _is_text, task_schema

    samples = ["a", "", " ", "\t\n", "\u00a0", "\u2003x", "\u3000", "0", "日本", "\u200b", "\x1c", "\x85"]
    validator = Draft202012Validator(task_schema("llm_judge"))
    for value in samples + [None, 1, True, [], {}]:
        record = {"prompt": value, "response_A": "a", "response_B": "b"}
        assert _is_text(value) == validator.is_valid(record), repr(value)


def test_duplicate_tracking_is_capped(monkeypatch):
    import judgeflow.validation as validation

    monkeypatch.setattr(validation, "DUPLICATE_CHECK_LIMIT", 3)
    records = [{**GOOD, "prompt": f"q{i}"} for i in range(5)] + [{**GOOD, "prompt": "q0"}]
    report = run(lines(*records))
    assert report.valid and report.records == 6
    assert [w.kind for w in report.warnings] == ["duplicate_check_limited"]


def test_line_splitting_matches_a_plain_split_for_any_chunking():
    """Every way of cutting the stream into chunks gives the lines and offsets of a plain split
    (lines over the limit cut and marked)."""
    import random

    rng = random.Random(5)
    for _ in range(600):
        data = b"".join(rng.choice([b"\n", b"ab", b"c\r", b"{}", b"xyz" * rng.randint(0, 5)])
                        for _ in range(rng.randint(0, 40)))
        cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(0, 8)))) if len(data) > 1 else []
        chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
        limit = rng.choice([4, 9, 1 << 20])
        expected, offset = [], 0
        for line in data.split(b"\n"):
            expected.append((line if len(line) <= limit else line[:limit] + OVERSIZED, offset))
            offset += len(line) + 1
        if expected and expected[-1][0] == b"":
            expected.pop()  # a final LF ends the last line; it does not start another
        assert list(iter_lines(chunks, max_line_bytes=limit)) == expected, (chunks, limit)


def test_a_read_that_fails_midway_raises_and_leaves_no_hashing_thread():
    import threading

    def broken_stream():
        yield b'{"prompt": "p", "response_A": "a", "response_B": "b"}\n'
        raise ConnectionResetError("the S3 stream broke")

    with pytest.raises(ConnectionResetError):
        validate_stream(broken_stream(), source="data.jsonl", task="llm_judge", token_limit=7000, max_rows=100)
    assert not [t for t in threading.enumerate() if t.name == "dataset-sha256"]


def nested(levels: int, kind: str = "list") -> bytes:
    """JSON text of `levels` nested arrays (or objects), innermost holding 1."""
    if kind == "list":
        return b"[" * levels + b"1" + b"]" * levels
    return b'{"a":' * levels + b"1" + b"}" * levels


def with_extra(name: bytes, value: bytes) -> bytes:
    return b'{"prompt": "p", "response_A": "a", "response_B": "b", "' + name + b'": ' + value + b"}"


@pytest.mark.parametrize("kind", ["list", "object"])
def test_an_extra_field_may_nest_up_to_the_bound_with_the_record(kind):
    from judgeflow.validation import MAX_NESTING_DEPTH

    at_bound = with_extra(b"meta", nested(MAX_NESTING_DEPTH - 1, kind))  # the record is one level
    report = run(lines(at_bound, GOOD))
    assert report.valid and report.records == 2


@pytest.mark.parametrize("levels", [64, 100, 253, 254, 1000, 1023, 1024, 5000])
@pytest.mark.parametrize("kind", ["list", "object"])
def test_a_field_nesting_past_the_bound_is_rejected_naming_line_field_and_limit(levels, kind):
    """Depths orjson reads (up to 1024 with the record) and depths it refuses give the same finding."""
    from judgeflow.validation import MAX_NESTING_DEPTH

    report = run(lines(GOOD, with_extra(b"meta", nested(levels, kind))), chunk=1 << 16)
    assert findings(report) == [(2, "meta", "nesting_too_deep")]
    (error,) = report.errors
    assert f"{MAX_NESTING_DEPTH} levels" in error.message and "flatten" in error.fix and "drop" in error.fix


def test_nesting_is_counted_outside_strings_and_names_an_escaped_field():
    brackets_in_text = with_extra(b"note", b'"' + b"[{" * 3000 + b'"')
    report = run(lines(brackets_in_text, with_extra(b'm\\"eta', nested(2000))), chunk=1 << 16)
    assert findings(report) == [(2, 'm"eta', "nesting_too_deep")]


def test_a_deep_line_that_is_not_a_record_is_rejected_without_a_field():
    report = run(lines(GOOD, nested(3000)), chunk=1 << 16)
    assert findings(report) == [(2, None, "nesting_too_deep")]
    assert findings(run(lines(GOOD, nested(10)))) == [(2, None, "not_an_object")]


def test_the_bound_is_inside_what_orjson_reads_and_writes():
    """The reason for the bound: orjson.dumps (staging's sidecar) refuses past 254 levels and
    orjson.loads (validation, staging) past 1024. If orjson ever changes, revisit the bound."""
    import orjson
    from judgeflow.validation import MAX_NESTING_DEPTH

    assert MAX_NESTING_DEPTH <= 254
    orjson.dumps(orjson.loads(nested(254)))
    with pytest.raises(orjson.JSONEncodeError):
        orjson.dumps(orjson.loads(nested(255)))
    orjson.loads(nested(1024))
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(nested(1025))


def test_a_batch_said_not_to_nest_has_no_line_that_could():
    """line_batches' hint lets validation skip the type look at flat records: it may say "may
    nest" wrongly, never "does not" wrongly."""
    import random
    from judgeflow.validation import line_batches

    rng = random.Random(11)
    pieces = [b'{"p": "x"}', b' {"p": 1}', b'{"a": {"b": 1}}', b'{"a": [1]}', b'{"s": "[{"}', b"\n", b"\n", b"\n"]
    said_flat = 0
    for _ in range(400):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 30)))
        size = rng.choice([5, 16, 64, 1 << 20])
        for lines, _offset, may_nest in line_batches([data[i:i + size] for i in range(0, len(data), size)],
                                                     look_for_nesting=True):
            if not may_nest:
                said_flat += 1
                assert all(b"[" not in bytes(line) and b"{" not in bytes(line[1:]) for line in lines), lines
    assert said_flat > 100  # the hint does say "flat" for flat batches


def test_a_deep_field_is_found_wherever_its_line_falls_in_a_batch():
    deep = with_extra(b"meta", nested(100, "object"))
    data = lines(*[{**GOOD, "prompt": f"q{i}"} for i in range(50)], deep, b"  " + deep)
    for chunk in (7, 1000, 1 << 20):
        assert findings(run(data, chunk=chunk)) == [(51, "meta", "nesting_too_deep"), (52, "meta", "nesting_too_deep")]


@pytest.mark.parametrize("value", [7, "7", None, {"n": 1}])
def test_a_field_named_like_judgeflows_line_number_is_rejected(value):
    report = run(lines(GOOD, {**GOOD, "_line": value}))
    assert findings(report) == [(2, "_line", "reserved_field")]
    (error,) = report.errors
    assert "reserved" in error.message and "rename '_line'" in error.fix


def test_names_near_the_reserved_one_are_ordinary_extra_fields():
    report = run(lines({**GOOD, "line": 1, "_line_": 2, "_Line": 3, "meta": {"_line": 4}}))
    assert report.valid
