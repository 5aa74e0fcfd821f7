"""Safe extraction of output.tar.gz and parsing of the summary and details."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from judgeflow import nova_output
from offline import nova_emulator as emulator
from tests.forms.published import archive

RECIPE = "run: {name: r1, model_name_or_path: nova-micro/prod}\nevaluation: {task: llm_judge}\n"


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


def test_corrupt_archives_are_refused():
    with pytest.raises(nova_output.OutputError, match="not a readable tar archive"):
        nova_output.read_archive(b"not a tar")
    with pytest.raises(nova_output.OutputError, match="not a readable tar archive"):
        nova_output.read_archive(archive({"a.json": b"1234"})[:-30])  # cut short


class _Unseekable(io.RawIOBase):
    """A compressed stream that cannot seek, as an S3 body."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer):
        chunk = self._data.read(len(buffer))
        buffer[:len(chunk)] = chunk
        return len(chunk)


def test_a_compression_bomb_is_refused_while_it_streams():
    # 64 MiB of zeros in one entry compresses to ~64 KiB; the bound is 1 MiB unpacked.
    bomb = archive({"r1/eval_results/details/d.parquet": bytes(64 << 20)})
    source = _Unseekable(bomb)
    limits = nova_output.ArchiveLimits(max_unpacked_bytes=1 << 20)
    # Refused from the entry's header, before its 64 MiB are unpacked.
    with pytest.raises(nova_output.OutputError, match="d.parquet' is 67108864 bytes.*results_max_unpacked_bytes"):
        nova_output.read_archive(source, limits=limits)


def test_the_unpacked_bound_counts_every_entry_and_the_headers():
    members = {f"r1/eval_results/part{i}.bin": bytes(300 << 10) for i in range(5)}  # 1.5 MiB in all
    with pytest.raises(nova_output.OutputError, match="results_max_unpacked_bytes"):
        nova_output.read_archive(archive(members), limits=nova_output.ArchiveLimits(max_unpacked_bytes=1 << 20))
    assert len(nova_output.read_archive(archive(members), limits=nova_output.ArchiveLimits(2 << 20))) == 5


def test_too_many_entries_are_refused_at_the_first_one_over():
    members = {f"r1/eval_results/{i}.txt": b"" for i in range(11)}
    with pytest.raises(nova_output.OutputError, match="more than 10 entries .setting results_max_members"):
        nova_output.read_archive(archive(members), limits=nova_output.ArchiveLimits(max_members=10))
    assert len(nova_output.read_archive(archive(members), limits=nova_output.ArchiveLimits(max_members=11))) == 11


def test_summary_required_details_optional():
    with pytest.raises(nova_output.OutputError, match="no summary JSON"):
        nova_output.parse_output({"r1/eval_results/other.txt": b""}, task="llm_judge")
    doc = {"results": {"all": {"a_scores": 1.0, "b_scores": 2.0}}}
    parsed = nova_output.parse_output({"r1/eval_results/results_2025.json": json.dumps(doc).encode()},
                                      task="llm_judge")
    assert parsed.summary == {"a_scores": 1.0, "b_scores": 2.0}
    assert parsed.details is None and "no details Parquet" in parsed.warnings[0]


def test_emulator_output_round_trips_with_labels():
    records = [{"prompt": "capital of france", "response_A": "Paris is the capital of France.", "response_B": "?"}]
    files = nova_output.read_archive(emulator.emulate(records, RECIPE))
    parsed = nova_output.parse_output(files, task="llm_judge")
    assert parsed.produced_by == "local-emulator"
    assert parsed.summary["a_scores"] == 2.0 and parsed.summary["winrate"] == 0.0
    (row,) = parsed.details.table.to_pylist()
    assert nova_output.label_of(row["forward_output"]) == "A>B"
    assert nova_output.label_of(row["backward_output"]) == "B>A"
    assert any("|" in name for name in files)  # details names carry '|', as the service's do


def test_rubric_metrics_are_python_literals():
    text = "{'predictions': '[[B>A]]', 'weighted_score_A': 0.4, 'criteria_breakdown': {'c1': {'score_A': 1}}}"
    assert nova_output.parse_metrics(text)["weighted_score_A"] == 0.4
    assert nova_output.parse_metrics("not python") == {}


@pytest.mark.parametrize("document, words", [
    (b"{not json", "the summary is not JSON"),
    (b"\xff\xfe", "the summary is not JSON"),
    (b"[]", "field 'results' is missing or not an object"),
    (json.dumps({"results": {"all": [1, 2]}}).encode(), "field 'results.all' is missing or not an object"),
    (json.dumps({"results": {"all": {"a_scores": "12"}}}).encode(), "field 'results.all.a_scores' must be a count"),
    (json.dumps({"results": {"all": {"ties": -1}}}).encode(), "field 'results.all.ties' must be a count"),
    (json.dumps({"results": {"all": {"winrate": True}}}).encode(), "field 'results.all.winrate' must be a finite"),
    (b'{"results": {"all": {"lower_rate": NaN}}}', "field 'results.all.lower_rate' must be a finite"),
], ids=["not-json", "not-utf8", "array", "all-not-object", "count-as-text", "negative-count", "bool-rate", "nan"])
def test_a_malformed_summary_names_the_file_and_the_field(document, words):
    path = "r1/eval_results/results_2025.json"
    with pytest.raises(nova_output.OutputError, match=f"^{path}: .*") as raised:
        nova_output.parse_output({path: document}, task="llm_judge")
    assert words in str(raised.value)
