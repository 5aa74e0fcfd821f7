"""Safe extraction of output.tar.gz and parsing of the summary and details."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from judgeflow import nova_output
from offline import nova_emulator as emulator

RECIPE = "run: {name: r1, model_name_or_path: nova-micro/prod}\nevaluation: {task: llm_judge}\n"


def archive(members: dict[str, bytes], tweak=None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            if tweak:
                tweak(info)
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buffer.getvalue()


@pytest.mark.parametrize("name, tweak, message", [
    ("../escape.json", None, "escapes the archive"),
    ("/etc/passwd", None, "absolute path"),
    ("link", lambda i: (setattr(i, "type", tarfile.SYMTYPE), setattr(i, "linkname", "/etc/passwd")), "is a link"),
    ("hard", lambda i: (setattr(i, "type", tarfile.LNKTYPE), setattr(i, "linkname", "x")), "is a link"),
    ("dev", lambda i: setattr(i, "type", tarfile.CHRTYPE), "device"),
])
def test_unsafe_members_are_refused(name, tweak, message):
    with pytest.raises(nova_output.OutputError, match=message):
        nova_output.read_archive(archive({name: b"x"}, tweak))


def test_oversized_members_and_corrupt_archives_are_refused():
    with pytest.raises(nova_output.OutputError, match="over the 3 byte limit"):
        nova_output.read_archive(archive({"a.json": b"1234"}), max_member_bytes=3)
    with pytest.raises(nova_output.OutputError, match="not a readable tar archive"):
        nova_output.read_archive(b"not a tar")


def test_summary_required_details_optional():
    with pytest.raises(nova_output.OutputError, match="no summary JSON"):
        nova_output.parse_output({"r1/eval_results/other.txt": b""})
    doc = {"results": {"all": {"a_scores": 1.0, "b_scores": 2.0}}}
    parsed = nova_output.parse_output({"r1/eval_results/results_2025.json": json.dumps(doc).encode()})
    assert parsed.summary == {"a_scores": 1.0, "b_scores": 2.0}
    assert parsed.details is None and "no details Parquet" in parsed.warnings[0]


def test_emulator_output_round_trips_with_labels():
    records = [{"prompt": "capital of france", "response_A": "Paris is the capital of France.", "response_B": "?"}]
    files = nova_output.read_archive(emulator.emulate(records, RECIPE))
    parsed = nova_output.parse_output(files)
    assert parsed.produced_by == "local-emulator"
    assert parsed.summary["a_scores"] == 1.0 and parsed.summary["winrate"] == 0.0
    (row,) = parsed.details.to_pylist()
    assert nova_output.label_of(row["forward_output"]) == "A>B"
    assert nova_output.label_of(row["backward_output"]) == "B>A"
    assert any("|" in name for name in files)  # details names carry '|', as the service's do


def test_rubric_metrics_are_python_literals():
    text = "{'predictions': '[[B>A]]', 'weighted_score_A': 0.4, 'criteria_breakdown': {'c1': {'score_A': 1}}}"
    assert nova_output.parse_rubric_metrics(text)["weighted_score_A"] == 0.4
    assert nova_output.parse_rubric_metrics("not python") == {}
