"""The S3 layout and the texts built from user keys stay within what AWS accepts."""

from __future__ import annotations

import pytest

from judgeflow import layout
from judgeflow.adapters.notifications import email_subject


def test_a_rejection_report_sits_next_to_the_name_the_user_gave():
    assert layout.rejection_report_key("incoming/team/a b.jsonl") == "rejected/team/a b.jsonl.report.json"


@pytest.mark.parametrize("name", ["d" * 1010, "é" * 505, "日本" * 170 + "x"])
def test_a_report_key_never_passes_the_s3_limit_nor_cuts_a_character(name):
    key = layout.rejection_report_key(f"incoming/{name}.jsonl")
    assert len(key.encode("utf-8")) <= layout.MAX_KEY_BYTES
    assert key.startswith("rejected/" + name[:100]) and key.endswith(layout.REPORT_SUFFIX)
    other = layout.rejection_report_key(f"incoming/{name}2.jsonl")
    assert other != key  # the digest keeps two long names apart


@pytest.mark.parametrize("text, expected", [
    ("judgeflow: run jf-1 SUCCEEDED", "judgeflow: run jf-1 SUCCEEDED"),
    ("judgeflow: dataset rejected (a\r\nb\tc.jsonl)", "judgeflow: dataset rejected (a b c.jsonl)"),
    ("x" * 120, "x" * 96 + "..."),
])
def test_an_email_subject_is_what_sns_accepts(text, expected):
    assert email_subject(text) == expected and len(expected) < 100
