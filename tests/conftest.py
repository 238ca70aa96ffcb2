"""Shared fixtures.

``graded_sample_class`` autogrades the whole sample class (``tests/submissions``,
built by :func:`softsign_grader.sample_class.build_sample_class`) once per test
run, as ``make grade`` does: ``softsign-grade softsign --jobs 2``, real nbgrader in
each worker, so that every test that needs a graded class (the grading tests, the
report, the LMS export, the comparison with serial ``nbgrader autograde``) shares it.

``released_template`` is the course released once per session by ``nbgrader
generate_assignment`` (the course's own config, every notebook); tests copy it with
:func:`copy_released` instead of releasing the same course again.

Both are made in a background thread that starts with the first test of the session
(when a selected test needs them), so that their nbgrader runs overlap with the tests
that come first; the tests that use the graded class run last (see
:func:`pytest_collection_modifyitems`). The fixtures wait for that work and re-raise
its error, if any.

With pytest-xdist (``make test`` runs one worker more than cores, ``--dist loadscope``),
each file runs whole in one worker (its module fixtures are set up once), and the release and the
graded class are still made once per run: the first worker to ask makes them in the
folder all workers share, under a file lock, and the others load the result.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from softsign_grader.course import (
    ASSIGNMENT,
    course_id,
    make_course,
    run_nbgrader,
    tool_path_env,
)
from softsign_grader.sample_class import build_sample_class

#: nbgrader runs the `alembic` executable beside this Python when it creates a gradebook.
NBGRADER_ENV = {"PATH": tool_path_env()["PATH"]}


def run_softsign_grade(
    course: Path, *args: str, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run ``softsign-grade ARGS`` (the console script, else the module) on ``course``."""
    script = Path(sys.executable).with_name("softsign-grade")
    command = (
        [str(script)]
        if script.exists()
        else [sys.executable, "-m", "softsign_grader.parallel_grading"]
    )
    return subprocess.run(
        [*command, *args, "--course-root", str(course), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=tool_path_env(),
        check=False,
    )


@dataclass(frozen=True)
class GradedClass:
    """The sample class after ``softsign-grade softsign --jobs 2``.

    Attributes
    ----------
    course : Path
        The course directory (``gradebook.db``, ``submitted/``, ``autograded/``).
    expected : dict
        ``{student: {"notebook/grade_id": points}}`` from ``build_sample_class``.
    scores : dict
        The same shape, read from the gradebook (``auto_score``; None if absent), for
        the autograded test cells (code cells).
    manual : dict
        ``{student: {"notebook/grade_id": needs_manual_grade}}`` for the written
        answers (markdown cells graded by hand).
    summary : str
        What ``softsign-grade`` printed (its summary of the run).
    log : str
        The summary, then nbgrader's full log from every worker.
    seconds : float
        Wall time of the grading run.
    """

    course: Path
    expected: dict[str, dict[str, float]]
    scores: dict[str, dict[str, float | None]]
    manual: dict[str, dict[str, bool]]
    summary: str
    log: str
    seconds: float


def read_scores(course: Path, assignment: str = ASSIGNMENT) -> dict[str, dict[str, float | None]]:
    """Return every autograded test cell's score in ``course``'s gradebook, by student."""
    return {
        student: {key: score for key, (score, written, _) in cells.items() if not written}
        for student, cells in _read_grades(course, assignment).items()
    }


def read_manual(course: Path, assignment: str = ASSIGNMENT) -> dict[str, dict[str, bool]]:
    """Return whether each written answer needs a manual grade, by student."""
    return {
        student: {key: manual for key, (_, written, manual) in cells.items() if written}
        for student, cells in _read_grades(course, assignment).items()
    }


def _read_grades(
    course: Path, assignment: str
) -> dict[str, dict[str, tuple[float | None, bool, bool]]]:
    """``{student: {key: (auto_score, written answer, needs_manual_grade)}}``."""
    from nbgrader.api import Gradebook

    grades: dict[str, dict[str, tuple[float | None, bool, bool]]] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id(course)) as gradebook:
        for submission in gradebook.assignment_submissions(assignment):
            cells = grades.setdefault(submission.student_id, {})
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    written = grade.cell.cell_type == "markdown"
                    cells[f"{notebook.name}/{grade.name}"] = (
                        grade.auto_score,
                        written,
                        bool(grade.needs_manual_grade),
                    )
    return grades


@pytest.fixture(scope="session")
def nbgrader_env() -> dict[str, str]:
    """Environment for :func:`softsign_grader.course.run_nbgrader` (finds `alembic`)."""
    return dict(NBGRADER_ENV)


def copy_released(template: Path, dest: Path) -> Path:
    """Copy the released course ``template`` (config, solutions, release, gradebook) to ``dest``."""
    shutil.copytree(template, dest, symlinks=True)
    return dest


def _release(dest: Path) -> Path:
    course = make_course(dest, release=False)
    run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], course, env=NBGRADER_ENV)
    return course


def _grade_sample_class(template: Path, dest: Path) -> GradedClass:
    course = copy_released(template, dest)
    expected = build_sample_class(course)
    start = time.perf_counter()
    result = run_softsign_grade(course, ASSIGNMENT, "--jobs", "2", timeout=1800)
    seconds = time.perf_counter() - start
    summary = result.stdout + result.stderr
    if result.returncode != 0:
        msg = f"grading the sample class failed ({result.returncode}):\n{summary}"
        raise RuntimeError(msg)
    nbgrader_log = course / "autograded" / ".parallel_grading" / ASSIGNMENT / "grading.log"
    return GradedClass(
        course=course,
        expected=expected,
        scores=read_scores(course),
        manual=read_manual(course),
        summary=summary,
        log=summary + nbgrader_log.read_text(encoding="utf-8", errors="replace"),
        seconds=seconds,
    )


#: Hypothesis examples per property test without an explicit count, in the fast lane.
FAST_LANE_EXAMPLES = 25


def pytest_configure(config: pytest.Config) -> None:
    """In the fast lane (``-m "not slow ..."``), property tests try fewer examples.

    A test's own ``max_examples`` still wins; the full run keeps hypothesis's default
    (100). ``--hypothesis-profile`` chooses a profile explicitly.
    """
    from hypothesis import settings

    settings.register_profile("fast-lane", max_examples=FAST_LANE_EXAMPLES)
    markexpr = config.getoption("markexpr", "") or ""
    if "not slow" in markexpr and not config.getoption("hypothesis_profile", None):
        settings.load_profile("fast-lane")


#: The tests that read the graded sample class run after the others (see below).
_LAST = "graded_sample_class"
#: The longest module (its one grading run waits out time limits): under pytest-xdist it is
#: handed out first, so that the other worker shares the rest instead of waiting for it.
_FIRST = "tests/test_adversarial.py"


def _file(item: pytest.Item) -> str:
    """The file an item comes from (a test module, a notebook, a module's doctests)."""
    return item.nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run what reads the graded sample class last, so that its grading overlaps the rest.

    The class is graded in the background from the session's first test on. Files keep
    their tests together (module fixtures are set up once), in three bands: files that
    never read the class, files with some tests that do (those tests last in the file),
    and files whose every test does. Under pytest-xdist (``--dist loadscope`` hands each
    file to one worker whole, in this order) the adversarial module comes first.
    """
    needs = {id(item): _LAST in getattr(item, "fixturenames", ()) for item in items}
    files: dict[str, list[bool]] = {}
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        files.setdefault(_file(item), []).append(needs[id(item)])
        first.setdefault(_file(item), index)
    band = {name: (any(flags) + all(flags)) for name, flags in files.items()}
    distributed = hasattr(config, "workerinput")
    items.sort(  # a stable sort: tests keep their order within each key
        key=lambda item: (
            distributed and _file(item) != _FIRST,
            band[_file(item)],
            first[_file(item)],
            needs[id(item)],
        )
    )


_T = TypeVar("_T")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) across processes."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _once(folder: Path, make: Callable[[Path], _T]) -> _T:
    """``make(folder)`` once per test run, whatever the number of pytest-xdist workers.

    The first process to take ``folder``'s lock makes it and pickles the result beside
    it; the others wait for the lock and load that. A failure is not recorded, so each
    process that asks tries again and sees the error itself.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    done = folder.with_name(folder.name + ".pickle")
    with _locked(folder.with_name(folder.name + ".lock")):
        if done.exists():
            return pickle.loads(done.read_bytes())
        value = make(folder)
        done.write_bytes(pickle.dumps(value))
        return value


def _shared_root(factory: pytest.TempPathFactory) -> Path:
    """The folder for work shared by the run: all xdist workers' basetemps' parent."""
    base = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return base.parent / "shared"
    return factory.mktemp("shared")


class _Background:
    """The session's shared nbgrader work, done in one thread, in order."""

    def __init__(self, root: Callable[[], Path]) -> None:
        self.root = root
        self.started = False
        self.grading = False
        self.template: Future[Path] = Future()
        self.graded: Future[GradedClass] = Future()

    def start(self, *, grade: bool) -> None:
        """Start the work once (the session's first test, or whichever fixture asks first)."""
        if self.started:
            return
        self.started = True
        self.grading = grade
        root = self.root()

        def work() -> None:
            steps: list[tuple[Future, Callable[[], object]]] = [
                (self.template, lambda: _once(root / "released", lambda f: _release(f / "course")))
            ]
            if grade:
                steps.append(
                    (
                        self.graded,
                        lambda: _once(
                            root / "graded-sample-class",
                            lambda f: _grade_sample_class(self.template.result(), f / "course"),
                        ),
                    )
                )
            for future, step in steps:
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    future.set_result(step())
                except BaseException as error:  # the fixture that waits re-raises it
                    future.set_exception(error)

        threading.Thread(target=work, name="shared-nbgrader-work", daemon=True).start()


@pytest.fixture(scope="session", autouse=True)
def _shared_nbgrader_work(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> _Background:
    """Start releasing (and, if a selected test needs it, grading) as the session starts."""
    needed = set().union(*(getattr(item, "fixturenames", ()) for item in request.session.items))
    background = _Background(lambda: _shared_root(tmp_path_factory))
    if needed & {"released_template", "graded_sample_class"}:
        background.start(grade="graded_sample_class" in needed)
    return background


@pytest.fixture(scope="session")
def released_template(_shared_nbgrader_work: _Background) -> Path:
    """The course released once by ``nbgrader generate_assignment``: copy it, never change it.

    Copy it with :func:`copy_released`; the copy has the release and the gradebook
    that ``generate_assignment`` leaves, as if released in place.
    """
    _shared_nbgrader_work.start(grade=False)  # a no-op unless only asked for now
    return _shared_nbgrader_work.template.result()


@pytest.fixture(scope="session")
def graded_sample_class(_shared_nbgrader_work: _Background) -> GradedClass:
    """The sample class, released, submitted and autograded by the course's pool (2 workers)."""
    work = _shared_nbgrader_work
    work.start(grade=True)  # a no-op unless only asked for now
    if not work.grading:  # started for the release only: grade here
        template = work.template.result()
        return _once(
            work.root() / "graded-sample-class",
            lambda folder: _grade_sample_class(template, folder / "course"),
        )
    return work.graded.result()


@pytest.fixture(scope="session")
def late_template(tmp_path_factory) -> Path:
    """``test_late.build_late_gradebook``'s course, once per run whatever the workers (a new
    gradebook runs ``alembic``): ``late`` is 20 % late, ``on_time`` is not; 5 of 7 points.
    Copy it, never change it."""
    from test_late import build_late_gradebook

    def build(folder: Path) -> Path:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("PATH", NBGRADER_ENV["PATH"])
            build_late_gradebook(folder / "course")
        return folder / "course"

    return _once(_shared_root(tmp_path_factory) / "late-template", build)
