"""The report picture (PNG) and the Markdown summary of one run.

Labels, category and criterion names, warnings and the run id come from users and datasets: both
renderings show them as plain text, never as math, TeX, Markdown or HTML.
"""

from __future__ import annotations

import html
import io
import math
import re
import warnings
from typing import Any, Mapping

import matplotlib

matplotlib.use("Agg")  # headless: Lambda and CI have no display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Wedge  # noqa: E402

COLOR_A, COLOR_B, COLOR_TIE, COLOR_ERR = "#4C72B0", "#DD8452", "#8C8C8C", "#C44E52"

# Every Text the figure creates (titles, tick labels, legends, annotations, table cells, pie labels)
# takes parse_math and usetex from these rcParams when it is created, and tick labels are created
# while drawing: so the whole render, savefig included, runs under them. Pinned here so neither a
# `$...$` in a label nor a matplotlibrc with `text.usetex: True` can make matplotlib interpret text.
PLAIN_TEXT_RC = {"text.parse_math": False, "text.usetex": False, "axes.formatter.use_mathtext": False}
# Display lengths only: the data (Parquet, summary.json, summary.md) keeps the full text.
LABEL_DISPLAY_CHARS = 40
TITLE_DISPLAY_CHARS = 60
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def _shown(value: Any, limit: int = LABEL_DISPLAY_CHARS) -> str:
    """User text as the picture shows it: on one line (our layout places the line breaks) and cut
    with an ellipsis past `limit` characters."""
    text = _CONTROL_CHARACTERS.sub(" ", str(value))
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def _fmt(value: Any, pattern: str = "{:.3f}") -> str:
    return "-" if value is None else pattern.format(value)


def counted_over(statistics: Mapping[str, Any]) -> str:
    """What judgeflow's counts and interval are over, in words (the statistics' `unit`)."""
    if statistics.get("unit", "item") == "item":
        return "items, each counted once (from the details)"
    return (f"the service's {statistics['unit']}s (no per-item details; the service judges an item more than "
            "once, the pairwise judge in both orders, so this interval is narrower than one over items)")


def render_png(summary: Mapping[str, Any]) -> bytes:
    with matplotlib.rc_context(PLAIN_TEXT_RC), warnings.catch_warnings():
        # A label in a script the font lacks (emoji, say) is drawn as boxes; not worth a warning per glyph.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font", category=UserWarning)
        return _render_png(summary)


def _render_png(summary: Mapping[str, Any]) -> bytes:
    ours = summary["judgeflow_statistics"]
    service = summary["service_metrics"]
    label_a, label_b = _shown(summary.get("model_a", "A")), _shown(summary.get("model_b", "B"))
    counts = [ours["a_wins"], ours["b_wins"], ours["ties"], ours["errors"]]
    unit = ours.get("unit", "item")
    categories = summary.get("per_category") or []
    criteria = summary.get("criteria") or []
    extra_panels = [panel for panel, present in (("categories", categories), ("criteria", criteria)) if present]
    rows = 2 + len(extra_panels)
    fig = plt.figure(figsize=(16, 4.6 * rows), dpi=100)
    grid = fig.add_gridspec(rows, 3, hspace=0.55, wspace=0.3)
    title = (f"{_shown(label_b, TITLE_DISPLAY_CHARS // 2)} (B) vs {_shown(label_a, TITLE_DISPLAY_CHARS // 2)} (A)"
             f" - judge {_shown(summary.get('judge_model') or '?')} - verdict: {ours['verdict']}")
    fig.suptitle(title, fontsize=15, fontweight="bold")
    if summary.get("produced_by") == "local-emulator":
        fig.text(0.5, 0.955, "Produced by the local-emulator (deterministic rule, not a Nova judge)",
                 ha="center", color=COLOR_ERR, fontsize=11)

    ax = fig.add_subplot(grid[0, 0])
    names = [f"{label_a}\n(A)", f"{label_b}\n(B)", "Ties", "Errors"]
    bars = ax.bar(names, counts, color=[COLOR_A, COLOR_B, COLOR_TIE, COLOR_ERR])
    ax.bar_label(bars)
    ax.set_title("Score distribution")
    ax.set_ylabel(f"{unit}s")

    ax = fig.add_subplot(grid[0, 1])
    ax.axvline(0.5, color="black", linestyle="--", linewidth=1, label="no preference (50%)")
    ypos = []
    if service.get("winrate") is not None:
        low, high = service.get("lower_rate"), service.get("upper_rate")
        err = [[service["winrate"] - (low if low is not None else service["winrate"])],
               [(high if high is not None else service["winrate"]) - service["winrate"]]]
        ax.errorbar(service["winrate"], 1, xerr=err, fmt="o", color=COLOR_B, capsize=6, label="service winrate")
        ypos.append((1, "service\n(Bradley-Terry)"))
    if ours.get("b_share_decisive") is not None:
        share = ours["b_share_decisive"]
        ax.errorbar(share, 0, xerr=[[share - ours["wilson_low"]], [ours["wilson_high"] - share]], fmt="s",
                    color=COLOR_A, capsize=6, label="judgeflow Wilson 95%")
        ypos.append((0, "judgeflow\n(B share of\ndecisive, Wilson)"))
    ax.set_yticks([p for p, _ in ypos], [t for _, t in ypos])
    ax.set_ylim(-0.8, 2.2)
    ax.set_xlim(-0.03, 1.03)
    ax.set_title("Win rate of B with 95% interval")
    ax.legend(loc="upper center", fontsize=8, ncol=2)

    ax = fig.add_subplot(grid[0, 2])
    slices = [(count, name, color) for count, name, color in
              zip(counts[:3], [f"{label_a} (A)", f"{label_b} (B)", "Tie"], [COLOR_A, COLOR_B, COLOR_TIE]) if count]
    if slices:  # empty slices would only stack their labels on top of each other
        ax.pie([c for c, _, _ in slices], labels=[n for _, n, _ in slices], colors=[c for _, _, c in slices],
               autopct="%1.0f%%", startangle=90)
    ax.set_title(f"Preference shares (judged {unit}s)")

    ax = fig.add_subplot(grid[1, 0])
    bars = ax.barh([f"{label_a} (A)", f"{label_b} (B)"], counts[:2], color=[COLOR_A, COLOR_B])
    ax.bar_label(bars)
    margin = counts[1] - counts[0]
    leader = label_b if margin > 0 else label_a if margin < 0 else "neither"
    ax.set_title(f"A vs B wins - margin {abs(margin)} for {leader}")

    ax = fig.add_subplot(grid[1, 1])
    rate = ours.get("b_share_decisive")
    # Angles run counter-clockwise from the right: B (rate 1) is on the right, A on the left.
    for start, end, color in ((0, 60, COLOR_B), (60, 120, COLOR_TIE), (120, 180, COLOR_A)):
        ax.add_patch(Wedge((0, 0), 1, start, end, width=0.3, color=color, alpha=0.6))
    if rate is not None:
        angle = math.radians(180 * (1 - rate))
        ax.annotate("", xy=(0.85 * math.cos(angle), 0.85 * math.sin(angle)), xytext=(0, 0),
                    arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 2})
        ax.text(0, -0.2, f"B wins {rate:.0%} of decisive {unit}s", ha="center", fontsize=11)
    ax.text(-1, -0.08, "A", ha="center"), ax.text(1, -0.08, "B", ha="center")
    ax.set_xlim(-1.2, 1.2), ax.set_ylim(-0.35, 1.1)
    ax.set_aspect("equal"), ax.axis("off")
    ax.set_title("Win-rate gauge")

    ax = fig.add_subplot(grid[1, 2])
    ax.axis("off")
    table_rows = [
        ["counted over", f"{unit}s" if unit == "item" else f"service {unit}s (no details)"],
        [f"{unit}s", str(ours["total"])],
        ["A / B / ties / errors", " / ".join(str(c) for c in counts)],
        ["service winrate [low, high]", f"{_fmt(service.get('winrate'), '{:.2f}')} "
                                        f"[{_fmt(service.get('lower_rate'), '{:.2f}')}, "
                                        f"{_fmt(service.get('upper_rate'), '{:.2f}')}]"],
        ["judgeflow B share (Wilson)", f"{_fmt(ours.get('b_share_decisive'))} "
                                       f"[{_fmt(ours.get('wilson_low'))}, {_fmt(ours.get('wilson_high'))}]"],
        ["tie-as-half win rate", _fmt(ours.get("tie_half_win_rate"))],
        ["error rate", _fmt(ours.get("error_rate"), "{:.1%}")],
        ["order agreement", _fmt(ours.get("agreement_rate"), "{:.1%}")],
        ["verdict", ours["verdict"]],
    ]
    table = ax.table(cellText=table_rows, colLabels=["metric", "value"], loc="center", cellLoc="left",
                     colWidths=[0.62, 0.48])
    table.auto_set_font_size(False)
    table.set_fontsize(10)
    table.scale(1, 1.5)
    ax.set_title("Summary")

    if criteria:
        ax = fig.add_subplot(grid[2 + extra_panels.index("criteria"), :])
        positions = range(len(criteria))
        ax.bar([p - 0.2 for p in positions], [c["mean_a"] for c in criteria], width=0.4, color=COLOR_A,
               label=f"{label_a} (A)")
        ax.bar([p + 0.2 for p in positions], [c["mean_b"] for c in criteria], width=0.4, color=COLOR_B,
               label=f"{label_b} (B)")
        ax.set_xticks(list(positions), [f"{_shown(c['name'])}\n(n={c['items']})" for c in criteria])
        ax.set_ylabel("mean criterion score")
        ax.legend()
        ax.set_title("Rubric criteria: mean score per response")

    if categories:
        ax = fig.add_subplot(grid[2 + extra_panels.index("categories"), :])
        values = [c["b_share"] if c["b_share"] is not None else float("nan") for c in categories]
        lows = [v - c["wilson_low"] if c["wilson_low"] is not None else 0 for v, c in zip(values, categories)]
        highs = [c["wilson_high"] - v if c["wilson_high"] is not None else 0 for v, c in zip(values, categories)]
        ax.errorbar(range(len(categories)), values, yerr=[lows, highs], fmt="o", color=COLOR_B, capsize=5)
        ax.axhline(0.5, color="black", linestyle="--", linewidth=1)
        ax.set_xticks(range(len(categories)),
                      [f"{_shown(c['category'])}\n(n={c['A'] + c['B'] + c['tie'] + c['error']})" for c in categories])
        ax.set_ylim(0, 1)
        ax.set_ylabel("B share of decisive")
        ax.set_title("Per-category win rate of B (Wilson 95%)")

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


# What CommonMark, GitHub-flavoured tables/strikethrough and GitHub's own extensions (math, emoji
# shortcodes, @mentions) give a meaning to inside a line. Block markers (`-`, `+`, `1.`, `>`) only
# act at the start of a line, and user text never starts one (line breaks are flattened); `#` is
# escaped anyway. `&`, `<` and `>` become entities instead, so no HTML tag or entity survives.
_MARKDOWN_INLINE_SPECIAL = re.compile(r"([\\`*_\[\]()!|~$:@#])")
_LINE_BREAKS = re.compile(r"\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")


def markdown_text(value: Any) -> str:
    """`value` as literal text inside one Markdown line or table cell.

    No library does this one job: Markdown packages render Markdown (markdown-it-py is the oracle
    in the tests), escaping is a few lines once the special characters are listed."""
    one_line = _LINE_BREAKS.sub(" ", str(value))
    return _MARKDOWN_INLINE_SPECIAL.sub(r"\\\1", html.escape(one_line, quote=False))


def render_markdown(summary: Mapping[str, Any]) -> str:
    ours = summary["judgeflow_statistics"]
    service = summary["service_metrics"]
    text = markdown_text
    lines = [
        f"# judgeflow run {text(summary['run_id'])}",
        "",
        f"- produced by: **{text(summary.get('produced_by'))}**",
        f"- task: {text(summary.get('task'))}, judge: {text(summary.get('judge_model'))}",
        f"- A = {text(summary.get('model_a'))}, B = {text(summary.get('model_b'))}",
        f"- verdict: **{text(ours['verdict'])}** ({text(ours['verdict_reason'])})",
        "",
        "| metric | value |",
        "|---|---|",
        f"| counted over | {text(counted_over(ours))} |",
        f"| A / B / ties / errors ({text(ours.get('unit', 'item'))}s) | {ours['a_wins']} / {ours['b_wins']} / "
        f"{ours['ties']} / {ours['errors']} |",
        f"| service a_scores / b_scores / ties / inference_error ({text(summary.get('service_count_unit'))}s) | "
        f"{' / '.join(text(service.get(name)) for name in ('a_scores', 'b_scores', 'ties', 'inference_error'))} |",
        f"| service winrate [lower, upper] | {text(service.get('winrate'))} [{text(service.get('lower_rate'))}, "
        f"{text(service.get('upper_rate'))}] |",
        f"| judgeflow B share of decisive, Wilson 95% | {_fmt(ours.get('b_share_decisive'))} "
        f"[{_fmt(ours.get('wilson_low'))}, {_fmt(ours.get('wilson_high'))}] |",
        f"| tie-as-half win rate | {_fmt(ours.get('tie_half_win_rate'))} |",
        f"| error rate | {_fmt(ours.get('error_rate'), '{:.1%}')} |",
        f"| forward/backward agreement | {_fmt(ours.get('agreement_rate'), '{:.1%}')} |",
    ]
    for category in summary.get("per_category") or []:
        lines.append(f"| category {text(category['category'])}: B share [Wilson] | {_fmt(category['b_share'])} "
                     f"[{_fmt(category['wilson_low'])}, {_fmt(category['wilson_high'])}] |")
    warnings_found = summary.get("warnings") or []
    if warnings_found:
        lines += ["", "## warnings", "", *(f"- {text(warning)}" for warning in warnings_found)]
    return "\n".join(lines) + "\n"
