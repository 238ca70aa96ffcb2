"""The release's leak check: nothing of the instructor's may reach students.

:func:`release_leaks` looks through a built release for instructor files, nbgrader
solution and hidden-test regions, and every line of an instructor solution or hidden
test (:func:`solution_lines`), in any text file and in any string of a notebook; and
(:func:`answer_leaks`) for working answers by what they compute: every function that
an example of the release defines (a doctest of any docstring, a code block of a
markdown cell or file) or that a notebook's code cell defines (each ``def`` and each
``lambda``, taken out of the cell, which is never run) is called on a battery of
inputs for each graded function, and one that agrees with that exercise's reference
on all of them is a leak, whatever its lines look like.
:mod:`softsign_grader.student_release` runs it before it writes the archive.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

from softsign_grader.answer_search import answer_leaks
from softsign_grader.answer_sources import Snippet, release_snippets

__all__ = [
    "FORBIDDEN_NAMES",
    "INSTRUCTOR_ONLY",
    "Snippet",
    "answer_leaks",
    "release_leaks",
    "release_snippets",
    "solution_lines",
]

#: Packages that never go to students: the grading engine, which only instructors and nbgrader run.
INSTRUCTOR_ONLY = ("softsign_grader",)
#: Paths (relative to the release) that must never be in it.
FORBIDDEN_NAMES = ("solutions", "nbgrader_config.py", "gradebook.db", "submitted", "autograded")
#: Lines shorter than this are never taken as the mark of a solution (``return x``).
MIN_LINE = 8
#: Lines of instructor solutions that the public library writes too, and why that is no leak.
#: Keep it short: each entry is a line a student could not help writing the same way.
PUBLIC_LINES = {
    "z = x @ W + b": "a layer's pre-activation, as the exercise states it (network_exercise.py)",
}
#: Text files of the release that are searched for leaked lines.
TEXT_SUFFIXES = {".py", ".ipynb", ".md", ".toml", ".yml", ".yaml", ".txt", ".cfg", ""}


def _delimiters() -> tuple[str, ...]:
    """nbgrader's solution and hidden-test delimiters (``BEGIN SOLUTION`` ...)."""
    solutions, hidden = ClearSolutions(), ClearHiddenTests()
    return (
        solutions.begin_solution_delimeter,
        solutions.end_solution_delimeter,
        hidden.begin_test_delimeter,
        hidden.end_test_delimeter,
    )


def _regions(source: str, begin: str, end: str) -> Iterator[list[str]]:
    """The lines between each ``### BEGIN ...`` and ``### END ...`` delimiter line."""
    inside: list[str] | None = None
    for line in source.splitlines():
        if begin in line:
            inside = []
        elif end in line and inside is not None:
            yield inside
            inside = None
        elif inside is not None:
            inside.append(line)


def _significant(line: str) -> str | None:
    stripped = line.strip()
    if len(stripped) < MIN_LINE or stripped.startswith("#"):
        return None
    return stripped


def solution_lines(solutions: Path) -> dict[str, str]:
    """The lines that mark instructor answers: ``{line: "notebook: region"}``.

    Every solution region and every hidden-test region of every notebook under
    ``solutions`` (and every markdown answer cell, which nbgrader releases
    empty, delimiters or not), stripped. Left out: lines shorter than
    :data:`MIN_LINE`, comments, the few :data:`PUBLIC_LINES`, and lines that the
    same instructor notebook also writes outside every answer (its public text,
    which students are given anyway). What is given is read from the instructor
    notebook, never from the release, so a release that leaked an answer cannot
    excuse it.
    """
    begin_solution, end_solution, begin_hidden, end_hidden = _delimiters()
    marks: dict[str, str] = {}
    for path in sorted(Path(solutions).rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        answers: list[tuple[str, list[str]]] = []
        given: set[str] = set()
        for cell in nbformat.read(path, as_version=4).cells:
            regions = [
                (kind, region)
                for kind, begin, end in (
                    ("solution", begin_solution, end_solution),
                    ("hidden tests", begin_hidden, end_hidden),
                )
                for region in _regions(cell.source, begin, end)
            ]
            answer = cell.metadata.get("nbgrader", {}).get("solution")
            if answer and cell.cell_type == "markdown" and begin_solution not in cell.source:
                # nbgrader replaces a whole markdown answer cell with "YOUR ANSWER HERE".
                regions.append(("written answer", cell.source.splitlines()))
            inside = {line for _, region in regions for line in region}
            given.update(
                line.strip()
                for line in cell.source.splitlines()
                if line not in inside and not any(d in line for d in _delimiters())
            )
            answers.extend(regions)
        for kind, region in answers:
            for line in region:
                stripped = _significant(line)
                if stripped and stripped not in given and stripped not in PUBLIC_LINES:
                    marks.setdefault(stripped, f"{path.name}: {kind}")
    return marks


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _text_lines(path: Path) -> Iterator[str]:
    """The stripped lines of a text file; of a notebook, of every string in its JSON."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".ipynb":
        try:
            chunks = list(_strings(json.loads(text)))
        except json.JSONDecodeError:
            chunks = [text]
    else:
        chunks = [text]
    for chunk in chunks:
        for line in chunk.splitlines():
            yield line.strip()


def release_leaks(release: Path, solutions: Path) -> list[str]:
    """Everything of the instructor's that is inside ``release``; empty when it is clean.

    Checks file names (:data:`FORBIDDEN_NAMES`, the :data:`INSTRUCTOR_ONLY`
    modules), nbgrader's solution and hidden-test delimiters in any file, and
    every line of :func:`solution_lines` as a line of any text file (for a
    notebook, a line of any string in it: sources and outputs alike), then
    every working answer that an example or a notebook's code cell defines
    (:func:`answer_leaks`).
    """
    release = Path(release)
    marks = solution_lines(solutions)
    problems = _line_leaks(release, marks)
    return problems + answer_leaks(release)


def _line_leaks(release: Path, marks: dict[str, str]) -> list[str]:
    """Instructor paths and modules, nbgrader delimiters and solution lines in ``release``."""
    delimiters = _delimiters()
    banned_files = {Path(*module.split(".")).with_suffix(".py") for module in INSTRUCTOR_ONLY} | {
        Path(*module.split(".")) for module in INSTRUCTOR_ONLY
    }
    problems = []
    for path in sorted(release.rglob("*")):
        relative = path.relative_to(release)
        if any(part in FORBIDDEN_NAMES for part in relative.parts):
            problems.append(f"{relative}: an instructor path")
        if any(relative == banned or banned in relative.parents for banned in banned_files):
            problems.append(f"{relative}: an instructor-only module")
        if not path.is_file() or path.suffix not in TEXT_SUFFIXES:
            continue
        for number, line in enumerate(_text_lines(path), start=1):
            for delimiter in delimiters:
                if delimiter in line:
                    problems.append(f"{relative}:{number}: nbgrader delimiter {delimiter!r}")
            if line in marks:
                problems.append(f"{relative}:{number}: {line!r} from {marks[line]}")
    return problems
