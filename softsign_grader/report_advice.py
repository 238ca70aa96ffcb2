"""The class report's advice: the things most worth revisiting in class, in plain sentences.

Generated from the numbers alone (:class:`softsign_grader.report_model.ClassReport`): the
most frequent diagnosed misconceptions and wrong answers the checks could not name, then
the hardest exercises by mean share of points.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from source_lib.grading.messages import NOT_TAUGHT

if TYPE_CHECKING:
    from softsign_grader.report_model import ClassReport, ExerciseSummary, Finding

__all__ = ["paragraph", "revisit"]

_ORDINALS = ["First", "Second", "Third", "Fourth", "Fifth"]
_NUMBERS = {1: "one thing", 2: "two things", 3: "three things"}


def _share(count: int, whole: int) -> str:
    return f"{count} of {whole} students ({100 * count / whole:.0f}%)" if whole else "no students"


def _awaiting(count: int) -> str:
    """``"22 cells still await"`` (or ``"1 cell still awaits"``)."""
    return f"{count} cells still await" if count != 1 else "1 cell still awaits"


def _misconception(finding: Finding) -> bool:
    """Whether a diagnosed mistake is worth teaching (a wrong answer, not a stopped kernel).

    The failure's kind decides: one in :data:`source_lib.grading.messages.NOT_TAUGHT`
    (the code stopped, vanished or cheated) is no misconception.
    """
    return finding.verdict in ("fail", "error") and finding.failure not in NOT_TAUGHT


def _candidates(report: ClassReport) -> list[tuple[int, float, int, str]]:
    """(students, points lost, position, sentence) of each misconception and unnamed failure."""
    whole = len(report.students)
    candidates: list[tuple[int, float, int, str]] = []
    for position, exercise in enumerate(report.exercises):
        lost = exercise.max_score * len(exercise.points) - sum(exercise.points.values())
        for finding in exercise.mistakes:
            if not _misconception(finding):
                continue
            candidates.append(
                (
                    finding.count,
                    lost,
                    position,
                    f"{exercise.name}: {_share(finding.count, whole)} made the mistake the "
                    f"checks explain as \u201c{finding.text}\u201d",
                )
            )
        unnamed = exercise.no_known_pattern
        if unnamed:
            candidates.append(
                (
                    unnamed,
                    lost,
                    position,
                    f"{exercise.name}: {_share(unnamed, whole)} gave wrong answers the checks "
                    "could not name; their notebooks may show a misconception the hints miss",
                )
            )
    return candidates


def _hard_exercise(exercise: ExerciseSummary, whole: int) -> str:
    """The sentence on an exercise that is hard by its scores alone."""
    return (
        f"{exercise.name}: the class earned {100 * (exercise.mean_share or 0.0):.0f}% of its "
        f"{exercise.max_score:g} points on average"
        + (
            f", and {_share(len(exercise.not_attempted), whole)} did not attempt it"
            if exercise.not_attempted
            else ""
        )
    )


def revisit(report: ClassReport, count: int) -> list[str]:
    """The ``count`` things most worth revisiting in class, as plain sentences."""
    candidates = _candidates(report)
    candidates.sort(key=lambda c: (-c[0], -c[1], c[2]))
    chosen = [text for *_, text in candidates[:count]]
    if len(chosen) < count:
        named = {text.split(":")[0] for text in chosen}
        for exercise in report.ranked_exercises():
            if len(chosen) >= count or (exercise.mean_share or 0.0) >= 1.0:
                break
            if exercise.name in named or exercise.waiting:
                continue
            chosen.append(_hard_exercise(exercise, len(report.students)))
    return chosen


def paragraph(report: ClassReport) -> str:
    """The report's paragraph on what to revisit in class (plain text)."""
    items = report.revisit()
    whole = len(report.students)
    if not whole:
        return "The gradebook holds no students yet."
    if not items and report.awaiting_manual_grade:
        return (
            f"Nothing to revisit yet: {_awaiting(report.awaiting_manual_grade)} "
            "a manual grade in formgrader, counting 0 in the totals until then."
        )
    if not items:
        return f"All {whole} students earned every point: nothing to revisit."
    sentences = [
        f"{_ORDINALS[i] if i < len(_ORDINALS) else 'Next'}, {item}." for i, item in enumerate(items)
    ]
    intro = f"The {_NUMBERS.get(len(items), f'{len(items)} things')} most worth revisiting in class"
    if not report.has_diagnoses:
        intro += " (from the scores alone, since no diagnoses were recorded)"
    text = f"{intro}: " + " ".join(sentences)
    if report.awaiting_manual_grade:
        text += (
            f" {_awaiting(report.awaiting_manual_grade)} a manual grade in "
            "formgrader; until then they count 0 in the totals, and the exercises' "
            "shares of points leave them out."
        )
    return text
