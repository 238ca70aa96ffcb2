"""``softsign-grade collect``: an LMS download reaches ``submitted/`` and nothing is lost.

The ``slow`` tests run real ``nbgrader zip_collect`` twice over one Canvas and one Moodle
zip (a renamed notebook, a resubmission, a ``_LATE_`` file, earlier work with a
hand-written ``timestamp.txt``); the others test the pieces in process.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nbgrader.api import Gradebook
from nbgrader.utils import parse_utc

from softsign_grader import cli
from softsign_grader.collect import (
    LATE_WITHOUT_TIME,
    LmsCollectorPlugin,
    _place,
    _timestamp,
    collect,
    timestamp_text,
)
from softsign_grader.course import ASSIGNMENT, make_course
from softsign_grader.lms import LMS_FILE_NAME_PATTERN

DUE = datetime(2026, 10, 5, 21, 59)
FIRST = datetime(2026, 10, 6, 8, 0, tzinfo=UTC)
SECOND = datetime(2026, 10, 7, 8, 0, tzinfo=UTC)
HAND_WRITTEN = "2026-10-05 20:00:00.000000 UTC"


def _notebook(tag: str, grade_ids: tuple[str, ...] = ()) -> str:
    cells = [{"cell_type": "code", "metadata": {}, "source": tag, "outputs": []}]
    cells += [
        {"cell_type": "code", "metadata": {"nbgrader": {"grade_id": g}}, "source": ""}
        for g in grade_ids
    ]
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def _release_ids(course: Path, notebook: str) -> tuple[str, ...]:
    cells = json.loads((course / "notebooks" / ASSIGNMENT / notebook).read_text())["cells"]
    return tuple(
        c["metadata"]["nbgrader"]["grade_id"]
        for c in cells
        if c["metadata"].get("nbgrader", {}).get("grade_id")
    )


def _download(course: Path) -> None:
    """A Canvas zip and a Moodle zip in downloaded/ASSIGNMENT/archive."""
    archive = course / "downloaded" / ASSIGNMENT / "archive"
    archive.mkdir(parents=True)
    quotient = _release_ids(course, "03_quotient_rule_derivation.ipynb")
    with zipfile.ZipFile(archive / "canvas.zip", "w") as bundle:
        bundle.writestr("doeann_11111_1_01_softsign_definition.ipynb", _notebook("ann"))
        bundle.writestr("doejane_22222_2_01_softsign_definition.ipynb", _notebook("jane new"))
        bundle.writestr("roeravi_33333_3_02_derivative_of_abs.ipynb", _notebook("ravi 0"))
        bundle.writestr("roeravi_33333_3_02_derivative_of_abs-1.ipynb", _notebook("ravi 1"))
        bundle.writestr("lateluke_LATE_44444_4_01_softsign_definition.ipynb", _notebook("luke"))
        bundle.writestr("renamer_55555_5_my_homework.ipynb", _notebook("ren", quotient))
        bundle.writestr("renamer_55555_5_notes.ipynb", _notebook("notes"))
    with zipfile.ZipFile(archive / "moodle.zip", "w") as bundle:
        folder = "Mo Dell_66666_assignsubmission_file_"
        bundle.writestr(f"{folder}/01_softsign_definiton.ipynb", _notebook("mo"))


@pytest.fixture(scope="module")
def collected(tmp_path_factory, nbgrader_env):
    """The course after two collects of one download over earlier work: (course, summaries)."""
    course = make_course(tmp_path_factory.mktemp("collect") / "course")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", nbgrader_env["PATH"])  # the gradebook runs `alembic`
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
            gradebook.update_or_create_assignment(ASSIGNMENT, duedate=DUE)
        _download(course)
        for student, text in (("11111", "ann"), ("22222", "jane old")):
            earlier = course / "submitted" / student / ASSIGNMENT
            earlier.mkdir(parents=True)
            (earlier / "01_softsign_definition.ipynb").write_text(_notebook(text))
            (earlier / "timestamp.txt").write_text(HAND_WRITTEN)
        first = collect(course, ASSIGNMENT, env=nbgrader_env, now=FIRST)
        snapshot = {
            str(p.relative_to(course)): p.read_bytes()
            for p in sorted((course / "submitted").rglob("*"))
            if p.is_file()
        }
        patch.setattr("softsign_grader.collect.datetime", _Frozen)
        patch.chdir(course)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = cli.main(["collect", ASSIGNMENT])
    assert status == 0, out.getvalue()
    return course, first, snapshot, out.getvalue()


class _Frozen(datetime):
    @classmethod
    def now(cls, tz=None):
        return SECOND


def _submitted(course: Path, student: str, name: str = ASSIGNMENT) -> dict[str, str]:
    folder = course / "submitted" / student / name
    return {p.name: p.read_text() for p in sorted(folder.iterdir())}


@pytest.mark.slow
def test_collect_takes_renamed_resubmitted_and_late_work(collected):
    course, first, _, _ = collected
    assert first.new == ["33333", "44444", "55555", "66666"], first.render()
    assert _submitted(course, "33333") == {"02_derivative_of_abs.ipynb": _notebook("ravi 1")}
    late = _submitted(course, "44444")
    assert parse_utc(late["timestamp.txt"]) == DUE + LATE_WITHOUT_TIME
    assert first.late == {"44444": late["timestamp.txt"]}
    renamed = _submitted(course, "55555")
    assert set(renamed) == {"03_quotient_rule_derivation.ipynb"}, first.render()
    assert _submitted(course, "66666") == {"01_softsign_definition.ipynb": _notebook("mo")}
    assert first.skipped == {
        "55555": [
            "renamer_55555_5_notes.ipynb: notes.ipynb is not a notebook of the assignment "
            "(01_softsign_definition.ipynb, 02_derivative_of_abs.ipynb, "
            "03_quotient_rule_derivation.ipynb, 04_softsign_vs_tanh.ipynb, "
            "05_softsign_in_deep_networks.ipynb, 06_activation_family.ipynb) and matches "
            "none by its cells or its name"
        ],
        "33333": [
            "roeravi_33333_3_02_derivative_of_abs.ipynb: 02_derivative_of_abs.ipynb: "
            "superseded by the resubmission roeravi_33333_3_02_derivative_of_abs-1.ipynb"
        ],
    }


@pytest.mark.slow
def test_collect_keeps_earlier_work_and_hand_written_timestamps(collected):
    course, first, snapshot, second_summary = collected
    # Unchanged work is left as it was, the TA's timestamp.txt included.
    assert first.unchanged == ["11111"]
    assert _submitted(course, "11111") == {
        "01_softsign_definition.ipynb": _notebook("ann"),
        "timestamp.txt": HAND_WRITTEN,
    }
    # Changed work replaces the folder only after it is renamed; nothing is deleted.
    backup = f"{ASSIGNMENT}.before-collect-20261006T080000Z"
    assert first.replaced == {"22222": f"submitted/22222/{backup}"}
    assert _submitted(course, "22222") == {"01_softsign_definition.ipynb": _notebook("jane new")}
    assert _submitted(course, "22222", backup) == {
        "01_softsign_definition.ipynb": _notebook("jane old"),
        "timestamp.txt": HAND_WRITTEN,
    }
    # A second collect of the same download changes nothing and backs up nothing.
    after = {
        str(p.relative_to(course)): p.read_bytes()
        for p in sorted((course / "submitted").rglob("*"))
        if p.is_file()
    }
    assert after == snapshot
    assert "Collected softsign: 6 students (0 new, 0 replaced, 6 unchanged" in second_summary


@pytest.mark.slow
def test_collect_summary_names_everything(collected):
    _, first, _, _ = collected
    summary = first.render()
    for line in (
        "Collected softsign: 6 students (4 new, 1 replaced, 1 unchanged and left as they were)",
        f"  replaced 22222: the earlier work is kept in submitted/22222/{ASSIGNMENT}.before-",
        "Late: 1",
        "  44444: timestamp.txt 2026-10-05 22:00:00.000000 UTC",
        "Resubmissions resolved: 1",
        "  33333 02_derivative_of_abs.ipynb: kept roeravi_33333_3_02_derivative_of_abs-1.ipynb",
        "  55555: renamer_55555_5_my_homework.ipynb as 03_quotient_rule_derivation.ipynb",
        "  66666: 01_softsign_definiton.ipynb as 01_softsign_definition.ipynb",
        "Skipped files: 2",
        "  55555: renamer_55555_5_notes.ipynb: notes.ipynb is not a notebook",
    ):
        assert line in summary, summary
    assert len(summary.splitlines()) < 25
    assert first.log_file is not None
    assert summary in first.log_file.read_text()


# --- In process --------------------------------------------------------------------------


def test_timestamp_text_is_what_nbgrader_reads():
    when = datetime(2026, 10, 6, 8, 15, 1, 5)
    assert timestamp_text(when) == "2026-10-06 08:15:01.000005 UTC"
    assert parse_utc(timestamp_text(when)) == when
    assert parse_utc(timestamp_text(when.replace(tzinfo=UTC))) == when


def test_late_marker_and_file_times():
    late = [{"late": True, "mtime": DUE.replace(tzinfo=UTC).timestamp() - 60}]
    on_time = [{"late": False, "mtime": DUE.replace(tzinfo=UTC).timestamp() + 3600}]
    assert _timestamp(late, DUE, file_times=False) == (DUE + LATE_WITHOUT_TIME, None)
    # A file time past the due date is the better time; one before it cannot be (marked late).
    assert _timestamp(late, DUE, file_times=True)[0] == DUE + LATE_WITHOUT_TIME
    assert _timestamp(on_time, DUE, file_times=True)[0] == DUE.replace(hour=22, minute=59)
    assert _timestamp(on_time, DUE, file_times=False) == (None, None)
    when, warning = _timestamp(late, None, file_times=False)
    assert when is None
    assert warning
    assert "no due date" in warning


def test_place_never_deletes(tmp_path):
    dest = tmp_path / "submitted" / "1" / ASSIGNMENT
    dest.mkdir(parents=True)
    (dest / "a.ipynb").write_text("old")
    (dest / "timestamp.txt").write_text(HAND_WRITTEN)
    staged = tmp_path / "staged"
    staged.mkdir()
    (staged / "a.ipynb").write_text("old")
    (staged / "timestamp.txt").write_text("2030-01-01 00:00:00.000000 UTC")
    assert _place(staged, dest, "S") == "unchanged"
    assert (dest / "timestamp.txt").read_text() == HAND_WRITTEN
    for number, suffix in ((1, ""), (2, "-2")):
        staged.mkdir()
        (staged / "a.ipynb").write_text(f"new {number}")
        backup = dest.with_name(f"{ASSIGNMENT}.before-collect-S{suffix}")
        assert _place(staged, dest, "S") == str(backup)
    assert (dest / "a.ipynb").read_text() == "new 2"
    assert (dest.with_name(f"{ASSIGNMENT}.before-collect-S") / "a.ipynb").read_text() == "old"
    assert (dest.with_name(f"{ASSIGNMENT}.before-collect-S-2") / "a.ipynb").read_text() == "new 1"


def test_collector_matches_a_renamed_notebook_by_cells_or_name(tmp_path, caplog):
    folder = tmp_path / "extracted"
    folder.mkdir()
    plugin = LmsCollectorPlugin(named_regexp=LMS_FILE_NAME_PATTERN, log=logging.getLogger("t"))
    plugin._release = {"01_a.ipynb": {"a1", "a2"}, "02_b.ipynb": {"b1"}}
    files = {
        "x_1_9_homework.ipynb": _notebook("x", ("b1",)),
        "y_2_9_01_a (copy).ipynb": _notebook("y"),
        "y_2_9_01_a.ipynb": _notebook("y0"),
        "z_3_9_zzz.ipynb": _notebook("z"),
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    with caplog.at_level(logging.WARNING, logger="t"):
        taken = {name: plugin.collect(str(folder / name)) for name in sorted(files)}
    assert {n: (i["student_id"], i["file_id"]) for n, i in taken.items() if i} == {
        "x_1_9_homework.ipynb": ("1", "02_b"),
        "y_2_9_01_a.ipynb": ("2", "01_a"),  # the correct name wins over the renamed copy
    }
    assert "Student 2: skipped y_2_9_01_a (copy).ipynb: 01_a.ipynb: superseded" in caplog.text
    assert "Student 3: skipped z_3_9_zzz.ipynb: zzz.ipynb is not a notebook" in caplog.text
