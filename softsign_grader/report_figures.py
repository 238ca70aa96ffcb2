"""The class report's figures: matplotlib charts as base64 PNG images, each with its alt text.

Colours are Okabe and Ito's colour-blind-safe palette, and every bar also carries a hatch,
so the charts read in grey too.
"""

from __future__ import annotations

import base64
import io
from collections import Counter
from typing import Any

from softsign_grader.report_model import ClassReport, ExerciseSummary

__all__ = ["difficulty_figure", "points_figure", "totals_figure"]

#: Okabe and Ito's colour-blind-safe palette: full, partial, zero points (and more).
FULL_COLOUR, PARTIAL_COLOUR, ZERO_COLOUR = "#009E73", "#E69F00", "#D55E00"
BLUE, SKY, GREY = "#0072B2", "#56B4E9", "#999999"


def _figure_png(figure: Any) -> str:
    """The figure as a base64 PNG (and the figure closed)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def points_figure(exercise: ExerciseSummary) -> tuple[str, str]:
    """The bar chart of the points the students earned on one exercise: (PNG, alt text)."""
    import matplotlib.pyplot as plt

    counts = Counter(exercise.points.values())
    values = sorted(set(counts) | {0.0, exercise.max_score})
    colours, hatches = [], []
    for value in values:
        if value >= exercise.max_score and exercise.max_score:
            colours.append(FULL_COLOUR)
            hatches.append("")
        elif value > 0:
            colours.append(PARTIAL_COLOUR)
            hatches.append("//")
        else:
            colours.append(ZERO_COLOUR)
            hatches.append("xx")
    figure, axes = plt.subplots(figsize=(4.2, 2.4))
    bars = axes.bar(
        [f"{value:g}" for value in values],
        [counts.get(value, 0) for value in values],
        color=colours,
        edgecolor="black",
        linewidth=0.6,
    )
    for bar, hatch in zip(bars, hatches, strict=True):
        bar.set_hatch(hatch)
    axes.set_xlabel(f"points earned (of {exercise.max_score:g})")
    axes.set_ylabel("students")
    axes.set_title(exercise.name, fontsize=10)
    from matplotlib.ticker import MaxNLocator

    axes.yaxis.set_major_locator(MaxNLocator(nbins="auto", steps=[1, 2, 2.5, 5, 10], integer=True))
    axes.spines[["top", "right"]].set_visible(False)
    parts = ", ".join(
        f"{counts.get(value, 0)} with {value:g} points" for value in values if counts.get(value)
    )
    alt = f"Bar chart of the points earned on {exercise.name}: {parts}."
    return _figure_png(figure), alt


def totals_figure(report: ClassReport) -> tuple[str, str]:
    """The histogram of the students' totals: (PNG, alt text)."""
    import matplotlib.pyplot as plt

    totals = [row.total for row in report.students]
    top = report.max_score or 1.0
    figure, axes = plt.subplots(figsize=(6.0, 2.8))
    whole_points = top <= 40 and all(float(t).is_integer() for t in totals)
    bins: Any = [x - 0.5 for x in range(int(top) + 2)] if whole_points else 20
    axes.hist(
        totals,
        bins=bins,
        range=None if whole_points else (0, top),
        color=BLUE,
        edgecolor="black",
        linewidth=0.6,
        hatch="..",
    )
    axes.set_xlabel(f"total points (of {top:g})")
    axes.set_ylabel("students")
    from matplotlib.ticker import MaxNLocator

    axes.yaxis.set_major_locator(MaxNLocator(nbins="auto", steps=[1, 2, 2.5, 5, 10], integer=True))
    axes.spines[["top", "right"]].set_visible(False)
    median = sorted(totals)[len(totals) // 2] if totals else 0.0
    alt = (
        f"Histogram of the {len(totals)} students' totals out of {top:g} points; "
        f"the median total is {median:g}."
    )
    return _figure_png(figure), alt


def difficulty_figure(report: ClassReport) -> tuple[str, str]:
    """The exercises' mean shares of the points graded, hardest first: (PNG, alt text)."""
    import matplotlib.pyplot as plt

    ranked = report.ranked_exercises()
    figure, axes = plt.subplots(figsize=(6.0, 0.45 * len(ranked) + 1.0))
    names = [exercise.name for exercise in ranked][::-1]
    shares = [100 * (exercise.mean_share or 0.0) for exercise in ranked][::-1]
    axes.barh(names, shares, color=SKY, edgecolor="black", linewidth=0.6, hatch="//")
    for y, share in enumerate(shares):
        axes.text(share + 1, y, f"{share:.0f}%", va="center", fontsize=9)
    axes.set_xlim(0, 110)
    axes.set_xticks(range(0, 101, 20))
    axes.set_xlabel("mean share of the exercise's points earned (%)")
    axes.set_ylabel("exercise")
    axes.spines[["top", "right"]].set_visible(False)
    listed = "; ".join(f"{e.name} {100 * (e.mean_share or 0.0):.0f}%" for e in ranked)
    alt = f"Horizontal bar chart of the exercises, hardest first: {listed}."
    unranked = report.unranked_exercises()
    if unranked:
        names_left = ", ".join(e.name for e in unranked)
        alt += f" Not shown, as no cell is graded yet: {names_left}."
    return _figure_png(figure), alt
