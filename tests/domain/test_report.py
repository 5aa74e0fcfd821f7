"""The report shows user text (labels, categories, criteria, warnings, run id) as data: the PNG never
as math or TeX, summary.md never as Markdown or HTML."""

from __future__ import annotations

import matplotlib
import pytest
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.mathtext import MathTextParser

from judgeflow import report
from judgeflow.stats import pairwise_stats

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# (id, text): each one goes into both labels, a category, a criterion and a warning.
HOSTILE_TEXTS = [
    ("tex-fraction", r"$\frac{a}{b}$"),
    ("math-superscript", "$x^2$"),
    ("unknown-macro", r"$\undefinedmacro$"),
    ("one-dollar", "a$b"),
    ("unbalanced-dollars", "$a$ costs $"),
    ("escaped-dollar", r"\$5 \$6"),
    ("backslash-n", r"\n"),
    ("whitespace-only", "   "),
    ("emoji-only", "\U0001f916\U0001f525"),
    ("right-to-left", "\u05de\u05d5\u05d3\u05dc \u0646\u0645\u0648\u0630\u062c"),
    ("html-and-markdown", "<b>x</b> *b* [x](j:a) | `c`"),  # short enough to be shown whole
]


def summary_with(text: str, *, category: str | None = None) -> dict:
    category = text if category is None else category
    ours = pairwise_stats(6, 9, 2, 1).as_dict()
    return {
        "run_id": "jf-0123456789abcdef0123",
        "produced_by": "local-emulator",
        "task": "llm_judge",
        "judge_model": "micro",
        "model_a": text,
        "model_b": text + " v2",
        "service_metrics": {"winrate": 0.6, "lower_rate": 0.4, "upper_rate": 0.75},
        "judgeflow_statistics": {**ours, "agreement_rate": 0.9},
        "per_category": [
            {"category": category, "A": 3, "B": 5, "tie": 1, "error": 0, "b_share": 0.625, "wilson_low": 0.3,
             "wilson_high": 0.86},
            {"category": "plain", "A": 3, "B": 4, "tie": 1, "error": 1, "b_share": 0.57, "wilson_low": 0.25,
             "wilson_high": 0.84},
        ],
        "criteria": [{"name": text, "mean_a": 3.1, "mean_b": 3.6, "items": 18}],
        "warnings": [text],
    }


@pytest.fixture()
def drawn(monkeypatch):
    """What Agg drew: (string, ismath) for each text line, TeX strings, and mathtext parses."""
    record = {"text": [], "tex": [], "math_parsed": []}
    draw_text, draw_tex, parse = RendererAgg.draw_text, RendererAgg.draw_tex, MathTextParser.parse

    def spy_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        record["text"].append((s, ismath))
        return draw_text(self, gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)

    def spy_tex(self, gc, x, y, s, *args, **kwargs):
        record["tex"].append(s)
        return draw_tex(self, gc, x, y, s, *args, **kwargs)

    def spy_parse(self, s, *args, **kwargs):
        record["math_parsed"].append(s)
        return parse(self, s, *args, **kwargs)

    monkeypatch.setattr(RendererAgg, "draw_text", spy_text)
    monkeypatch.setattr(RendererAgg, "draw_tex", spy_tex)
    monkeypatch.setattr(MathTextParser, "parse", spy_parse)
    return record


@pytest.mark.parametrize("text", [t for _, t in HOSTILE_TEXTS], ids=[i for i, _ in HOSTILE_TEXTS])
def test_png_draws_hostile_text_verbatim_never_as_math(drawn, text):
    png = report.render_png(summary_with(text))

    assert png.startswith(PNG_SIGNATURE)
    assert drawn["math_parsed"] == [] and drawn["tex"] == []
    assert all(ismath is False for _, ismath in drawn["text"])
    strings = [s for s, _ in drawn["text"]]
    # Tick labels are drawn line by line ("<label>\n(A)"), the pie and legend as "<label> (A)".
    assert text in strings and f"{text} (A)" in strings and f"{text} v2 (B)" in strings


def test_a_matplotlibrc_with_usetex_cannot_turn_tex_on(drawn):
    with matplotlib.rc_context({"text.usetex": True, "text.parse_math": True}):
        png = report.render_png(summary_with("$x^2$"))
    assert png.startswith(PNG_SIGNATURE)
    assert drawn["tex"] == [] and drawn["math_parsed"] == []


def test_long_and_multiline_text_is_cut_for_display_only(drawn):
    long_category = "c" * 10_000
    summary = summary_with("first line\nsecond line", category=long_category)
    png = report.render_png(summary)

    assert png.startswith(PNG_SIGNATURE)
    strings = [s for s, _ in drawn["text"]]
    assert "first line second line (A)" in strings
    shown = "c" * (report.LABEL_DISPLAY_CHARS - 1) + "\u2026"
    assert shown in strings and max(len(s) for s in strings) < 200
    assert summary["per_category"][0]["category"] == long_category  # the data is untouched
    assert long_category in report.render_markdown(summary)


@pytest.mark.parametrize("value, escaped", [
    ("<script>alert(1)</script>", r"&lt;script&gt;alert\(1\)&lt;/script&gt;"),
    ("*bold* _it_", r"\*bold\* \_it\_"),
    ("[link](javascript:alert(1))", r"\[link\]\(javascript\:alert\(1\)\)"),
    ("![img](x.png)", r"\!\[img\]\(x.png\)"),
    ("a | b", r"a \| b"),
    ("`code` ~~gone~~", r"\`code\` \~\~gone\~\~"),
    ("# heading", r"\# heading"),
    ("two\nlines\r\nand\u2028more", "two lines and more"),
    ("$x^2$", r"\$x^2\$"),
    ("&amp; &#60;", "&amp;amp; &amp;\\#60;"),
    ("back\\slash", "back\\\\slash"),
    ("@team :smile:", r"\@team \:smile\:"),
    ("gpt-4.1 (v2)", r"gpt-4.1 \(v2\)"),
], ids=["html", "emphasis", "link", "image", "pipe", "code-strike", "heading", "line-breaks", "math", "entities",
        "backslash", "mention-emoji", "ordinary-label"])
def test_markdown_text_escapes_each_special(value, escaped):
    assert report.markdown_text(value) == escaped


HOSTILE_MARKDOWN = [
    "<script>alert(1)</script>",
    "*bold* __strong__",
    "[link](javascript:alert(1))",
    "cell | break | out",
    "`rm -rf /`",
    "# heading",
    "<img src=x onerror=alert(1)>",
    "&lt;script&gt;",
    "line\nbreak | inside",
]


@pytest.fixture()
def commonmark():
    markdown_it = pytest.importorskip("markdown_it")  # the oracle: a CommonMark parser with GFM tables
    return markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])


@pytest.mark.parametrize("value", HOSTILE_MARKDOWN)
def test_markdown_text_reads_back_as_the_same_plain_text(commonmark, value):
    tokens = commonmark.parseInline(report.markdown_text(value))[0].children
    assert [token.type for token in tokens] == ["text"]
    assert tokens[0].content == " ".join(value.splitlines())


def test_summary_md_keeps_every_user_value_as_text(commonmark):
    value = " ".join(HOSTILE_MARKDOWN)
    summary = summary_with(value)
    summary["run_id"] = "# <script>x</script>"
    markdown = report.render_markdown(summary)

    assert "<script" not in markdown and "<img" not in markdown
    tokens = commonmark.parse(markdown)
    kinds = {token.type for token in tokens} | {child.type for token in tokens for child in token.children or []}
    assert not kinds & {"html_block", "html_inline", "link_open", "image", "code_inline", "em_open", "s_open"}
    assert sum(token.type == "strong_open" for t in tokens for token in t.children or []) == 2  # ours only
    def shown_text(inline) -> str:
        return "".join(child.content for child in inline.children if child.type == "text")

    headings = [shown_text(tokens[i + 1]) for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings[0] == "judgeflow run # <script>x</script>"
    cells_per_row: list[int] = []
    for token in tokens:
        if token.type == "tr_open":
            cells_per_row.append(0)
        elif token.type in ("td_open", "th_open"):
            cells_per_row[-1] += 1
    assert set(cells_per_row) == {2}
    flat = " ".join(value.splitlines())
    inline_texts = [shown_text(t) for t in tokens if t.type == "inline"]
    assert f"category {flat}: B share [Wilson]" in inline_texts
    assert flat in inline_texts  # the warnings list
