"""Collect an LMS download (Canvas, Moodle) into ``submitted/`` without losing anything.

Two nbgrader plugins, which ``nbgrader_config.py`` installs for ``nbgrader zip_collect``:

* :class:`~softsign_grader.extract.SafeExtractorPlugin` extracts the archives of
  ``downloaded/ASSIGNMENT/archive`` (regular files and folders only, capped, entry
  times kept);
* :class:`LmsCollectorPlugin` reads the LMS's file names
  (:data:`softsign_grader.lms.LMS_FILE_NAME_PATTERN`), keeps a student's newest
  resubmission, matches a renamed notebook to the release and never stops the class.

and the course command around ``nbgrader zip_collect``::

    softsign-grade collect ASSIGNMENT [--file-times] [--course DIR]

which collects into a fresh folder first, then moves each student's work into
``submitted/<id>/ASSIGNMENT/``: unchanged work is left as it is (its
``timestamp.txt`` included), changed work replaces the old folder only after
that folder is renamed ``ASSIGNMENT.before-collect-<UTC time>``. It writes
``timestamp.txt`` for late work (:func:`timestamp_text`), prints a summary and
keeps it, with nbgrader's log, in ``downloaded/ASSIGNMENT/collect-<UTC time>/collect.log``.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shutil
import stat
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import FileNameCollectorPlugin
from nbgrader.utils import find_all_notebooks
from traitlets import Unicode

from softsign_grader.course import (
    add_course_root_option,
    course_root_option,
    load_course,
    run_nbgrader,
)
from softsign_grader.extract import SafeExtractorPlugin
from softsign_grader.submission import kind_of, read_file

__all__ = [
    "CollectError",
    "CollectResult",
    "LmsCollectorPlugin",
    "SafeExtractorPlugin",
    "collect",
    "main",
    "timestamp_text",
]

#: How ``timestamp.txt`` is written: nbgrader's own format, read by ``nbgrader.utils.parse_utc``.
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f UTC"
#: A Canvas file name's late marker: ``doejane_LATE_12345_67890_...``.
LATE_MARKER = re.compile(r"_LATE_\d+_")
#: A student id in a file name that is not in the LMS layout, for naming the student.
_LOOSE_ID = re.compile(r"_(?:LATE_)?(\d+)_")
#: Marked late, with no later time known: this long after the due date.
LATE_WITHOUT_TIME = timedelta(minutes=1)


def timestamp_text(when: datetime) -> str:
    """``when`` (naive UTC, or aware) as ``timestamp.txt`` holds it.

    For example ``2026-10-06 08:15:00.000000 UTC``: nbgrader's own format, which
    ``nbgrader.utils.parse_utc`` reads.
    """
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when.strftime(TIMESTAMP_FORMAT)


def _grade_ids(path: str) -> set[str]:
    """The nbgrader cell ids of a notebook (empty if it does not read as one)."""
    try:
        cells = json.loads(read_file(path)).get("cells", [])
        found = {(cell.get("metadata") or {}).get("nbgrader", {}).get("grade_id") for cell in cells}
    except (OSError, ValueError, AttributeError, TypeError):
        return set()
    return {str(grade_id) for grade_id in found if grade_id}


#: A candidate file of one student and notebook: (rank, path); the highest rank is kept.
_Rank = tuple[int, int, str]


class LmsCollectorPlugin(FileNameCollectorPlugin):
    """``ZipCollectApp.collector_plugin``: the course's names, one file per notebook.

    nbgrader's ``zip_collect`` stops for the whole class ("Duplicate submission
    file. No timestamps for comparison") when one student's files name the same
    notebook twice, as Canvas does for a resubmission (``X.ipynb`` and
    ``X-1.ipynb``), and ``ZipCollectApp.strict`` drops a renamed notebook. This
    collector looks at every file of the extracted folder first and, per student
    and notebook:

    * maps a notebook name that is not one of the release's to the release
      notebook whose cells (nbgrader cell ids) it shares most, else whose name is
      closest (``difflib`` ratio at least 0.6, no tie); without either it is skipped;
    * keeps one file: a correctly named file before a renamed one, then the
      highest Canvas number (``-1``, ``-2``), then the last path by name;
    * skips anything that is not a regular file (nbgrader's copy follows links).

    Every file, kept or skipped, is logged with its student and, when
    ``record_file`` is set, written to it as one JSON line (``softsign-grade
    collect`` reads it).
    """

    record_file = Unicode("", help="Append one JSON line per file seen here (empty: none).").tag(
        config=True
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._choices: dict[str, dict[tuple[str, str], list[tuple[_Rank, str]]]] = {}
        self._matches: dict[str, tuple[tuple[str, str], _Rank] | str | None] = {}
        self._release: dict[str, set[str]] | None = None

    def _extracted_root(self, submitted_file: str) -> str:
        app = self.parent
        try:
            structure = os.path.join(app.coursedir.root, app.collect_directory_structure)
            root = structure.format(
                downloaded=app.downloaded_directory,
                assignment_id=app.coursedir.assignment_id,
                collect_step=app.extracted_directory,
            )
        except (AttributeError, KeyError, IndexError):
            return os.path.dirname(submitted_file)
        inside = os.path.commonpath([os.path.abspath(root), os.path.abspath(submitted_file)])
        return root if inside == os.path.abspath(root) else os.path.dirname(submitted_file)

    def release_notebooks(self) -> dict[str, set[str]]:
        """The release's notebook names and their cell ids (none outside ``zip_collect``)."""
        if self._release is None:
            self._release = {}
            coursedir = getattr(self.parent, "coursedir", None)
            if coursedir is not None and coursedir.assignment_id:
                folder = coursedir.format_path(
                    coursedir.release_directory, ".", coursedir.assignment_id
                )
                for name in find_all_notebooks(folder):
                    self._release[name] = _grade_ids(os.path.join(folder, name))
        return self._release

    def _notebook(self, path: str, name: str) -> tuple[str, bool] | str:
        """The release notebook ``path`` (named ``name``) is, whether renamed; or a reason."""
        release = self.release_notebooks()
        if not release or name in release:
            return name, False
        ids = _grade_ids(path)
        shared = sorted(((len(ids & cells), nb) for nb, cells in release.items()), reverse=True)
        if shared[0][0] and (len(shared) == 1 or shared[0][0] > shared[1][0]):
            return shared[0][1], True
        similar = sorted(
            (
                (difflib.SequenceMatcher(None, name.lower(), nb.lower()).ratio(), nb)
                for nb in release
            ),
            reverse=True,
        )
        if similar[0][0] >= 0.6 and (len(similar) == 1 or similar[0][0] > similar[1][0]):
            return similar[0][1], True
        return (
            f"{name} is not a notebook of the assignment ({', '.join(sorted(release))}) "
            "and matches none by its cells or its name"
        )

    def _key(self, path: str) -> tuple[tuple[str, str], _Rank] | str | None:
        """(student id, notebook) and rank of ``path``; a reason it is skipped; None: no match."""
        if path in self._matches:
            return self._matches[path]
        stem, ext = os.path.splitext(path)
        match = re.match(self.named_regexp, path) if self.named_regexp else None
        found = match.groupdict() if match and ext in self.valid_ext else {}
        student, file_id = found.get("student_id"), found.get("file_id")
        result: tuple[tuple[str, str], _Rank] | str | None = None
        if isinstance(student, str) and isinstance(file_id, str):
            file_stem = os.path.splitext(file_id)[0]
            number = found.get("resubmission")
            if not isinstance(number, str):
                tail = re.fullmatch(rf".*{re.escape(file_stem)}-(\d+)", os.path.basename(stem))
                number = tail.group(1) if tail else "0"
            notebook = self._notebook(path, file_stem + ext)
            if isinstance(notebook, str):
                result = notebook
            else:
                result = (student, notebook[0]), (int(not notebook[1]), int(number), path)
        self._matches[path] = result
        return result

    def _candidates(self, root: str) -> dict[tuple[str, str], list[tuple[_Rank, str]]]:
        if root not in self._choices:
            found: dict[tuple[str, str], list[tuple[_Rank, str]]] = {}
            for folder, _, names in os.walk(root):
                for name in names:
                    path = os.path.join(folder, name)
                    try:
                        if not stat.S_ISREG(os.lstat(path).st_mode):
                            continue
                    except OSError:
                        continue
                    keyed = self._key(path)
                    if isinstance(keyed, tuple):
                        found.setdefault(keyed[0], []).append((keyed[1], path))
            self._choices[root] = found
        return self._choices[root]

    def _record(self, path: str, student: str | None, action: str, **fields: Any) -> None:
        """Log and (with ``record_file``) record what became of ``path``."""
        if student is None:
            loose = _LOOSE_ID.search(path)
            student = loose.group(1) if loose else None
        name = os.path.basename(path)
        if action == "skipped":
            self.log.warning("Student %s: skipped %s: %s", student or "?", name, fields["reason"])
        if not self.record_file:
            return
        try:
            mtime = os.lstat(path).st_mtime
        except OSError:
            mtime = None
        entry = {"file": name, "student": student, "action": action, "mtime": mtime, **fields}
        with open(self.record_file, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")

    def collect(self, submitted_file: str) -> dict[str, Any] | None:
        """nbgrader's match of ``submitted_file`` (notebook renamed to the release's), or None."""
        try:
            mode = os.lstat(submitted_file).st_mode
        except OSError as error:
            self._record(submitted_file, None, "skipped", reason=str(error.strerror))
            return None
        if not stat.S_ISREG(mode):
            self._record(submitted_file, None, "skipped", reason=kind_of(mode, "created"))
            return None
        info: dict[str, Any] | None = super().collect(submitted_file)
        keyed = self._key(submitted_file)
        if not info or keyed is None:
            reason = "its name is not in the Canvas or Moodle layout of a notebook"
            self._record(submitted_file, None, "skipped", reason=reason)
            return None
        if isinstance(keyed, str):
            self._record(submitted_file, info.get("student_id"), "skipped", reason=keyed)
            return None
        (student, notebook), _ = keyed
        rivals = self._candidates(self._extracted_root(submitted_file)).get(keyed[0], [])
        best = max(rivals)[1] if rivals else submitted_file
        if best != submitted_file:
            reason = f"{notebook}: superseded by the resubmission {os.path.basename(best)}"
            self._record(submitted_file, student, "skipped", reason=reason, notebook=notebook)
            return None
        renamed = notebook != os.path.splitext(str(info["file_id"]))[0] + ".ipynb"
        if renamed:
            self.log.warning(
                "Student %s: collected %s as %s (renamed)",
                student,
                os.path.basename(submitted_file),
                notebook,
            )
        late = bool(LATE_MARKER.search(os.path.basename(submitted_file)))
        self._record(
            submitted_file,
            student,
            "collected",
            notebook=notebook,
            renamed=renamed,
            late=late,
            resubmissions=len(rivals) - 1 if rivals else 0,
        )
        return {**info, "file_id": os.path.splitext(notebook)[0]}


class CollectError(Exception):
    """The collect cannot start: a missing download or release, or a bad argument."""


@dataclass
class CollectResult:
    """What one ``softsign-grade collect`` did, for its summary."""

    assignment: str
    new: list[str] = field(default_factory=list)
    replaced: dict[str, str] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    late: dict[str, str] = field(default_factory=dict)
    resubmissions: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(default_factory=dict)
    not_extracted: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    log_file: Path | None = None

    def render(self) -> str:
        """The one-screen summary."""
        students = len(self.new) + len(self.replaced) + len(self.unchanged)
        lines = [
            f"Collected {self.assignment}: {students} students "
            f"({len(self.new)} new, {len(self.replaced)} replaced, "
            f"{len(self.unchanged)} unchanged and left as they were)"
        ]
        for student, backup in sorted(self.replaced.items()):
            lines.append(f"  replaced {student}: the earlier work is kept in {backup}")
        lines.append(f"Late: {len(self.late)}")
        lines += [
            f"  {student}: timestamp.txt {when}" for student, when in sorted(self.late.items())
        ]
        lines.append(f"Resubmissions resolved: {len(self.resubmissions)}")
        lines += [f"  {line}" for line in self.resubmissions]
        if self.renamed:
            lines.append(f"Renamed notebooks collected: {len(self.renamed)}")
            lines += [f"  {line}" for line in self.renamed]
        count = sum(len(files) for files in self.skipped.values())
        lines.append(f"Skipped files: {count}")
        for student, files in sorted(self.skipped.items()):
            lines += [f"  {student}: {item}" for item in files]
        if self.not_extracted:
            lines.append(f"Archive entries not extracted: {len(self.not_extracted)}")
            lines += [f"  {line}" for line in self.not_extracted]
        lines += [f"Warning: {line}" for line in self.warnings]
        if self.log_file is not None:
            lines.append(f"Log: {self.log_file}")
        return "\n".join(lines)


def _due_date(course: Path, assignment: str) -> datetime | None:
    """The gradebook's due date of ``assignment`` (naive UTC), or None."""
    loaded = load_course(course)
    if not loaded.db_path.is_file():
        return None
    with Gradebook(loaded.db_url, loaded.course_id) as gradebook:
        try:
            due: datetime | None = gradebook.find_assignment(assignment).duedate
        except MissingEntry:
            return None
    return due


def _files(folder: Path) -> dict[str, bytes]:
    """The files under ``folder`` but ``timestamp.txt``, by relative path."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink() and path.name != "timestamp.txt"
    }


def _place(staged: Path, dest: Path, stamp: str) -> str:
    """Move ``staged`` to ``dest``; return "new", "unchanged" or the backup of the old ``dest``.

    Work equal to what ``dest`` holds leaves ``dest`` as it is (a ``timestamp.txt`` is
    added if it had none); other work first renames ``dest`` to a dated backup.
    """
    if not dest.exists() and not dest.is_symlink():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staged), str(dest))
        return "new"
    if dest.is_dir() and not dest.is_symlink() and _files(dest) == _files(staged):
        stamp_file = staged / "timestamp.txt"
        if stamp_file.is_file() and not (dest / "timestamp.txt").exists():
            shutil.copy2(stamp_file, dest / "timestamp.txt")
        shutil.rmtree(staged)  # a copy of work that is in dest and in the download
        return "unchanged"
    backup = dest.with_name(f"{dest.name}.before-collect-{stamp}")
    number = 1
    while backup.exists() or backup.is_symlink():
        number += 1
        backup = dest.with_name(f"{dest.name}.before-collect-{stamp}-{number}")
    dest.rename(backup)
    shutil.move(str(staged), str(dest))
    return str(backup)


def _read_records(record: Path) -> list[dict[str, Any]]:
    if not record.is_file():
        return []
    return [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines() if line]


def _timestamp(
    entries: list[dict[str, Any]], due: datetime | None, file_times: bool
) -> tuple[datetime | None, str | None]:
    """A student's submission time (naive UTC) from its kept files, and a warning."""
    when = None
    if file_times:
        times = [entry["mtime"] for entry in entries if entry.get("mtime") is not None]
        if times:
            when = datetime.fromtimestamp(max(times), UTC).replace(tzinfo=None)
    if not any(entry.get("late") for entry in entries):
        return when, None
    if due is None:
        return when, "marked _LATE_, but the assignment has no due date in the gradebook"
    if when is None or when <= due:
        when = due + LATE_WITHOUT_TIME
    return when, None


def _note_records(result: CollectResult, records: list[dict[str, Any]]) -> None:
    """Fill the summary's resubmission, rename and skipped-file lines from ``records``."""
    for entry in records:
        student = entry.get("student") or "(no student id in the name)"
        if entry["action"] == "skipped":
            result.skipped.setdefault(student, []).append(f"{entry['file']}: {entry['reason']}")
            continue
        if entry.get("resubmissions"):
            result.resubmissions.append(
                f"{student} {entry['notebook']}: kept {entry['file']} "
                f"(newest of {entry['resubmissions'] + 1})"
            )
        if entry.get("renamed"):
            result.renamed.append(f"{student}: {entry['file']} as {entry['notebook']}")


def _move_in(
    result: CollectResult,
    course: Path,
    staged: Path,
    records: list[dict[str, Any]],
    stamp: str,
    file_times: bool,
) -> None:
    """Write each staged student's ``timestamp.txt`` and move the work into ``submitted/``."""
    assignment = result.assignment
    due = _due_date(course, assignment)
    for folder in sorted(staged.glob(f"*/{assignment}")) if staged.is_dir() else []:
        student = folder.parent.name
        entries = [e for e in records if e["action"] == "collected" and e["student"] == student]
        when, warning = _timestamp(entries, due, file_times)
        if warning:
            result.warnings.append(f"{student}: {warning}")
        if when is not None:
            (folder / "timestamp.txt").write_text(timestamp_text(when), encoding="utf-8")
            if any(entry.get("late") for entry in entries) or (due and when > due):
                result.late[student] = timestamp_text(when)
        placed = _place(folder, course / "submitted" / student / assignment, stamp)
        if placed == "new":
            result.new.append(student)
        elif placed == "unchanged":
            result.unchanged.append(student)
        else:
            result.replaced[student] = str(Path(placed).relative_to(course))


def collect(
    course: Path,
    assignment: str,
    *,
    file_times: bool = False,
    env: dict[str, str] | None = None,
    now: datetime | None = None,
) -> CollectResult:
    """Collect ``downloaded/ASSIGNMENT/archive`` into ``submitted/``, losing nothing.

    Parameters
    ----------
    course : Path
        The course folder (with ``nbgrader_config.py``).
    assignment : str
        The assignment id.
    file_times : bool
        Take each student's submission time from the newest of their files' times in
        the download (read as UTC) and write it to ``timestamp.txt``.
    env : dict of str to str, optional
        Extra environment for nbgrader.
    now : datetime, optional
        The time that names the backups and the log (default: now, UTC).

    Returns
    -------
    CollectResult
        What was collected, replaced, kept, marked late and skipped.

    Raises
    ------
    CollectError
        When there is no download or no release, or nbgrader fails.
    """
    archive = course / "downloaded" / assignment / "archive"
    if not archive.is_dir() or not any(archive.iterdir()):
        raise CollectError(f"{archive} is missing or empty: put the LMS download there")
    if not (course / "notebooks" / assignment).is_dir():
        raise CollectError(f"no release notebooks/{assignment}/: run nbgrader generate_assignment")
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    work = course / "downloaded" / assignment / f"collect-{stamp}"
    work.mkdir(parents=True)
    staged, record = work / "submitted", work / "files.jsonl"
    run = run_nbgrader(
        [
            "zip_collect",
            assignment,
            "--force",  # clears downloaded/ASSIGNMENT/extracted and the fresh staging only
            f"--CourseDirectory.submitted_directory={staged.relative_to(course)}",
            f"--LmsCollectorPlugin.record_file={record}",
        ],
        course,
        check=False,
        env=env,
    )
    log_file = work / "collect.log"
    log_file.write_text(run.stdout + run.stderr, encoding="utf-8")
    result = CollectResult(assignment, log_file=log_file)
    if run.returncode != 0:
        raise CollectError(
            f"nbgrader zip_collect failed (exit {run.returncode}); nothing was moved into "
            f"submitted/. Its log: {log_file}"
        )
    result.not_extracted = [
        line.split(" ", 3)[-1]
        for line in (run.stdout + run.stderr).splitlines()
        if re.search(r"\] (Skipped .+ in |Not extracting |Stopped extracting )", line)
    ]
    records = _read_records(record)
    _note_records(result, records)
    _move_in(result, course, staged, records, stamp, file_times)
    shutil.rmtree(staged, ignore_errors=True)  # emptied above; only empty folders are left
    with log_file.open("a", encoding="utf-8") as handle:
        handle.write("\n" + result.render() + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    """``softsign-grade collect ASSIGNMENT [--file-times] [--course DIR]``."""
    parser = argparse.ArgumentParser(
        prog="softsign-grade collect",
        description="Collect an LMS download (downloaded/ASSIGNMENT/archive) into submitted/ "
        "with nbgrader zip_collect, keeping every earlier submission and naming every "
        "skipped file. Exit status: 0 collected, 2 nothing could be collected.",
    )
    parser.add_argument("assignment", help="the nbgrader assignment id, e.g. softsign")
    parser.add_argument(
        "--file-times",
        action="store_true",
        help="write each student's newest file time in the download (read as UTC) to "
        "timestamp.txt, as the submission time",
    )
    add_course_root_option(parser, "--course")
    args = parser.parse_args(argv)
    course = course_root_option(parser, args)
    if not (course / "nbgrader_config.py").is_file():
        parser.error(f"{course} is no course folder (it has no nbgrader_config.py)")
    try:
        result = collect(course, args.assignment, file_times=args.file_times)
    except CollectError as error:
        print(f"softsign-grade collect: {error}", file=sys.stderr)
        return 2
    print(result.render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
