"""The whole sample class, autograded by real nbgrader, gets exactly the expected scores.

The class (``tests/submissions``) holds right answers in several algebraic
forms, one student per common mistake, the easy cheats, broken files and the
untouched notebooks; ``softsign_grader.sample_class`` builds their submissions from
the current student notebooks. The session fixture ``graded_sample_class``
(``conftest.py``) runs ``nbgrader generate_assignment`` and ``softsign-grade
softsign --jobs 2`` (nbgrader's autograde in two workers) once; these tests read
the gradebook, the log, the feedback HTML and ``nbgrader export``'s CSV.
"""

from __future__ import annotations

import csv
import html
import re
import shutil

import pytest
from repo_root import REPO_ROOT

from softsign_grader.course import ASSIGNMENT, run_nbgrader
from softsign_grader.sample_class import (
    expected_manual_grades,
    graded_functions,
    load_students,
    written_cells,
)
from source_lib.grading import exercises
from source_lib.grading.registry import EXERCISES

pytestmark = pytest.mark.slow

STUDENTS = load_students()
#: The exercises the sample class answers in several right forms: those of notebooks 01 to 04,
#: whose checks live in source_lib.grading.exercises (none for notebook 05's backward pass).
CONTRACT = [entry.name for entry in EXERCISES if entry.check_module == exercises.__name__]


@pytest.mark.parametrize("student", sorted(STUDENTS))
def test_every_cell_gets_its_expected_score(graded_sample_class, student: str):
    expected = graded_sample_class.expected[student]
    got = graded_sample_class.scores.get(student, {})
    assert set(got) == set(expected), "the gradebook and the notebooks list different test cells"
    wrong = {key: (points, got[key]) for key, points in expected.items() if got[key] != points}
    assert not wrong, f"{student} ({STUDENTS[student].description}): (expected, got) {wrong}"


@pytest.mark.parametrize("student", sorted(STUDENTS))
def test_written_answers_wait_for_a_manual_grade(graded_sample_class, student: str):
    """A written answer earns no automatic points; an answered one is flagged for formgrader."""
    cells = written_cells(graded_sample_class.course / "notebooks" / ASSIGNMENT)
    assert [cell.key for cell in cells] == ["04_softsign_vs_tanh/explain_saturation"]
    got = graded_sample_class.manual.get(student, {})
    flagged = {key for key, needs_grade in got.items() if needs_grade}
    assert flagged == expected_manual_grades(STUDENTS[student], cells), got


def test_the_class_covers_what_it_must():
    functions = graded_functions(REPO_ROOT / "solutions" / ASSIGNMENT)
    named = {function for student in STUDENTS.values() for function in student.solutions}
    assert named <= set(functions), f"no notebook defines {sorted(named - set(functions))}"
    full_marks = [s for s in STUDENTS.values() if s.base == "solved" and not s.no_credit]
    for function in CONTRACT:
        forms = {s.solutions[function] for s in full_marks if function in s.solutions}
        assert len(forms) >= 3, f"{function}: fewer than 3 right forms in the sample class"
    assert any("RuntimeWarning" in s.description for s in full_marks)
    mistakes = [s for s in STUDENTS.values() if s.student_id.startswith("mistake_")]
    assert len(mistakes) >= 8
    assert all(len(s.no_credit) == 1 for s in mistakes), "one mistake per student"
    assert any(s.base == "released" for s in STUDENTS.values())


def test_the_log_explains_broken_and_missing_notebooks(graded_sample_class):
    log = graded_sample_class.log
    assert re.search(
        r"broken_files/softsign/01_softsign_definition\.ipynb is not a valid notebook "
        r"\(NotJSONError",
        log,
    )
    assert re.search(r"No submitted file: \S*broken_files/softsign/02_derivative_of_abs", log)
    assert "There was an error processing assignment" not in log


def test_test_cells_hold_only_what_the_judge_wrote(graded_sample_class):
    """Kernel output never reaches a test cell: a pass is empty, a failure the judge's message.

    ``correct_tricks`` prints to stderr and raises warnings in its functions;
    ``cheat_patching`` replaces the checks. Neither left anything of its own
    in a test cell.
    """
    import nbformat

    autograded = graded_sample_class.course / "autograded"
    seen_failure = seen_pass = False
    for path in autograded.glob(f"*/{ASSIGNMENT}/*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            grade = cell.metadata.get("nbgrader", {})
            if not (grade.get("grade") and not grade.get("solution")):
                continue
            kinds = [(output.output_type, output.get("ename")) for output in cell.outputs]
            assert kinds in ([], [("error", "CheckFailure")], [("error", "NoVerdict")]), (
                f"{path}: {grade['grade_id']} holds {kinds}"
            )
            seen_failure |= bool(kinds)
            seen_pass |= not kinds
    assert seen_failure
    assert seen_pass


@pytest.fixture(scope="module")
def feedback(graded_sample_class, nbgrader_env, tmp_path_factory) -> dict[str, str]:
    """Feedback HTML of a few students, by "student/notebook".

    nbgrader writes it into a copy of the graded class, which other tests (perhaps in
    another pytest-xdist worker) read meanwhile.
    """
    course = tmp_path_factory.mktemp("feedback") / "course"
    shutil.copytree(graded_sample_class.course, course, symlinks=True)
    students = ["mistake_missing_abs", "cheat_patching", "mistake_math_module", "correct_tricks"]
    others = sorted(set(graded_sample_class.expected) - set(students))
    # One nbgrader process for the four (each process costs seconds to start).
    run_nbgrader(
        [
            "generate_feedback",
            ASSIGNMENT,
            "--force",
            f"--CourseDirectory.student_id_exclude={','.join(others)}",
        ],
        course,
        env=nbgrader_env,
    )
    pages = {}
    for path in (course / "feedback").glob(f"*/{ASSIGNMENT}/*.html"):
        pages[f"{path.parents[1].name}/{path.stem}"] = path.read_text(encoding="utf-8")
    assert {key.split("/")[0] for key in pages} == set(students), sorted(pages)
    return pages


def _text(page: str) -> str:
    body = page[page.index("<body") :]
    return html.unescape(re.sub(r"<[^>]+>", "", body))


def _test_cells(page: str) -> list[str]:
    """The text from each test cell's label to the next code cell's prompt."""
    text = _text(page)
    starts = [match.start() for match in re.finditer(r"Grade cell: test_", text)]
    cells = []
    for start in starts:
        match = re.compile(r"In\s\[").search(text, start)
        end = match.start() if match else -1
        cells.append(text[start : end if end != -1 else len(text)])
    return cells


def test_feedback_shows_the_message_not_hidden_tests_nor_tracebacks(feedback):
    page = _text(feedback["mistake_missing_abs/01_softsign_definition"])
    assert "CheckFailure: softsign: wrong value" in page
    assert "input:    x = -3.0" in page
    assert "right for x >= 0 but wrong for negative x" in page
    for text in feedback.values():
        shown = _text(text)
        assert "BEGIN HIDDEN TESTS" not in shown
        assert '"hidden_' not in shown
        assert "checks.py" not in shown
        for cell in _test_cells(text):
            assert "Traceback (most recent call last)" not in cell
    arrays = _text(feedback["mistake_math_module/04_softsign_vs_tanh"])
    assert "scalar-only function" in arrays


def test_feedback_of_a_cheat_shows_the_judges_verdict(feedback):
    """cheat_patching replaced the checks and NumPy's helpers: the judge's message shows."""
    page = _text(feedback["cheat_patching/01_softsign_definition"])
    assert "CheckFailure: softsign: wrong value" in page
    inverse = _text(feedback["cheat_patching/04_softsign_vs_tanh"])
    assert "CheckFailure: softsign_inverse: wrong value" in inverse


def test_export_totals_match(graded_sample_class, nbgrader_env, tmp_path):
    output = tmp_path / "grades.csv"
    run_nbgrader(["export", "--to", str(output)], graded_sample_class.course, env=nbgrader_env)
    with output.open(newline="") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    for student, expected in graded_sample_class.expected.items():
        assert float(rows[student]["score"]) == pytest.approx(sum(expected.values()))
