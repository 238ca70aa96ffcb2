"""The class report (``softsign-grade report``): its numbers, its diagnoses, its page.

The sample class, graded once per session by the ``graded_sample_class``
fixture (``conftest.py``), is reported on; the numbers are compared with
``nbgrader export`` and with the per-notebook scores formgrader shows, and
the diagnosed mistakes with what the sample class's TOML files say each
student did and with the messages the judge wrote into the test cells. A
tiny course graded with ``softsign-grade``, then regraded with plain
``nbgrader autograde --force``, shows that the judge alone writes the
diagnoses and that the report works after both. The judge's diagnosis of a
single message is tested without nbgrader.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import re
import shutil
import subprocess
from dataclasses import fields as dataclass_fields
from dataclasses import replace
from pathlib import Path

import nbformat
import numpy as np
import pytest
from conftest import copy_released, run_softsign_grade

import softsign_grader
from softsign_grader.course import (
    ASSIGNMENT,
    course_id,
    run_nbgrader,
)
from softsign_grader.judge import (
    DIAGNOSIS_KEY,
    DIAGNOSIS_VERSION,
    WITHHELD_HINT,
    CheckCall,
    Verdict,
    diagnosis,
)
from softsign_grader.report import ClassReport, build_report, render_html, summarise
from softsign_grader.report_model import Cell
from softsign_grader.sample_class import build_sample_class, load_students
from source_lib.grading.collector import Outcome
from source_lib.grading.framework import CheckFailure
from source_lib.grading.messages import Failure, failure, outcome_failure
from source_lib.grading.registry import EXERCISE

STUDENTS = load_students()
VERDICTS = {"pass", "fail", "not_attempted", "error", "timeout", "no_verdict"}


# --------------------------------------------------------------------------- the judge's record


CALL = CheckCall("check_softsign", "softsign", "values")


WRONG_VALUE = Failure(
    "wrong_value",
    "softsign",
    "wrong value",
    input="x = -3.0",
    expected="-0.75",
    got="1.5",
    hint="right for x >= 0 but wrong for negative x",
    mistake="value_pattern",
)


def _failed(found: Failure, *, withheld: bool = False) -> Verdict:
    return Verdict.failed(CheckFailure(found), CALL, withheld=withheld)


def test_a_wrong_value_is_diagnosed_with_its_hint_and_example():
    record = diagnosis(_failed(WRONG_VALUE), [CALL])
    assert record["version"] == DIAGNOSIS_VERSION
    assert record["verdict"] == "fail"
    assert record["function"] == "softsign"
    assert record["kind"] == "wrong_value"
    assert record["mistake"] == "value_pattern"
    assert record["problem"] == "wrong value"
    assert record["hint"] == "right for x >= 0 but wrong for negative x"
    assert record["example"] == {"input": "x = -3.0", "expected": "-0.75", "got": "1.5"}
    json.dumps(record)  # plain data


def test_the_record_round_trips_through_json_with_every_field_of_the_failure():
    """Every field of the failure reaches the record as data, none read from its message."""
    found = replace(WRONG_VALUE, kind="raised", error="TypeError", problem="raised TypeError: x")
    verdict = replace(_failed(found), message="softsign: garbled\n  hint:     not this one")
    record = json.loads(json.dumps(diagnosis(verdict, [CALL])))
    fields = {**{k: record[k] for k in ("kind", "mistake", "error", "problem", "hint")}}
    fields |= record["example"]
    assert fields == found.as_record()
    assert set(found.as_record()) == {f.name for f in dataclass_fields(Failure)} - {
        "details",
        "function",
    }


def test_an_array_input_over_several_lines_is_kept_whole_and_capped():
    rows = "\n".join(f"       [{i}., {i}.]," for i in range(200))
    found = failure(
        "softsign", "wrong values for 3 of 400 elements", inputs={"x": np.ones((200, 2))}
    )
    found = replace(found, input=f"x = array([{rows}])", expected=None, got=None)
    record = diagnosis(_failed(found), [CALL])
    assert record["hint"] is None
    assert record["mistake"] is None
    assert record["example"]["input"].startswith("x = array([ [0., 0.], [1., 1.],")
    assert len(record["example"]["input"]) <= 300
    assert len(json.dumps(record)) < 1500


def test_a_returned_value_cannot_forge_the_hint():
    found = failure(
        "softsign",
        "returned str, not real numbers",
        kind="wrong_type",
        inputs={"x": 3.0},
        got="a\n  hint:     forged",
        hint="return a float or a NumPy array of floats",
        mistake="not_real_numbers",
    )
    record = diagnosis(_failed(found), [CALL])
    assert record["hint"] == "return a float or a NumPy array of floats"
    assert "forged" in record["example"]["got"]


@pytest.mark.parametrize(
    ("outcome", "verdict"),
    [
        (Outcome("not_implemented"), "not_attempted"),
        (Outcome("raised", error="TypeError", message="bad operand"), "error"),
        (Outcome("missing"), "error"),
        (Outcome("not_callable", error="int"), "error"),
        (Outcome("exit"), "error"),
        (Outcome("timeout"), "timeout"),
    ],
)
def test_each_outcome_gets_its_verdict(outcome: Outcome, verdict: str):
    found = outcome_failure(outcome, "softsign", 3.0, {"x": 3.0})
    record = diagnosis(_failed(found), [CALL])
    assert record["verdict"] == verdict
    assert record["kind"] == found.kind
    assert record["problem"] == found.problem


@pytest.mark.parametrize("kind", ["wrong_value", "wrong_shape", "wrong_type", "modified_input"])
def test_a_wrong_answer_is_a_fail(kind: str):
    assert diagnosis(_failed(replace(WRONG_VALUE, kind=kind)), [CALL])["verdict"] == "fail"


def test_a_pass_a_missing_verdict_and_a_withheld_reference():
    assert diagnosis(Verdict(True), [CALL])["verdict"] == "pass"
    late = "the test did not finish within its budget of 40s"
    budget = Verdict(False, reason=f"no verdict, so no points: {late}")
    assert diagnosis(budget, [CALL])["verdict"] == "timeout"
    dead = diagnosis(Verdict(False, reason="no verdict, so no points: the kernel died"), [CALL])
    assert dead["verdict"] == "no_verdict"
    assert dead["problem"] == "the kernel died"
    stand_in = outcome_failure(Outcome("not_implemented"), "softsign", 3.0, {"x": 3.0})
    withheld = diagnosis(_failed(stand_in, withheld=True), [CALL])
    assert withheld["verdict"] == "fail"
    assert withheld["kind"] == "withheld"
    assert withheld["hint"] == WITHHELD_HINT
    assert withheld["example"] == {"input": "x = 3.0"}


# --------------------------------------------------------------------------- classifying


def _summary(records: dict[str, dict | None]) -> ClassReport:
    """The report of one exercise of one cell, for students whose records are ``records``."""
    cells = [Cell("01", "softsign_values", 2.0, "softsign")]
    students = sorted(records)
    scores = {s: {("01", "softsign_values"): 0.0 if records[s] else 2.0} for s in students}
    diagnoses = {s: {"01": {"softsign_values": r} if r else {}} for s, r in records.items()}
    return summarise(ASSIGNMENT, cells, students, scores, {}, diagnoses)


def _classes(report: ClassReport) -> list[tuple[str, str, tuple[str, ...], str]]:
    (exercise,) = report.exercises
    findings = [*exercise.mistakes, *exercise.unnamed, *exercise.other]
    return [(f.kind, f.verdict, tuple(f.students), f.failure) for f in findings]


def _class_records(hint: str) -> dict[str, dict | None]:
    wrong = diagnosis(_failed(replace(WRONG_VALUE, hint=hint)), [CALL])
    unnamed = diagnosis(_failed(replace(WRONG_VALUE, hint=None, mistake=None)), [CALL])
    raised = outcome_failure(Outcome("raised", error="ValueError", message="x"), "f", 3.0, None)
    stopped = outcome_failure(Outcome("exit"), "softsign", 3.0, None)
    return {
        "ann": wrong,
        "bob": wrong,
        "cy": unnamed,
        "dee": diagnosis(_failed(raised), [CALL]),
        "eve": diagnosis(_failed(replace(stopped, hint=hint)), [CALL]),
        "fay": None,
    }


def test_rewording_a_hint_does_not_change_the_report_classification():
    before = _summary(_class_records("right for x >= 0 but wrong for negative x"))
    after = _summary(_class_records("wrong below 0: wrap the denominator's x in np.abs()"))
    assert _classes(before) == _classes(after)
    assert [item.split(":")[0] for item in before.revisit()] == [
        item.split(":")[0] for item in after.revisit()
    ]
    assert _classes(before) == [
        ("mistake", "fail", ("ann", "bob"), "wrong_value"),
        ("mistake", "error", ("eve",), "exit"),
        ("unnamed", "fail", ("cy",), "wrong_value"),
        ("unnamed", "error", ("dee",), "raised"),
    ]
    (exercise,) = before.exercises
    assert [f.text for f in exercise.unnamed] == [
        "wrong value, no known pattern",
        "raised ValueError, no known pattern",
    ]
    assert sum("made the mistake" in item for item in before.revisit()) == 1  # exit is not taught


def _awaiting_class() -> ClassReport:
    """23 students: softsign solved by most; 22 written answers await a TA, one is blank."""
    cells = [
        Cell("01", "softsign_values", 2.0, "softsign"),
        Cell("04", "explain_saturation", 2.0, "explain_saturation", written=True),
    ]
    students = [f"s{i:02d}" for i in range(23)]
    softsign, written = ("01", "softsign_values"), ("04", "explain_saturation")
    scores = {s: {softsign: 2.0 if i % 4 else 0.0, written: 0.0} for i, s in enumerate(students)}
    waiting = {s: {written} for s in students[1:]}  # s00 left it blank: nbgrader scored it 0
    wrong = diagnosis(_failed(WRONG_VALUE), [CALL])
    diagnoses = {
        s: {"01": {"softsign_values": wrong} if i % 4 == 0 else {}, "04": {}}
        for i, s in enumerate(students)
    }
    return summarise(ASSIGNMENT, cells, students, scores, {}, diagnoses, (), waiting)


def test_cells_awaiting_a_manual_grade_are_not_zeros_and_not_ranked():
    """A written answer awaiting a TA is not a 0 in the ranking, the zeros or the advice."""
    from bs4 import BeautifulSoup

    report = _awaiting_class()
    written, softsign = report.exercise("explain_saturation"), report.exercise("softsign")
    assert report.awaiting_manual_grade == 22
    assert written.awaiting == 22
    assert len(written.waiting) == 22
    assert written.zero == ["s00"]  # the one graded (blank) answer; the 22 await
    assert not written.full
    assert not written.partial
    assert written.mean_share == 0.0  # of the one graded cell
    assert softsign.mean_share == pytest.approx(17 / 23)
    assert [e.name for e in report.ranked_exercises()] == ["explain_saturation", "softsign"]
    assert all("explain_saturation" not in item for item in report.revisit())
    assert report.totals["s01"] == 2.0  # the totals still count the waiting cell as 0

    page = BeautifulSoup(render_html(report), "html.parser")
    assert "22 cells of the submissions await a manual grade" in page.get_text(" ")
    rows = {
        tr.find_all("td")[1].get_text(): [td.get_text() for td in tr.find_all("td")]
        for tr in page.select("#ranking tbody tr")
    }
    assert rows["explain_saturation"][2:6] == ["0%", "1", "1", "22"]
    assert "22 cells still await a manual grade" in page.get_text(" ")
    shown = page.select_one("#read-at")
    assert shown is not None
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", shown.get_text())


def test_times_for_people_are_labelled_utc():
    """nbgrader's naive times are UTC; an aware time is converted; both say so."""
    import datetime

    from softsign_grader.summary import utc_time

    naive = datetime.datetime(2026, 3, 1, 17, 5, 59)
    assert utc_time(naive) == "2026-03-01 17:05 UTC"
    paris = datetime.timezone(datetime.timedelta(hours=1))
    assert utc_time(naive.replace(tzinfo=paris)) == "2026-03-01 16:05 UTC"
    assert utc_time().endswith(" UTC")


def test_an_exercise_with_no_cell_graded_is_listed_unranked(tmp_path):
    """When every written answer awaits a TA, the exercise has no share and no rank."""
    import matplotlib

    from softsign_grader.report import write_report

    matplotlib.use("Agg")
    report = _awaiting_class()
    written = report.exercise("explain_saturation")
    written.pending["s00"] = ["explain_saturation"]
    written.graded_max["s00"] = 0.0
    written.zero.clear()
    assert written.mean_share is None
    assert [e.name for e in report.ranked_exercises()] == ["softsign"]
    assert report.unranked_exercises() == [written]
    write_report(report, tmp_path)
    with (tmp_path / f"{ASSIGNMENT}_exercises.csv").open(newline="") as handle:
        rows = {row["exercise"]: row for row in csv.DictReader(handle)}
    assert rows["softsign"]["difficulty_rank"] == "1"
    assert rows["explain_saturation"]["difficulty_rank"] == ""
    assert rows["explain_saturation"]["mean_share"] == ""
    assert rows["explain_saturation"]["awaiting_grade"] == "23"
    text = (tmp_path / f"{ASSIGNMENT}.html").read_text(encoding="utf-8")
    assert "none graded yet" in text


def test_the_page_allows_its_own_script_by_the_hash_of_the_text_it_emits():
    """The Content-Security-Policy's hash is of the sorting script exactly as written out."""
    from bs4 import BeautifulSoup

    page = render_html(_summary(_class_records("right for x >= 0 but wrong for negative x")))
    soup = BeautifulSoup(page, "html.parser")
    (script,) = soup.find_all("script")
    policy = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})
    assert policy is not None
    digest = base64.b64encode(hashlib.sha256(script.get_text().encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy["content"]
    assert "default-src 'none'" in policy["content"]
    assert "right for x &gt;= 0 but wrong for negative x" in page  # escaped text


def test_no_code_of_the_grading_engine_parses_failure_prose():
    """softsign_grader reads a failure's fields, never the labels of its rendered message."""
    package = Path(softsign_grader.__file__).parent
    for path in package.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for label in ('"hint:"', '"expected:"', '"got:"', "FIELDS", 'startswith("wrong value'):
            assert label not in text, (path.name, label)


# --------------------------------------------------------------------------- the sample class


@pytest.fixture(scope="module")
def sample_report(graded_sample_class, tmp_path_factory) -> tuple[Path, ClassReport]:
    """The report of the graded sample class, written into a scratch folder."""
    return build_report(
        graded_sample_class.course,
        ASSIGNMENT,
        output_dir=tmp_path_factory.mktemp("report"),
    )


def _cell_exercise(report: ClassReport) -> dict[str, str]:
    return {
        f"{exercise.notebook}/{cell}": exercise.name
        for exercise in report.exercises
        for cell in exercise.cells
    }


@pytest.mark.slow
def test_numbers_agree_with_nbgrader_export_and_formgrader(
    graded_sample_class, sample_report, nbgrader_env, tmp_path
):
    from nbgrader.api import Gradebook

    page, report = sample_report
    course = graded_sample_class.course
    output = tmp_path / "grades.csv"
    run_nbgrader(["export", "--to", str(output)], course, env=nbgrader_env)
    with output.open(newline="") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert set(report.totals) == set(rows)
    for student, row in rows.items():
        assert report.totals[student] == float(row["score"]), student
        assert report.max_score == float(row["max_score"])
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id(course)) as gradebook:
        notebooks = [notebook.name for notebook in gradebook.find_assignment(ASSIGNMENT).notebooks]
        for notebook in notebooks:
            shown = {
                entry["student"]: entry["score"]
                for entry in gradebook.notebook_submission_dicts(notebook, ASSIGNMENT)
            }
            for row in report.students:
                ours = sum(row.points[e.name] for e in report.exercises if e.notebook == notebook)
                # a notebook without grade cells has no scores to show
                assert ours == shown.get(row.student, 0.0), (notebook, row.student)
            assert not shown or set(shown) == set(report.totals)
    with (page.parent / f"{ASSIGNMENT}_students.csv").open(newline="") as handle:
        written = {row["student_id"]: float(row["total"]) for row in csv.DictReader(handle)}
    assert written == report.totals


@pytest.mark.slow
def test_the_sample_class_mistakes_are_counted_one_student_each(graded_sample_class, sample_report):
    """Who lost points where, and why, as the TOML files say; counts as the judge's messages."""
    from softsign_grader.sandbox import SandboxedKernelManager, kernel_manager_class

    _, report = sample_report
    assert report.has_diagnoses
    exercise_of = _cell_exercise(report)
    for exercise in report.exercises:
        losers = {
            student
            for student, cells in graded_sample_class.expected.items()
            if sum(p for key, p in cells.items() if exercise_of[key] == exercise.name)
            < exercise.max_score
        }
        ungraded = {s for s in exercise.waiting if not exercise.graded_max[s]}
        assert set(exercise.partial) | set(exercise.zero) == losers - ungraded, exercise.name
        listed = {
            student
            for finding in [*exercise.mistakes, *exercise.unnamed, *exercise.other]
            for student in finding.students
        } | set(exercise.not_attempted)
        assert listed == losers, exercise.name
        for finding in [*exercise.mistakes, *exercise.unnamed, *exercise.other]:
            assert finding.count == len(set(finding.students)) >= 1
    for student in STUDENTS.values():
        if student.base == "released":  # the untouched: nothing attempted
            assert all(student.student_id in e.not_attempted for e in report.exercises)
        if student.student_id.startswith("mistake_"):
            (name,) = student.no_credit  # one mistake per student
            exercise = report.exercise(name)
            holding = [
                f for f in exercise.mistakes + exercise.unnamed if student.student_id in f.students
            ]
            assert len(holding) == 1, (student.student_id, holding)
            others = [
                e.name
                for e in report.exercises
                if student.student_id in e.zero + e.partial
                and not e.written
                and student.submits(EXERCISE[e.name].notebook)
            ]
            assert others == [name]
        if student.student_id.startswith("cheat_"):
            for name in student.no_credit:
                exercise = report.exercise(name)
                assert student.student_id not in exercise.full
                assert student.student_id not in exercise.not_attempted or (
                    student.needs_sandbox and kernel_manager_class() is not SandboxedKernelManager
                )
    if kernel_manager_class() is SandboxedKernelManager:
        cheats = [s for s in STUDENTS.values() if s.needs_sandbox]
        for student in cheats:
            for name in student.no_credit:
                texts = [
                    f.text
                    for f in report.exercise(name).mistakes
                    if student.student_id in f.students
                ]
                assert WITHHELD_HINT in texts, (student.student_id, name)


@pytest.mark.slow
def test_written_answers_are_waiting_not_wrong(graded_sample_class, sample_report):
    """The written answer counts 0 until graded by hand, and the report says it is waiting."""
    page, report = sample_report
    exercise = report.exercise("explain_saturation")
    assert exercise.written
    assert exercise.max_score == 2
    waiting = {
        student for student, cells in graded_sample_class.manual.items() if any(cells.values())
    }
    assert waiting  # the solved students answered it
    assert set(exercise.waiting) == waiting
    found = {f.kind: set(f.students) for f in exercise.other}
    assert found.keys() <= {"waiting", "no_record"}
    assert found["waiting"] == waiting
    # No record: the students who handed in no readable notebook 04 (the others' mistakes
    # lie in other notebooks, which is all they submit).
    notebook = EXERCISE["tanh_derivative"].notebook
    assert found.get("no_record", set()) <= {
        s.student_id for s in STUDENTS.values() if notebook in s.lost({notebook})
    }
    assert not exercise.mistakes
    assert not exercise.unnamed
    assert "untouched" in exercise.not_attempted
    assert all("explain_saturation" not in item for item in report.revisit())
    assert report.awaiting_manual_grade == len(waiting)
    text = page.read_text(encoding="utf-8")
    assert f"{len(waiting)} cells still await a manual grade" in text
    assert not set(exercise.zero) & waiting


@pytest.mark.slow
def test_diagnoses_agree_with_the_messages_in_the_test_cells(graded_sample_class, sample_report):
    """Each diagnosed mistake has the hint of the judge's message, for exactly its students."""
    _, report = sample_report
    exercise_of = _cell_exercise(report)
    from_outputs: dict[tuple[str, str], set[str]] = {}
    for path in sorted((graded_sample_class.course / "autograded").glob(f"*/{ASSIGNMENT}/*.ipynb")):
        student = path.parents[1].name
        for cell in nbformat.read(path, as_version=4).cells:
            grade = cell.metadata.get("nbgrader", {})
            if not (grade.get("grade") and not grade.get("solution")):
                continue
            record = cell.metadata[DIAGNOSIS_KEY]
            assert record["verdict"] in VERDICTS
            assert len(json.dumps(record)) < 2000
            assert (record["verdict"] == "pass") == (not cell.outputs)
            for output in cell.outputs:
                text = output.get("evalue", "")
                # the hint is the message's last field; a long one goes on, indented
                hint = re.search(r"^\s*hint:\s*(.*(?:\n {12}\S.*)*)", text, re.MULTILINE)
                if output.get("ename") != "CheckFailure" or not hint:
                    continue
                if "not implemented yet" in text.splitlines()[0]:
                    continue
                hint_text = " ".join(hint.group(1).split())
                key = (exercise_of[f"{path.stem}/{grade['grade_id']}"], hint_text)
                from_outputs.setdefault(key, set()).add(student)
    reported = {
        (exercise.name, finding.text): set(finding.students)
        for exercise in report.exercises
        for finding in exercise.mistakes
    }
    assert reported == from_outputs


@pytest.mark.slow
def test_the_page_is_self_contained_and_says_what_to_revisit(sample_report):
    page, report = sample_report
    text = page.read_text(encoding="utf-8")
    assert "<meta name='viewport'" in text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), "nothing from the network"
    images = re.findall(
        r"<img src=\"data:image/png;base64,[A-Za-z0-9+/=]+\" alt=\"([^\"]+)\"", text
    )
    assert len(images) == len(report.exercises) + 2
    assert all(alt.strip() for alt in images)
    assert "most worth revisiting" in text
    assert len(report.revisit()) == 3
    assert "No diagnoses are recorded" not in text
    for name in ("students", "exercises", "mistakes"):
        assert (page.parent / f"{ASSIGNMENT}_{name}.csv").stat().st_size > 0
    ranked = [exercise.mean_share for exercise in report.ranked_exercises()]
    assert ranked == sorted(ranked)


@pytest.mark.slow
def test_a_gradebook_without_diagnoses_still_shows_the_scores(
    graded_sample_class, sample_report, tmp_path
):
    """As after grading with a judge that recorded nothing: the page says so."""
    course = tmp_path / "course"
    shutil.copytree(
        graded_sample_class.course,
        course,
        ignore=shutil.ignore_patterns("feedback", "reports", "*.csv"),
    )
    for path in (course / "autograded").glob(f"*/{ASSIGNMENT}/*.ipynb"):
        path.chmod(0o644)
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            cell.metadata.pop(DIAGNOSIS_KEY, None)
        nbformat.write(notebook, path)
    page, report = build_report(course, ASSIGNMENT)
    assert not report.has_diagnoses
    assert report.totals == sample_report[1].totals
    assert all(
        not e.mistakes and not e.unnamed and not e.not_attempted
        for e in report.exercises
        if not e.written
    )
    text = page.read_text(encoding="utf-8")
    assert "No diagnoses are recorded" in text
    assert "from the scores alone" in text


# --------------------------------------------------------------------------- a tiny course


def _softsign_grade(course: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_softsign_grade(course, *args)


@pytest.mark.slow
def test_after_softsign_grade_and_a_regrade_only_the_judge_writes_diagnoses(
    tmp_path, nbgrader_env, released_template
):
    """A submission that forges diagnoses gets the judge's; both graders leave them."""
    course = copy_released(released_template, tmp_path / "course")
    students = ["mistake_missing_abs", "correct_plain"]
    build_sample_class(course, students)
    for student in students:
        for path in (course / "submitted" / student / ASSIGNMENT).glob("*.ipynb"):
            if not path.name.startswith("01_"):
                path.unlink()
    forged = (
        course / "submitted" / "mistake_missing_abs" / ASSIGNMENT / "01_softsign_definition.ipynb"
    )
    notebook = nbformat.read(forged, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.metadata[DIAGNOSIS_KEY] = {"verdict": "pass", "hint": "forged"}
    nbformat.write(notebook, forged)

    result = _softsign_grade(course, ASSIGNMENT, "--jobs", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    result = _softsign_grade(course, "report", ASSIGNMENT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (course / "reports" / f"{ASSIGNMENT}.html").exists()

    def check() -> ClassReport:
        _, report = build_report(course, ASSIGNMENT, output_dir=tmp_path / "out")
        softsign = report.exercise("softsign")
        assert softsign.full == ["correct_plain"]
        (finding,) = softsign.mistakes
        assert finding.students == ["mistake_missing_abs"]
        assert "absolute value" in finding.text
        graded = course / "autograded" / "mistake_missing_abs" / ASSIGNMENT
        cells = nbformat.read(graded / forged.name, as_version=4).cells
        records = [cell.metadata.get(DIAGNOSIS_KEY) for cell in cells if cell.cell_type == "code"]
        assert all(r is None or "forged" not in json.dumps(r) for r in records)
        assert [r["verdict"] for r in records if r] == ["fail", "fail"]
        return report

    first = check()
    run_nbgrader(["autograde", ASSIGNMENT, "--force"], course, env=nbgrader_env)
    again = check()
    assert again.totals == first.totals
