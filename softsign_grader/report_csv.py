"""The class report's CSV files: the students, the exercises and the findings, for a spreadsheet.

``ASSIGNMENT_students.csv`` (each student's total, points per exercise and what was
missed), ``ASSIGNMENT_exercises.csv`` (the exercises, hardest first by the cells graded; those
with every cell awaiting a manual grade last, with no rank) and
``ASSIGNMENT_mistakes.csv`` (every finding of every exercise, ranked, with its example).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from softsign_grader.report_model import ClassReport

__all__ = ["write_csv_files"]

EXERCISE_COLUMNS = [
    "difficulty_rank",
    "exercise",
    "notebook",
    "max_score",
    "mean_share",
    "full",
    "partial",
    "zero",
    "not_attempted",
    "awaiting_grade",
    "diagnosed",
    "no_known_pattern",
]
MISTAKE_COLUMNS = ["exercise", "kind", "rank", "text", "students", "input", "expected", "got"]


def _write(path: Path, columns: list[str], rows: Iterable[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _students(report: ClassReport) -> Iterable[dict[str, Any]]:
    for row in report.students:
        yield {
            "student_id": row.student,
            "total": f"{row.total:g}",
            "max_score": f"{row.max_score:g}",
            **{name: f"{points:g}" for name, points in row.points.items()},
            "missed": "; ".join(f"{exercise}: {why}" for exercise, why in row.missed),
        }


def _exercises(report: ClassReport) -> Iterable[dict[str, Any]]:
    """The ranked exercises, then those not graded yet (no rank, no share)."""
    ranked = report.ranked_exercises()
    for rank, exercise in enumerate([*ranked, *report.unranked_exercises()], 1):
        share = exercise.mean_share
        yield {
            "difficulty_rank": rank if rank <= len(ranked) else "",
            "exercise": exercise.name,
            "notebook": exercise.notebook,
            "max_score": f"{exercise.max_score:g}",
            "mean_share": "" if share is None else f"{share:.4f}",
            "full": len(exercise.full),
            "partial": len(exercise.partial),
            "zero": len(exercise.zero),
            "not_attempted": len(exercise.not_attempted),
            "awaiting_grade": exercise.awaiting,
            "diagnosed": exercise.diagnosed,
            "no_known_pattern": exercise.no_known_pattern,
        }


def _mistakes(report: ClassReport) -> Iterable[dict[str, Any]]:
    for exercise in report.exercises:
        for group in (exercise.mistakes, exercise.unnamed, exercise.other):
            for rank, finding in enumerate(group, 1):
                yield {
                    "exercise": exercise.name,
                    "kind": finding.kind,
                    "rank": rank,
                    "text": finding.text,
                    "students": finding.count,
                    **{key: finding.example.get(key, "") for key in ("input", "expected", "got")},
                }


def write_csv_files(report: ClassReport, directory: Path) -> None:
    """Write the report's three CSV files into ``directory``."""
    name = report.assignment
    names = [exercise.name for exercise in report.exercises]
    _write(
        directory / f"{name}_students.csv",
        ["student_id", "total", "max_score", *names, "missed"],
        _students(report),
    )
    _write(directory / f"{name}_exercises.csv", EXERCISE_COLUMNS, _exercises(report))
    _write(directory / f"{name}_mistakes.csv", MISTAKE_COLUMNS, _mistakes(report))
