"""Parallel autograding leaves the gradebook that serial ``nbgrader autograde`` leaves.

Two classes are graded here, both through real nbgrader:

- a tiny class of a two-notebook assignment (``week1``, not the course's own)
  written below, with its own minimal nbgrader configuration, whose students
  include a dead kernel, a notebook that is not JSON, a submission too slow for
  the per-student time limit and one that kills its grading process: it checks
  failure isolation, re-grading only what changed, ``nbgrader export``, manual
  grades written during a run, and the lock against two runs at once;
- the course's sample class (``softsign_grader.sample_class``), graded once by the
  session fixture ``graded_sample_class`` with ``softsign-grade --jobs 2``: a handful
  of its students, chosen for the plumbing they exercise (endless loops and exits,
  edited and deleted tests, a written answer, a broken file), are graded here again,
  serially by plain ``nbgrader autograde`` and in two shards merged afterwards: every
  cell of each must get the score the parallel run gave it. Whether each sample
  student gets its expected scores is ``test_grading.py``'s test; the plumbing is the
  same for every student.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from softsign_grader.course import ASSIGNMENT, course_id, run_nbgrader, tool_path_env
from softsign_grader.parallel_grading import (
    GradingError,
    parse_shard,
    run_lock,
    shard_students,
    submission_fingerprint,
)

#: nbgrader runs the `alembic` executable beside this Python when it creates a gradebook.
NBGRADER_ENV = tool_path_env()


# --------------------------------------------------------------------------- helpers


def softsign_grade() -> list[str]:
    """The ``softsign-grade`` console script (or the module, if the script is not installed)."""
    script = Path(sys.executable).with_name("softsign-grade")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "softsign_grader.parallel_grading"]


def grade_command(
    course: Path, *args: str, timeout: float = 900, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``softsign-grade ARGS`` on ``course``."""
    return subprocess.run(
        [*softsign_grade(), *args, "--course-root", str(course), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**NBGRADER_ENV, **(env or {})},
        check=False,
    )


def start_grading(course: Path, *args: str) -> subprocess.Popen:
    """Start ``softsign-grade ARGS`` on ``course`` in its own process group."""
    return subprocess.Popen(
        [*softsign_grade(), *args, "--course-root", str(course), "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=NBGRADER_ENV,
        start_new_session=True,
    )


def wait_for_lock(course: Path, run: subprocess.Popen, timeout: float = 120) -> dict:
    """Wait until ``run`` holds the course's lock; return what the lock file says."""
    lock = course / "gradebook.db.lock"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert run.poll() is None, run.communicate()[0]
        text = lock.read_text() if lock.exists() else ""
        if text:
            return json.loads(text)
        time.sleep(0.1)
    raise AssertionError(f"{run.args} did not take the lock in {timeout} s")


def gradebook(course: Path):
    """The course's gradebook, opened as formgrader opens it."""
    from nbgrader.api import Gradebook

    return Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id(course))


def gradebook_state(
    course: Path, students: set[str] | None = None, assignment: str = ASSIGNMENT
) -> dict:
    """Everything autograding writes to the gradebook, per student, as plain data."""
    state = {}
    with gradebook(course) as book:
        for submission in book.assignment_submissions(assignment):
            if students is not None and submission.student_id not in students:
                continue
            entry = {"timestamp": submission.timestamp, "extension": submission.extension}
            for notebook in submission.notebooks:
                entry[notebook.name] = (notebook.flagged, notebook.late_submission_penalty)
                for grade in notebook.grades:
                    entry[f"{notebook.name}/{grade.name}"] = (
                        grade.auto_score,
                        grade.manual_score,
                        grade.extra_credit,
                        grade.needs_manual_grade,
                    )
                for comment in notebook.comments:
                    entry[f"{notebook.name}/{comment.name}/comment"] = (
                        comment.auto_comment,
                        comment.manual_comment,
                    )
            state[submission.student_id] = entry
    return state


def scores(
    course: Path, students: set[str] | None = None, assignment: str = ASSIGNMENT
) -> dict[str, dict[str, float]]:
    """Score of every grade cell of every student: ``{student: {notebook/grade_id: points}}``."""
    return {
        student: {key: values[0] for key, values in entry.items() if key.count("/") == 1 and values}
        for student, entry in gradebook_state(course, students, assignment).items()
    }


def autograded_files(course: Path, assignment: str = ASSIGNMENT) -> dict[str, list[str]]:
    """The files nbgrader left in ``autograded/``, per student."""
    root = course / "autograded"
    return {
        folder.name: sorted(p.name for p in (folder / assignment).iterdir())
        for folder in sorted(root.iterdir())
        if (folder / assignment).is_dir() and not folder.name.startswith(".")
    }


def remove_submissions(course: Path) -> None:
    """Forget every student: the gradebook as ``nbgrader generate_assignment`` left it."""
    with gradebook(course) as book:
        for student in book.students:
            book.remove_student(student.id)
    shutil.rmtree(course / "autograded", ignore_errors=True)
    shutil.rmtree(course / "feedback", ignore_errors=True)


# --------------------------------------------------------------------------- a tiny class

#: The tiny class's assignment and course: not the course's own, so nothing can assume them.
TINY = "week1"
TINY_CONFIG = """\
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "tiny"
c.CourseDirectory.source_directory = "solutions"
c.Execute.timeout = 10
"""


def _cell(kind: str, source: str, cell_id: str, **nbgrader) -> nbformat.NotebookNode:
    metadata = {
        "grade": False,
        "grade_id": cell_id,
        "locked": False,
        "schema_version": 3,
        "solution": False,
        "task": False,
    }
    metadata.update(nbgrader)
    make = new_code_cell if kind == "code" else new_markdown_cell
    return make(source, metadata={"nbgrader": metadata}, id=cell_id)


def _tiny_notebook(name: str, body: str) -> nbformat.NotebookNode:
    notebook = new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    notebook.cells = [
        _cell("markdown", f"# {name}", f"{name}-intro", locked=True),
        _cell("code", "import numpy as np", f"{name}-setup", locked=True),
        _cell(
            "code",
            f'def {name}(x):\n    """Exercise."""\n    ### BEGIN SOLUTION\n{body}\n'
            "    ### END SOLUTION",
            f"{name}_solution",
            solution=True,
        ),
        _cell(
            "code",
            f"assert np.isclose({name}(1.0), 0.5)",
            f"test_{name}_one",
            grade=True,
            locked=True,
            points=2,
        ),
        _cell(
            "code",
            f"assert np.isclose({name}(-3.0), -0.75)",
            f"test_{name}_negative",
            grade=True,
            locked=True,
            points=1,
        ),
    ]
    return notebook


def _answer(path: Path, body: str) -> None:
    """Put ``body`` where the student notebook says ``raise NotImplementedError()``."""
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        cell.source = cell.source.replace("raise NotImplementedError()", body.strip())
    nbformat.write(notebook, path)


RIGHT = "return x / (1 + np.abs(x))"
WRONG = "return x / (1 + x)"

#: Student -> (answer to notebook 01, answer to notebook 02); None leaves it untouched.
TINY_STUDENTS = {
    "ada": (RIGHT, RIGHT),
    "ben": (RIGHT, WRONG),
    "cy": (None, None),
    "dee": ("import os\n    os._exit(1)", RIGHT),  # the kernel dies
    "eve": (RIGHT, "not JSON"),  # notebook 02 is not a notebook at all
}


def build_tiny_class(root: Path) -> Path:
    """A two-notebook assignment, released with real nbgrader, and five submissions."""
    (root / "solutions" / TINY).mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(TINY_CONFIG)
    for name in ("one", "two"):
        nbformat.write(
            _tiny_notebook(name, f"    {RIGHT}"),
            root / "solutions" / TINY / f"0{'12'[name == 'two']}_{name}.ipynb",
        )
    run_nbgrader(["generate_assignment", TINY], root, env=NBGRADER_ENV)
    released = root / "release" / TINY
    for student, answers in TINY_STUDENTS.items():
        folder = root / "submitted" / student / TINY
        shutil.copytree(released, folder)
        (folder / "timestamp.txt").write_text("2024-05-01 12:00:00.000000 UTC")
        for notebook, answer in zip(sorted(folder.glob("*.ipynb")), answers, strict=True):
            if answer == "not JSON":
                notebook.write_text("{ this is not a notebook")
            elif answer is not None:
                _answer(notebook, answer)
    return root


@pytest.fixture(scope="module")
def tiny_class(tmp_path_factory) -> dict[str, Path]:
    """The tiny class graded twice: serially by plain nbgrader and in parallel."""
    base = tmp_path_factory.mktemp("tiny")
    original = build_tiny_class(base / "original")
    serial = base / "serial"
    parallel = base / "parallel"
    shutil.copytree(original, serial, symlinks=True)
    shutil.copytree(original, parallel, symlinks=True)
    result = run_nbgrader(["autograde", TINY], serial, check=False, env=NBGRADER_ENV)
    (base / "serial.log").write_text(result.stderr)
    result = grade_command(parallel, TINY, "--jobs", "2")
    (base / "parallel.log").write_text(result.stdout + result.stderr)
    return {"original": original, "serial": serial, "parallel": parallel, "base": base}


# --------------------------------------------------------------------------- pure functions


def test_parse_shard_reads_i_of_n():
    assert parse_shard("1/1") == (1, 1)
    assert parse_shard(" 3 / 8 ") == (3, 8)
    for bad in ("0/4", "5/4", "2", "a/b", "-1/2"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(bad)


def test_shards_partition_the_class_whatever_the_order():
    students = [f"student{i:03d}" for i in range(23)]
    shards = [shard_students(students[::-1], index, 4) for index in range(1, 5)]
    assert sorted(s for shard in shards for s in shard) == students
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    assert shards[0] == shard_students(sorted(students), 1, 4)


def test_fingerprint_changes_with_every_file_and_ignores_checkpoints(tmp_path):
    (tmp_path / "01.ipynb").write_text("{}")
    first = submission_fingerprint(tmp_path, [".ipynb_checkpoints"])
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "01-checkpoint.ipynb").write_text("{ }")
    assert submission_fingerprint(tmp_path, [".ipynb_checkpoints"]) == first
    assert submission_fingerprint(tmp_path, [".ipynb_checkpoints"], salt="v2") != first
    (tmp_path / "01.ipynb").write_text("{ }")
    edited = submission_fingerprint(tmp_path, [".ipynb_checkpoints"])
    assert edited != first
    (tmp_path / "01.ipynb").rename(tmp_path / "02.ipynb")
    assert submission_fingerprint(tmp_path, [".ipynb_checkpoints"]) not in {first, edited}


def test_missing_notebooks_are_noted_only_when_they_have_points():
    from softsign_grader.parallel_grading import _missing

    grades = {
        "timestamp": None,
        "notebooks": {
            "01_graded": {"submitted": False, "max_score": 3.0},
            "02_reading": {"submitted": False, "max_score": 0.0},
            "03_done": {"submitted": True, "max_score": 2.0},
        },
    }
    assert _missing(grades) == ["No submitted file: 01_graded.ipynb (0 of 3 points)"]
    assert _missing(None) == []


def test_a_secret_in_the_environment_changes_the_salt_but_is_not_in_it(monkeypatch):
    from softsign_grader.parallel_grading import _environment_salt

    monkeypatch.delenv("SOFTSIGN_HIDDEN_SEED", raising=False)
    before = _environment_salt()
    monkeypatch.setenv("SOFTSIGN_HIDDEN_SEED", "s3cr3t-seed")
    changed = _environment_salt()
    assert changed != before
    assert "s3cr3t" not in changed
    monkeypatch.setenv("OTHER_VARIABLE", "x")
    assert _environment_salt() == changed


def test_the_sandbox_mode_does_not_change_the_salt(monkeypatch):
    from softsign_grader.fingerprint import environment_salt

    monkeypatch.delenv("SOFTSIGN_SANDBOX", raising=False)
    unset = environment_salt()
    monkeypatch.setenv("SOFTSIGN_SANDBOX", "require")
    assert environment_salt() == unset


def _loaded_config(root: Path, text: str, args: tuple[str, ...] = ()) -> dict:
    from traitlets.config.loader import KVArgParseConfigLoader, PyFileConfigLoader

    from softsign_grader.fingerprint import scoring_config

    (root / "nbgrader_config.py").write_text(text)
    config = PyFileConfigLoader("nbgrader_config.py", str(root)).load_config()
    config.merge(KVArgParseConfigLoader(list(args)).load_config())
    return scoring_config(config)


def test_only_scoring_settings_enter_the_grading_fingerprint(tmp_path):
    from softsign_grader.course import CONFIG_FILE

    course = (Path(__file__).parent.parent / CONFIG_FILE).read_text()
    base = _loaded_config(tmp_path, course)
    assert "JudgedExecute" in json.dumps(base)  # the course's pipeline is in it
    export = 'c.LmsExportPlugin.column_names = {"softsign": "softsign (12345)"}\n'
    exchange = 'c.Exchange.root = "/srv/nbgrader/exchange"\n'
    release = "c.GenerateFeedback.preprocessors = []\nc.ZipCollectApp.strict = False\n"
    for harmless in (export, exchange, release):
        assert _loaded_config(tmp_path, course + harmless) == base, harmless
    scoring = [
        "c.Execute.timeout = 20\n",
        "c.PerDayLatePenalty.fraction_per_day = 0.2\n",
        'c.ClearHiddenTests.begin_test_delimeter = "BEGIN SECRET"\n',
        "c.SandboxedKernelManager.memory_limit = 2**20\n",
        "c.JudgedExecute.interrupt_grace = 1.0\n",
        "c.OverwriteCells.add_missing_cells = False\n",
    ]
    for change in scoring:
        assert _loaded_config(tmp_path, course + change) != base, change
    assert _loaded_config(tmp_path, course, ("--Execute.timeout=20",)) != base


def test_each_student_due_is_given_a_reason():
    from softsign_grader.fingerprint import _why_due

    assert _why_due(None, "s1:a", graded=False) == "new"
    assert _why_due("s1:a", "s1:a", graded=False) == "new"
    assert _why_due("s1:a", "s1:a", graded=True) is None
    assert _why_due("s1:a", "s1:b", graded=True) == "submission changed"
    assert _why_due("s1:a", "s2:b", graded=True) == "submission changed"
    assert _why_due("s1:a", "s2:a", graded=True) == "grading changed"


def test_the_summary_says_why_each_student_was_graded():
    from softsign_grader.parallel_grading import RunSummary

    summary = RunSummary("week1", [], [], 1.0, 2)
    summary.reasons = {"bo": "--force", "al": "submission changed", "cy": "submission changed"}
    text = summary.render()
    assert "  submission changed (2): al, cy" in text
    assert "  --force (1): bo" in text


def test_the_run_lock_names_its_holder_and_dies_with_it(tmp_path):
    lock = tmp_path / "gradebook.db.lock"
    held_here = rf"process {os.getpid()} on \S+, since 20\d\d-"
    first, second = run_lock(lock, "a grading run"), run_lock(lock, "a grading run")
    with first, pytest.raises(GradingError, match=held_here), second:
        pass
    with run_lock(lock, "a grading run"):  # released at the end of the block
        pass
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from softsign_grader.run_lock import run_lock\n"
            "with run_lock(Path(sys.argv[1]), 'a grading run'):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(300)\n",
            str(lock),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with (
            pytest.raises(
                GradingError, match=rf"a grading run is already running: process {holder.pid}"
            ),
            run_lock(lock, "a grading run"),
        ):
            pass
    finally:
        holder.kill()
        holder.communicate()
    with run_lock(lock, "a grading run"):  # a killed holder leaves no stale lock
        pass


# --------------------------------------------------------------------------- the command line


def test_an_assignment_without_subcommand_is_graded(monkeypatch):
    from softsign_grader import cli

    runs: list[tuple[str, str, list[str]]] = []

    def run(args, nbgrader_args):
        runs.append((args.command, args.assignment, nbgrader_args))
        raise GradingError("stop here")

    monkeypatch.setattr(cli, "_run", run)
    assert cli.main(["week1", "--jobs", "2", "--Execute.timeout=30"]) == 2
    assert cli.main(["grade", "week1", "--jobs", "2"]) == 2
    assert cli.main(["merge", "week1", "--shards", "2"]) == 2
    assert runs == [
        ("grade", "week1", ["--Execute.timeout=30"]),
        ("grade", "week1", []),
        ("merge", "week1", []),
    ]


def test_other_subcommands_run_their_modules_own_command_line(monkeypatch):
    from softsign_grader import cli, report

    seen: list[list[str]] = []
    monkeypatch.setattr(report, "main", lambda argv: seen.append(argv) or 0)
    monkeypatch.setattr(sys, "argv", ["softsign-grade"])
    assert cli.main(["report", "softsign", "--course-root", "x"]) == 0
    assert seen == [["softsign", "--course-root", "x"]]


def test_unknown_options_and_no_assignment_are_usage_errors(capsys):
    from softsign_grader import cli

    for argv in ([], ["week1", "--bogus"]):
        with pytest.raises(SystemExit) as stopped:
            cli.main(argv)
        assert stopped.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


# --------------------------------------------------------------------------- the tiny class


@pytest.mark.slow
def test_parallel_gradebook_is_the_serial_gradebook(tiny_class):
    serial, parallel = tiny_class["serial"], tiny_class["parallel"]
    assert gradebook_state(parallel, assignment=TINY) == gradebook_state(serial, assignment=TINY)
    assert set(gradebook_state(serial, assignment=TINY)) == set(TINY_STUDENTS)
    points = scores(parallel, assignment=TINY)
    assert sum(points["ada"].values()) == 6
    assert sum(points["ben"].values()) == 3 + 2  # x / (1 + x) is right at 1, wrong at -3
    assert sum(points["cy"].values()) == 0
    assert autograded_files(parallel, TINY) == autograded_files(serial, TINY)


@pytest.mark.slow
def test_a_broken_submission_fails_that_student_only(tiny_class):
    log = (tiny_class["base"] / "parallel.log").read_text()
    serial_log = (tiny_class["base"] / "serial.log").read_text()
    for student in ("dee", "eve"):
        assert f"for student '{student}'" in serial_log  # plain nbgrader fails them too
    assert "graded 3, failed 2, unchanged 0" in log
    failures = log.split("Failed:")[1]
    assert "dee" in failures
    assert "01_one.ipynb: DeadKernelError" in failures
    assert "eve" in failures
    assert "02_two.ipynb: NotJSONError" in failures
    assert set(autograded_files(tiny_class["parallel"], TINY)) == {"ada", "ben", "cy"}


@pytest.mark.slow
def test_export_sees_what_it_sees_after_serial_grading(tiny_class):
    tables = []
    for course in (tiny_class["serial"], tiny_class["parallel"]):
        run_nbgrader(["export"], course, env=NBGRADER_ENV)
        with open(course / "grades.csv", newline="") as handle:
            tables.append(sorted(csv.DictReader(handle), key=lambda row: row["student_id"]))
    assert tables[0] == tables[1]
    assert len(tables[0]) == len(TINY_STUDENTS)


@pytest.mark.slow
def test_rerun_grades_only_new_or_changed_submissions(tiny_class, tmp_path):
    course = tmp_path / "course"
    shutil.copytree(tiny_class["parallel"], course, symlinks=True)
    again = grade_command(course, TINY, "--student", "[a-d]*")
    assert "graded 0, failed 1, unchanged 3" in again.stdout  # a failure is tried again
    corrected = course / "submitted" / "ben" / TINY / "02_two.ipynb"
    notebook = nbformat.read(corrected, as_version=4)
    for cell in notebook.cells:
        cell.source = cell.source.replace(WRONG, RIGHT)
    nbformat.write(notebook, corrected)
    changed = grade_command(course, TINY, "--student", "[a-c]*")
    assert "graded 1, failed 0, unchanged 2" in changed.stdout
    assert sum(scores(course, assignment=TINY)["ben"].values()) == 6
    forced = grade_command(course, TINY, "--force", "--jobs", "1", "--student", "[ab]*")
    assert "graded 2, failed 0, unchanged 0" in forced.stdout
    seed = {"SOFTSIGN_HIDDEN_SEED": "seed-never-written-down"}
    secret = grade_command(course, TINY, "--student", "a*", env=seed)
    assert "graded 1, failed 0, unchanged 0" in secret.stdout  # a new secret regrades
    work = course / "autograded" / ".parallel_grading"
    assert not [p for p in work.rglob("*") if p.is_file() and b"never-written" in p.read_bytes()]


def tiny_course(base: Path, original: Path, answers: dict[str, str]) -> Path:
    """The tiny class's course with other students: ``{student: answer to both notebooks}``."""
    course = base / "course"
    shutil.copytree(original, course, symlinks=True)
    shutil.rmtree(course / "submitted")
    for student, answer in answers.items():
        folder = course / "submitted" / student / TINY
        shutil.copytree(course / "release" / TINY, folder)
        for notebook in folder.glob("*.ipynb"):
            _answer(notebook, answer)
    return course


@pytest.mark.slow
def test_a_submission_over_the_time_limit_is_stopped(tiny_class, tmp_path):
    slow = "import time\n    time.sleep(60)\n    " + RIGHT
    course = tiny_course(tmp_path, tiny_class["original"], {"ann": slow, "bo": RIGHT})
    result = grade_command(
        course, TINY, "--jobs", "1", "--student-timeout", "15", "--Execute.timeout=90"
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "graded 1, failed 1" in result.stdout
    assert "ann  grading took longer than 15 s and was stopped" in result.stdout
    assert sum(scores(course, assignment=TINY)["bo"].values()) == 6


@pytest.mark.slow
def test_a_worker_that_dies_fails_only_its_student_and_leaves_no_temporary_files(
    tiny_class, tmp_path
):
    kill_worker = "import os, signal\n    os.kill(os.getppid(), signal.SIGKILL)\n    " + RIGHT
    answers = {"ann": kill_worker, "bo": RIGHT, "cy": RIGHT, "dan": RIGHT}
    course = tiny_course(tmp_path, tiny_class["original"], answers)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    result = grade_command(course, TINY, "--jobs", "2", env={"TMPDIR": str(temporary)})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "graded 3, failed 1" in result.stdout
    assert re.search(r"^  ann +its grading process died", result.stdout, re.MULTILINE)
    points = scores(course, assignment=TINY)
    assert {student: sum(points[student].values()) for student in ("bo", "cy", "dan")} == {
        "bo": 6,
        "cy": 6,
        "dan": 6,
    }
    assert list(temporary.iterdir()) == []
    runs = course / "autograded" / ".parallel_grading" / TINY
    assert not list(runs.glob("run-*"))


@pytest.mark.slow
def test_manual_grades_written_during_a_run_survive_it(tiny_class, tmp_path):
    """A grader's score, comment and extra credit, written in formgrader mid-run, stay."""
    course = tmp_path / "course"
    shutil.copytree(tiny_class["parallel"], course, symlinks=True)
    serial = tmp_path / "serial"
    shutil.copytree(tiny_class["serial"], serial, symlinks=True)
    target = ("test_one_one", "01_one", TINY, "cy")
    with gradebook(course) as book:  # a stale score: the run must replace it
        book.find_grade(*target).auto_score = 1.5
        book.db.commit()
    run = start_grading(course, TINY, "--force", "--jobs", "1", "--student", "[a-c]*")
    wait_for_lock(course, run)
    for folder in (course, serial):  # as formgrader does it, on either course
        with gradebook(folder) as book:
            grade = book.find_grade(*target)
            if folder == course:  # cy is graded last: the run has not merged cy yet
                assert grade.auto_score == 1.5, "the run merged cy before the grader wrote"
            grade.manual_score = 1.0
            grade.extra_credit = 0.5
            book.find_comment("one_solution", "01_one", TINY, "cy").manual_comment = "See me"
            book.db.commit()
    output = run.communicate(timeout=600)[0]
    assert run.returncode == 0, output
    assert "graded 3, failed 0" in output
    run_nbgrader(["autograde", TINY, "--force", "--student", "cy"], serial, env=NBGRADER_ENV)
    ours = gradebook_state(course, {"ada", "ben", "cy"}, TINY)
    assert ours == gradebook_state(serial, {"ada", "ben", "cy"}, TINY)  # what nbgrader keeps
    auto_score, manual_score, extra_credit, needs_manual_grade = ours["cy"]["01_one/test_one_one"]
    assert (auto_score, manual_score, extra_credit) == (0.0, 1.0, 0.5)
    assert needs_manual_grade  # autograding after a manual grade asks the grader to look again
    assert ours["cy"]["01_one/one_solution/comment"][1] == "See me"


@pytest.mark.slow
def test_a_second_run_on_the_same_course_stops_at_once(tiny_class, tmp_path):
    slow = "import time\n    time.sleep(240)\n    " + RIGHT  # keeps the first run going
    course = tiny_course(tmp_path, tiny_class["original"], {"ann": slow, "bo": RIGHT})
    first = start_grading(course, TINY, "--jobs", "1", "--Execute.timeout=300")
    try:
        holder = wait_for_lock(course, first)
        assert holder["pid"] == first.pid
        for command in ([TINY], ["merge", TINY]):
            started = time.monotonic()
            second = grade_command(course, *command)
            assert second.returncode == 2, second.stdout + second.stderr
            assert time.monotonic() - started < 60
            message = second.stderr
            assert "a grading run of this course is already running" in message
            assert f"process {first.pid} on {holder['host']}, since {holder['since']}" in message
        assert first.poll() is None  # the first run was not disturbed
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the run and its workers, at once
        first.communicate()
    after = grade_command(course, TINY, "--student", "bo")
    assert after.returncode == 0, after.stdout + after.stderr  # no stale lock
    assert "graded 1, failed 0" in after.stdout


@pytest.mark.slow
def test_a_course_without_gradebook_is_refused(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text(TINY_CONFIG)
    result = grade_command(tmp_path, TINY)
    assert result.returncode == 2
    assert "generate_assignment" in result.stderr
    assert not (tmp_path / "gradebook.db").exists()


# --------------------------------------------------------------------------- the sample class


def ungraded_copy(graded_class, dest: Path, students: list[str] | None = None) -> Path:
    """Copy the graded sample class as it was before grading, to grade it again.

    Submissions stay; the gradebook keeps the assignment but forgets every student,
    and ``autograded/`` goes, so nothing of the first run can leak into the result.
    """
    shutil.copytree(
        graded_class.course,
        dest,
        symlinks=True,
        ignore=shutil.ignore_patterns("autograded", "feedback", "grades.csv"),
    )
    if students is not None:
        for folder in (dest / "submitted").iterdir():
            if folder.name not in students:
                shutil.rmtree(folder)
    remove_submissions(dest)
    assert gradebook_state(dest) == {}
    return dest


#: The sample students graded again by plain, serial ``nbgrader autograde``: endless loops
#: and exits (kernel restarts and time limits; with a written answer, in notebook 04), and
#: edited and deleted test cells. Each submits only the notebooks its point needs (4 in
#: all). Plain nbgrader withholding a reference in the sandbox is test_layouts' proof.
SERIAL_STUDENTS = [
    "cheat_loop_exit",
    "cheat_test_cells",
]


@pytest.mark.slow
def test_sample_class_serial_scores_equal_parallel(graded_sample_class, tmp_path):
    students = [s for s in SERIAL_STUDENTS if s in graded_sample_class.expected]
    assert len(students) == len(SERIAL_STUDENTS), "a chosen sample student is gone"
    parallel = graded_sample_class.course
    assert "failed 0" in graded_sample_class.summary, graded_sample_class.summary
    with gradebook(parallel) as book:
        empty = {n.name for n in book.find_assignment(ASSIGNMENT).notebooks if not n.max_score}
    assert empty  # a notebook without points, which nobody needs to submit
    summary = graded_sample_class.summary.splitlines()
    missing = [line for line in summary if "No submitted file" in line]
    assert not [line for line in missing if any(f" {name}.ipynb" in line for name in empty)]
    course = ungraded_copy(graded_sample_class, tmp_path / "course", students)
    run_nbgrader(["autograde", ASSIGNMENT], course, env=NBGRADER_ENV)
    assert scores(course) == scores(parallel, set(students))
    assert gradebook_state(course) == gradebook_state(parallel, set(students))
    assert autograded_files(course) == {
        student: files
        for student, files in autograded_files(parallel).items()
        if student in students
    }
    for student in students:
        for key, points in graded_sample_class.expected[student].items():
            assert scores(course, {student})[student][key] == pytest.approx(points), (student, key)


#: Sample students for the shard test, one per shard: a broken file, and wrong work.
SHARD_STUDENTS = ["broken_files", "mistake_missing_abs"]


@pytest.mark.slow
def test_two_shards_merged_equal_one_run(graded_sample_class, tmp_path):
    students = [s for s in SHARD_STUDENTS if s in graded_sample_class.expected]
    assert len(students) == len(SHARD_STUDENTS), "a chosen sample student is gone"
    course = ungraded_copy(graded_sample_class, tmp_path / "course", students)
    # Two "machines" at once, one worker each, on the same course folder.
    began = time.monotonic()
    shards = [
        subprocess.Popen(
            [*softsign_grade(), ASSIGNMENT, "--shard", f"{index}/2", "--jobs", "1"],
            cwd=course,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=NBGRADER_ENV,
        )
        for index in (1, 2)
    ]
    outputs = [shard.communicate(timeout=900)[0] for shard in shards]
    for index, (shard, output) in enumerate(zip(shards, outputs, strict=True), start=1):
        assert shard.returncode == 0, output
        assert f"(shard {index}/2): graded {len(shard_students(students, index, 2))}" in output
    assert gradebook_state(course) == {}  # shards leave the course gradebook alone

    early = grade_command(course, "merge", ASSIGNMENT, "--shards", "3")
    assert early.returncode == 2
    assert "3/3 have not finished; nothing was merged" in early.stderr
    assert gradebook_state(course) == {}

    merged = grade_command(course, "merge", ASSIGNMENT, "--shards", "2")
    elapsed = time.monotonic() - began
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert f"graded {len(students)}, failed 0" in merged.stdout
    # The wall time of the whole job, from the first shard's start to the merge's end.
    wall = re.search(r"unchanged 0 in (?:(\d+) min )?([\d.]+) s of 2 shards", merged.stdout)
    assert wall, merged.stdout
    assert elapsed - 15 <= int(wall.group(1) or 0) * 60 + float(wall.group(2)) <= elapsed + 1
    whole = graded_sample_class.course
    assert scores(course) == scores(whole, set(students))
    assert gradebook_state(course) == gradebook_state(whole, set(students))
    assert autograded_files(course) == {
        student: files for student, files in autograded_files(whole).items() if student in students
    }
    again = grade_command(course, ASSIGNMENT)
    assert f"graded 0, failed 0, unchanged {len(students)}" in again.stdout


def test_the_summary_warns_when_kernels_are_not_isolated(monkeypatch):
    from softsign_grader.parallel_grading import RunSummary

    summary = RunSummary("week1", [], [], 1.0, 2)
    monkeypatch.setenv("SOFTSIGN_SANDBOX", "off")
    assert "grading kernels are NOT isolated" in summary.render()


@pytest.mark.slow
def test_a_merge_that_fails_costs_only_its_student_who_is_graded_again(tiny_class, tmp_path):
    course = tiny_course(tmp_path, tiny_class["original"], {s: RIGHT for s in ("ann", "bo", "cy")})
    (course / "autograded").mkdir(exist_ok=True)
    (course / "autograded" / "bo").write_text("a file where bo's folder should go")
    result = grade_command(course, TINY, "--jobs", "2")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "graded 2, failed 1" in result.stdout
    assert re.search(r"^  bo +its results could not be merged", result.stdout, re.MULTILINE)
    points = scores(course, assignment=TINY)
    assert sum(points["ann"].values()) == sum(points["cy"].values()) == 6
    (course / "autograded" / "bo").unlink()
    again = grade_command(course, TINY, "--jobs", "2")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "graded 1, failed 0, unchanged 2" in again.stdout  # bo was not recorded as done
    assert sum(scores(course, assignment=TINY)["bo"].values()) == 6


@pytest.mark.slow
def test_a_forged_shard_outcome_cannot_reach_outside_the_course(tiny_class, tmp_path):
    course = tiny_course(tmp_path, tiny_class["original"], {"ann": RIGHT})
    shard = grade_command(course, TINY, "--shard", "1/1", "--jobs", "1")
    assert shard.returncode == 0, shard.stdout + shard.stderr
    (manifest,) = (course / "autograded" / ".parallel_grading").rglob("manifest.json")
    data = json.loads(manifest.read_text())
    forged = {**data["outcomes"][0], "student": "../../escape"}
    data["outcomes"].append(forged)
    manifest.write_text(json.dumps(data))
    merged = grade_command(course, "merge", TINY, "--shards", "1")
    assert merged.returncode == 1, merged.stdout + merged.stderr
    assert "is not a student id a folder can be named by" in merged.stdout
    assert not (tmp_path / "escape").exists()
    assert sum(scores(course, assignment=TINY)["ann"].values()) == 6
