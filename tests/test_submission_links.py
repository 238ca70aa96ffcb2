"""Nothing from a submission is followed or trusted before it is inside the sandbox: the pool.

A submission folder is the student's: it may hold symbolic links (to the gradebook, to a
peer's notebook), FIFOs and links to devices. ``softsign-grade`` fingerprints every
submission before grading starts, and nbgrader copies a submission's other files next to
the notebook the kernel runs in; both used to follow links, so a link let the kernel read
a peer's notebook or the gradebook, a link to a FIFO hung the whole class and a link to
``/dev/zero`` ran it out of memory. Here:

- in-process and fast: :func:`submission_fingerprint` on such a folder returns at once,
  changes with a regular file and not with a link's target; a worker's staging copy
  holds only the regular files, names the rest (manifest, notes) and is removed after;
- one real ``softsign-grade --jobs 2`` run of a one-notebook class of two students, one
  of whom submits all of those links and a notebook that tries to open them.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from conftest import NBGRADER_ENV, run_softsign_grade
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from softsign_grader.course import run_nbgrader
from softsign_grader.parallel_grading import (
    GradingError,
    _skipped_notes,
    _stage,
    _staged_folder,
    _staged_root,
    _unstage,
    _WorkerSettings,
    submission_fingerprint,
)
from softsign_grader.submission import MANIFEST_SUFFIX, skipped_manifest

# --------------------------------------------------------------------------- helpers


def hostile_folder(root: Path) -> tuple[Path, Path]:
    """A submission folder with a notebook, a FIFO and links to a FIFO, /dev/zero and a file.

    Returns the folder and the file outside it that one link points to.
    """
    folder = root / "submitted" / "mallory" / "week1"
    folder.mkdir(parents=True)
    outside = root / "elsewhere"
    outside.mkdir()
    (outside / "secret.txt").write_text("a peer's answer")
    os.mkfifo(outside / "fifo")
    (folder / "01_links.ipynb").write_text("{}")
    (folder / "timestamp.txt").write_text("2024-05-01 12:00:00.000000 UTC")
    os.mkfifo(folder / "pipe")
    (folder / "fifo_link").symlink_to(outside / "fifo")
    (folder / "zero").symlink_to("/dev/zero")
    (folder / "peer.txt").symlink_to(outside / "secret.txt")
    return folder, outside / "secret.txt"


LINKS = {
    "fifo_link": "a symbolic link, not followed",
    "peer.txt": "a symbolic link, not followed",
    "pipe": "a FIFO (named pipe), not read",
    "zero": "a symbolic link, not followed",
}


# --------------------------------------------------------------------------- in-process


@pytest.mark.timeout(30)
def test_the_fingerprint_follows_no_link_and_reads_no_fifo(tmp_path):
    folder, secret = hostile_folder(tmp_path)
    start = time.monotonic()
    first = submission_fingerprint(folder, [".ipynb_checkpoints"], salt="s")
    assert time.monotonic() - start < 5
    assert submission_fingerprint(folder, [".ipynb_checkpoints"], salt="s") == first

    secret.write_text("the peer changed their answer")  # the link's target: not read
    assert submission_fingerprint(folder, [".ipynb_checkpoints"], salt="s") == first

    (folder / "01_links.ipynb").write_text('{"cells": []}')  # a regular file: read
    edited = submission_fingerprint(folder, [".ipynb_checkpoints"], salt="s")
    assert edited != first

    (folder / "zero").unlink()  # a link that goes is a change too (it was named)
    assert submission_fingerprint(folder, [".ipynb_checkpoints"], salt="s") not in {first, edited}


def course_directory(root: Path, staged_step: str):
    """nbgrader's CourseDirectory of a worker whose submitted folder is ``staged_step``."""
    from nbgrader.coursedir import CourseDirectory

    return CourseDirectory(root=str(root), submitted_directory=staged_step)


@pytest.mark.timeout(30)
def test_a_worker_stages_only_regular_files_names_the_rest_and_removes_them(tmp_path):
    folder, _ = hostile_folder(tmp_path)
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / "01_links-checkpoint.ipynb").write_text("{}")
    run_dir = tmp_path / "autograded" / ".parallel_grading" / "week1" / "run-1"
    settings = _WorkerSettings(
        course_root=str(tmp_path),
        course_id="links",
        assignment="week1",
        nbgrader_args=(),
        run_dir=str(run_dir),
        template_db="",
        autograded_step=os.path.relpath(run_dir / "autograded", tmp_path),
        submitted_step="submitted",
        staged_step=os.path.relpath(run_dir / "staged", tmp_path),
        temp_dir=str(tmp_path),
        student_timeout=None,
    )
    coursedir = course_directory(tmp_path, settings.staged_step)
    log = logging.getLogger("test_submission_links")
    worker = SimpleNamespace(settings=settings, api=SimpleNamespace(coursedir=coursedir, log=log))

    staged = _staged_folder(worker, "mallory")
    assert staged == run_dir / "staged" / "mallory" / "week1"
    assert _staged_root(worker) == run_dir / "staged"
    submission = _stage(worker, "mallory", staged)

    assert sorted(p.name for p in staged.iterdir()) == ["01_links.ipynb", "timestamp.txt"]
    assert all(p.is_file() and not p.is_symlink() for p in staged.iterdir())
    assert (staged / "timestamp.txt").read_text() == "2024-05-01 12:00:00.000000 UTC"
    assert {s.path: s.reason for s in skipped_manifest(staged)} == LINKS
    assert Path(f"{staged}{MANIFEST_SUFFIX}").is_file()
    assert _skipped_notes(submission.skipped) == [
        f"skipped {path}: {reason}" for path, reason in sorted(LINKS.items())
    ]

    _unstage(staged, _staged_root(worker))
    assert not Path(f"{staged}{MANIFEST_SUFFIX}").exists()
    assert list((run_dir / "staged").iterdir()) == []  # the student's folder went too

    with pytest.raises(GradingError, match="not a student id"):
        _staged_folder(worker, "..")


def test_many_skipped_files_are_summed_up():
    from softsign_grader.submission import Skipped

    notes = _skipped_notes(
        [Skipped(f"f{i:03d}", "a FIFO (named pipe), not read") for i in range(60)]
    )
    assert notes[0] == "skipped f000: a FIFO (named pipe), not read"
    assert len(notes) == 51
    assert notes[-1] == "... and 10 more files skipped"


# --------------------------------------------------------------------------- a real run

ASSIGNMENT = "week1"
PEER_MARKER = "peer-marker-4c1f9"
PROBED = ("gradebook.db", "fifo_link", "zero", "peer.txt", "pipe")
PROBE = f"""\
import os
for name in {PROBED!r}:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK)
        try:
            data = os.read(fd, 64)
        finally:
            os.close(fd)
        print(name, "READ", repr(data))
    except OSError as error:
        print(name, "ERROR", type(error).__name__)
"""


def _cell(kind: str, source: str, cell_id: str, **nbgrader) -> nbformat.NotebookNode:
    metadata = {
        "grade": False,
        "grade_id": cell_id,
        "locked": False,
        "schema_version": 3,
        "solution": False,
        "task": False,
        **nbgrader,
    }
    make = new_code_cell if kind == "code" else new_markdown_cell
    return make(source, metadata={"nbgrader": metadata}, id=cell_id)


def _source_notebook() -> nbformat.NotebookNode:
    notebook = new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    notebook.cells = [
        _cell("markdown", "# softsign", "intro", locked=True),
        _cell(
            "code",
            "def softsign(x):\n    ### BEGIN SOLUTION\n    return x / (1 + abs(x))\n"
            "    ### END SOLUTION",
            "answer",
            solution=True,
        ),
        _cell("code", "assert softsign(1.0) == 0.5", "test_one", grade=True, locked=True, points=2),
    ]
    return notebook


def _config(root: Path) -> str:
    # A pre-convert hook records, while nbgrader grades a student, the folder nbgrader reads
    # the submission from and the manifest beside it (both are gone once the student is done).
    return f"""\
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "links"
c.CourseDirectory.source_directory = "solutions"
c.Execute.timeout = 10
c.AssignLatePenalties.plugin_class = "softsign_grader.late.PerDayLatePenalty"


def spy(assignment, student, notebooks):
    import json, os

    folder = os.path.dirname(notebooks[0])
    manifest = folder + ".skipped.json"
    seen = {{"folder": folder, "files": sorted(os.listdir(folder)), "manifest": None}}
    if os.path.exists(manifest):
        with open(manifest) as handle:
            seen["manifest"] = json.load(handle)
    with open(os.path.join({str(root)!r}, "spy-" + student + ".json"), "w") as handle:
        json.dump(seen, handle)


c.Autograde.pre_convert_hook = spy
"""


def build_linked_class(root: Path, outside: Path) -> None:
    """One notebook, two students; alice's folder links to the gradebook, bob, a FIFO, /dev/zero."""
    (root / "solutions" / ASSIGNMENT).mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(_config(root))
    nbformat.write(_source_notebook(), root / "solutions" / ASSIGNMENT / "01_links.ipynb")
    run_nbgrader(["generate_assignment", ASSIGNMENT], root, env=NBGRADER_ENV)
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "links") as gradebook:
        gradebook.update_or_create_assignment(ASSIGNMENT, duedate=datetime.datetime(2024, 5, 1))
    released = root / "release" / ASSIGNMENT / "01_links.ipynb"
    answer = "return x / (1 + abs(x))"
    for student, when, extra in (
        (
            "alice",
            "2024-05-02 12:00:00.000000 UTC",
            [new_code_cell(PROBE)],
        ),  # a day and a half late
        ("bob", "2024-04-30 12:00:00.000000 UTC", []),
    ):
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        notebook = nbformat.read(released, as_version=4)
        for cell in notebook.cells:
            marker = f"  # {PEER_MARKER}" if student == "bob" else ""
            cell.source = cell.source.replace("raise NotImplementedError()", answer + marker)
        notebook.cells.extend(extra)
        nbformat.write(notebook, folder / "01_links.ipynb")
        (folder / "timestamp.txt").write_text(when)
    alice = root / "submitted" / "alice" / ASSIGNMENT
    outside.mkdir()
    os.mkfifo(outside / "fifo")
    (alice / "gradebook.db").symlink_to(root / "gradebook.db")
    (alice / "fifo_link").symlink_to(outside / "fifo")
    (alice / "zero").symlink_to("/dev/zero")
    (alice / "peer.txt").symlink_to(root / "submitted" / "bob" / ASSIGNMENT / "01_links.ipynb")
    os.mkfifo(alice / "pipe")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_links_in_a_submission_reach_neither_the_run_nor_the_kernel(tmp_path):
    root = tmp_path / "course"
    build_linked_class(root, tmp_path / "outside")
    start = time.monotonic()
    result = run_softsign_grade(root, ASSIGNMENT, "--jobs", "2", timeout=300)
    seconds = time.monotonic() - start
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "graded 2, failed 0" in output, output
    print(f"softsign-grade --jobs 2 on two students: {seconds:.1f} s")

    # The summary names every file left out.
    notes = output.split("Notes:")[1]
    for name in PROBED:
        reason = (
            "a FIFO (named pipe), not read" if name == "pipe" else "a symbolic link, not followed"
        )
        assert f"alice: skipped {name}: {reason}" in notes, output
    assert "bob: skipped" not in notes

    # nbgrader read alice from the staged copy: regular files, the manifest beside it.
    seen = json.loads((root / "spy-alice.json").read_text())
    staged = Path(seen["folder"])
    assert staged.parts[-2:] == ("alice", ASSIGNMENT)
    assert "staged" in staged.parts
    assert not staged.is_relative_to(root / "submitted")
    assert seen["files"] == ["01_links.ipynb", "timestamp.txt"]
    assert {item["path"] for item in seen["manifest"]} == set(PROBED)
    assert json.loads((root / "spy-bob.json").read_text())["manifest"] is None
    assert not staged.exists()
    assert not Path(f"{staged}{MANIFEST_SUFFIX}").exists()
    assert not list((root / "autograded" / ".parallel_grading").rglob("staged"))

    # None of the linked content reached alice's autograded folder or her notebook's outputs.
    graded = root / "autograded" / "alice" / ASSIGNMENT
    assert sorted(p.name for p in graded.iterdir()) == ["01_links.ipynb", "timestamp.txt"]
    for path in graded.rglob("*"):
        data = path.read_bytes()
        assert b"SQLite format 3" not in data, path
        assert PEER_MARKER.encode() not in data, path
        assert b"\0\0\0\0\0\0\0\0" not in data, path
    notebook = nbformat.read(graded / "01_links.ipynb", as_version=4)
    printed = "".join(
        output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", [])
    )
    for name in PROBED:
        assert f"{name} ERROR FileNotFoundError" in printed, printed
    assert "READ" not in printed

    # Both graded; the timestamps came through the staged copy: alice is late, bob is not.
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "links") as gradebook:
        alice = gradebook.find_submission(ASSIGNMENT, "alice")
        bob = gradebook.find_submission(ASSIGNMENT, "bob")
        assert alice.timestamp == datetime.datetime(2024, 5, 2, 12)
        assert bob.timestamp == datetime.datetime(2024, 4, 30, 12)
        assert alice.score == bob.score == 2
        assert alice.late_submission_penalty == pytest.approx(0.4)  # 2 started days, 10 % each
        assert not bob.late_submission_penalty
    shutil.rmtree(tmp_path / "outside")
