"""Move work and marks between nbgrader and a learning-management system (Canvas, Moodle).

Three pieces, each plain nbgrader underneath:

* :data:`LMS_FILE_NAME_PATTERN`, the ``FileNameCollectorPlugin.named_regexp`` that
  ``nbgrader zip_collect ASSIGNMENT`` needs to read an LMS "download all
  submissions" archive (``nbgrader_config.py`` sets it). It understands

  - Canvas: ``doejane_12345_67890_01_softsign_definition.ipynb``, that is
    ``<name>_[LATE_]<user id>_<submission id>_<file name>``, where a file
    submitted a second time ends in ``-1`` before ``.ipynb``;
  - Moodle: ``Jane Doe_12345_assignsubmission_file_/01_softsign_definition.ipynb``,
    a folder ``<full name>_<participant id>_assignsubmission_file_`` per student.

  The number after the name becomes the nbgrader student id, so import the
  roster with the same ids (``nbgrader db student import roster.csv``).
* :class:`LmsExportPlugin`, an nbgrader export plugin that writes one CSV row
  per student with the student id, each assignment's total and each
  notebook's points, for an LMS gradebook import::

      nbgrader export --exporter=softsign_grader.lms.LmsExportPlugin --to lms.csv

  or ``python -m softsign_grader.lms export ASSIGNMENT``.
* The README's "Marks to an LMS" section says how Canvas and Moodle map the columns.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import stat
import sys
import tarfile
import zipfile
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin, ExtractorPlugin, FileNameCollectorPlugin
from traitlets import Dict, Integer, Unicode

from softsign_grader.course import run_nbgrader
from softsign_grader.submission import DEFAULT_LIMITS, kind_of, read_file

__all__ = [
    "EXPORTER",
    "LMS_FILE_NAME_PATTERN",
    "LmsCollectorPlugin",
    "LmsExportPlugin",
    "SafeExtractorPlugin",
    "export_rows",
    "main",
]

#: ``FileNameCollectorPlugin.named_regexp`` for Canvas and Moodle downloads. nbgrader
#: matches it against the whole path of each extracted file (hence the leading ``.*/``).
LMS_FILE_NAME_PATTERN = (
    r".*/"
    # Canvas "doejane" or Moodle "Jane Doe": anything up to the first "_<digits>_" that
    # is followed by the rest of the layout.
    r"(?P<name>[^/]+?)_"
    r"(?:LATE_)?"  # Canvas marks late work in the name only; nbgrader's timestamp decides
    r"(?P<student_id>\d+)_"
    r"(?:\d+_|assignsubmission_file_/)"  # Canvas submission id, or Moodle's folder suffix
    r"(?P<file_id>[^/]+?)"
    # Canvas numbers a resubmitted file: 01_softsign_definition-1.ipynb. LmsCollectorPlugin
    # reads the number to keep a student's highest-numbered file.
    r"(?:-(?P<resubmission>\d+))?"
    r"\.ipynb$"
)


#: ``nbgrader export --exporter=...`` for :class:`LmsExportPlugin`.
EXPORTER = "softsign_grader.lms.LmsExportPlugin"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _points(value: float | None) -> str:
    return f"{float(value or 0.0):g}"


def export_rows(
    gradebook: Gradebook,
    assignments: list[str] | None = None,
    students: list[str] | None = None,
    column_names: dict[str, str] | None = None,
    id_column: str = "student_id",
) -> tuple[list[str], list[dict[str, str]]]:
    """Return the header and the rows of the LMS export.

    One row per student of the gradebook (in id order); per assignment a
    total column (named by ``column_names[assignment]``, else the assignment
    id), the late penalty, whether a grade is still missing, and one column
    per notebook, ``ASSIGNMENT/NOTEBOOK``. The total is what ``nbgrader
    export`` calls ``score``: the points of every cell, manual grades and
    extra credit included, less the late penalty, never below 0. A student
    with no submission gets 0 everywhere. ``id_column`` names the student id's
    column (Canvas's import reads ``ID``).
    """
    column_names = column_names or {}
    chosen = [a for a in gradebook.assignments if not assignments or a.name in assignments]
    unknown = set(assignments or ()) - {a.name for a in chosen}
    if unknown:
        raise ValueError(f"the gradebook has no assignment {', '.join(sorted(unknown))}")
    header = [id_column, "last_name", "first_name", "email"]
    layout = []
    for assignment in chosen:
        total = column_names.get(assignment.name, assignment.name)
        notebooks = sorted(notebook.name for notebook in assignment.notebooks)
        layout.append((assignment.name, total, notebooks))
        header += [
            total,
            f"{assignment.name} max",
            f"{assignment.name} late penalty",
            f"{assignment.name} needs manual grade",
            *(f"{assignment.name}/{notebook}" for notebook in notebooks),
        ]
    rows = []
    for student in sorted(gradebook.students, key=lambda s: s.id):
        if students and student.id not in students:
            continue
        row = {
            id_column: student.id,
            "last_name": _text(student.last_name),
            "first_name": _text(student.first_name),
            "email": _text(student.email),
        }
        for (name, total, notebooks), assignment in zip(layout, chosen, strict=True):
            row[f"{name} max"] = _points(assignment.max_score)
            try:
                submission = gradebook.find_submission(name, student.id)
            except MissingEntry:
                row[total] = _points(0.0)
                row[f"{name} late penalty"] = _points(0.0)
                row[f"{name} needs manual grade"] = "no"
                row.update({f"{name}/{notebook}": _points(0.0) for notebook in notebooks})
                continue
            penalty = float(submission.late_submission_penalty or 0.0)
            row[total] = _points(max(0.0, float(submission.score or 0.0) - penalty))
            row[f"{name} late penalty"] = _points(penalty)
            row[f"{name} needs manual grade"] = "yes" if submission.needs_manual_grade else "no"
            scores = {notebook.name: notebook.score for notebook in submission.notebooks}
            row.update(
                {f"{name}/{notebook}": _points(scores.get(notebook)) for notebook in notebooks}
            )
        rows.append(row)
    return header, rows


class LmsExportPlugin(ExportPlugin):
    """``nbgrader export`` plugin: one row per student, totals and per-notebook points.

    Configure the total column's header per assignment, e.g. for Canvas, whose
    import recognises an existing assignment by its header::

        c.LmsExportPlugin.column_names = {"softsign": "softsign (12345)"}
    """

    column_names = Dict(
        value_trait=Unicode(),
        default_value={},
        help="Header of each assignment's total column, by assignment id (default: the id).",
    ).tag(config=True)
    id_column = Unicode("student_id", help="Header of the student id column.").tag(config=True)

    def export(self, gradebook: Gradebook) -> None:
        """Write the CSV to ``--to`` (default ``lms_grades.csv``)."""
        dest = Path(self.to or "lms_grades.csv")
        header, rows = export_rows(
            gradebook,
            [str(a) for a in self.assignment] or None,
            [str(s) for s in self.student] or None,
            dict(self.column_names),
            self.id_column,
        )
        with dest.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=header)
            writer.writeheader()
            writer.writerows(rows)
        waiting = sum(
            row[column] == "yes"
            for row in rows
            for column in header
            if column.endswith(" needs manual grade")
        )
        self.log.info("Exported %d students to %s", len(rows), dest)
        if waiting:
            self.log.warning(
                "%d submissions still need a manual grade (formgrader): their totals are not final",
                waiting,
            )


class _TooLarge(Exception):
    """An entry, or the archive so far, is over its cap."""


class SafeExtractorPlugin(ExtractorPlugin):
    """``ZipCollectApp.extractor_plugin`` that writes regular files and folders only.

    nbgrader's extractor (setuptools' ``unpack_archive``) turns a tar's symbolic or
    hard link to another member into a copy of that member, applies each entry's
    mode bits (set-user-id included, on files the instructor owns), writes a zip
    symlink entry as a file holding the link's target, has no size cap, and extracts
    archives found inside archives (a student's upload, whose member names may be
    another student's). This one, for the archives and files in
    ``downloaded/ASSIGNMENT/archive``:

    * extracts ``.zip`` and tar archives (``ExtractorPlugin.zip_ext``) into a folder
      named after the archive, as nbgrader does; takes regular files (mode 0644,
      never over an existing path) and folders, and logs and skips symbolic links,
      hard links, devices, FIFOs, absolute names and names with ``..``;
    * leaves an archive inside an archive unextracted (logged);
    * caps each file (``max_file_bytes``), each archive (``max_archive_bytes``) and
      its entries (``max_entries``);
    * copies other regular files of the folder, and skips (logs) links in it.
    """

    max_file_bytes = Integer(
        DEFAULT_LIMITS.file_bytes, help="Bytes of one extracted file; a larger one is skipped."
    ).tag(config=True)
    max_archive_bytes = Integer(
        4 * 10**9, help="Bytes extracted from one archive; entries past it are skipped."
    ).tag(config=True)
    max_entries = Integer(
        100_000, help="Entries read from one archive; entries past it are skipped."
    ).tag(config=True)

    def extract(self, archive_path: str, extracted_path: str) -> None:
        """Extract or copy what ``archive_path`` holds into ``extracted_path`` (see the class)."""
        if not os.listdir(archive_path):
            self.log.warning("No files found in directory: %s", archive_path)
            return
        for root, folders, files in os.walk(archive_path):
            for name in folders:
                if os.path.islink(os.path.join(root, name)):
                    self.log.warning(
                        "Skipped %s: %s", os.path.join(root, name), kind_of(stat.S_IFLNK, "created")
                    )
            extract_to = os.path.normpath(
                os.path.join(extracted_path, os.path.relpath(root, archive_path))
            )
            for name in sorted(files):
                path = os.path.join(root, name)
                mode = os.lstat(path).st_mode
                if not stat.S_ISREG(mode):
                    self.log.warning("Skipped %s: %s", path, kind_of(mode, "created"))
                    continue
                os.makedirs(extract_to, exist_ok=True)
                stem, ext = os.path.splitext(name)
                if ext in self.zip_ext:
                    inner, inner_ext = os.path.splitext(stem)
                    folder = os.path.join(extract_to, inner if inner_ext == ".tar" else stem)
                    self.log.info("Extracting from: %s", path)
                    self.log.info("  Extracting to: %s", folder)
                    self.extract_archive(path, folder)
                else:
                    self.log.info("Copying from: %s", path)
                    try:
                        data = read_file(path, self.max_file_bytes)
                    except OSError as error:
                        self.log.warning("Skipped %s: %s", path, getattr(error, "reason", error))
                        continue
                    self._write(path, os.path.join(extract_to, name), [data])

    def extract_archive(self, archive: str, folder: str) -> None:
        """Extract one zip or tar ``archive`` into ``folder`` (regular files and folders only)."""
        os.makedirs(folder, exist_ok=True)
        try:
            if zipfile.is_zipfile(archive):
                with zipfile.ZipFile(archive) as bundle:
                    self._extract_zip(archive, bundle, folder)
                return
            with tarfile.open(archive) as bundle:
                self._extract_tar(archive, bundle, folder)
        except Exception as error:  # a corrupt archive costs its own entries, not the class
            self.log.warning("Stopped extracting %s: %s", archive, error)

    def _target(self, archive: str, folder: str, name: str) -> str | None:
        parts = name.split("/")
        if name.startswith("/") or ".." in parts or "\0" in name:
            self.log.warning("Skipped %s in %s: an absolute or '..' name", name, archive)
            return None
        parts = [part for part in parts if part not in ("", ".")]
        return os.path.join(folder, *parts) if parts else None

    def _entry_ok(self, archive: str, name: str, count: int) -> bool:
        if self.max_entries and count > self.max_entries:
            self.log.warning("Skipped %s in %s: over %d entries", name, archive, self.max_entries)
            return False
        return True

    def _extract_zip(self, archive: str, bundle: zipfile.ZipFile, folder: str) -> None:
        budget = [self.max_archive_bytes]
        for count, info in enumerate(bundle.infolist(), start=1):
            name = info.filename
            if not self._entry_ok(archive, name, count):
                continue
            mode = info.external_attr >> 16
            kind = stat.S_IFMT(mode)
            if kind and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                self.log.warning("Skipped %s in %s: %s", name, archive, kind_of(mode, "created"))
                continue
            target = self._target(archive, folder, name)
            if target is None:
                continue
            if info.is_dir() or stat.S_ISDIR(mode):
                self._folder(archive, name, target)
                continue
            self._nested(archive, name)
            try:
                stream = bundle.open(info)
            except Exception as error:  # encrypted, unknown compression: this entry only
                self.log.warning("Skipped %s in %s: %s", name, archive, error)
                continue
            with stream:
                self._write(
                    f"{name} in {archive}", target, iter(partial(stream.read, 1 << 20), b""), budget
                )

    def _extract_tar(self, archive: str, bundle: tarfile.TarFile, folder: str) -> None:
        budget = [self.max_archive_bytes]
        for count, member in enumerate(bundle, start=1):
            name = member.name
            if not self._entry_ok(archive, name, count):
                continue
            if member.issym() or member.islnk():
                kind = "a symbolic link" if member.issym() else "a hard link"
                self.log.warning(
                    "Skipped %s in %s: %s to %r, not followed", name, archive, kind, member.linkname
                )
                continue
            if not (member.isreg() or member.isdir()):
                reason = (
                    kind_of(stat.S_IFIFO, "created")
                    if member.isfifo()
                    else kind_of(stat.S_IFCHR, "created")
                    if member.isdev()
                    else "not a regular file"
                )
                self.log.warning("Skipped %s in %s: %s", name, archive, reason)
                continue
            target = self._target(archive, folder, name)
            if target is None:
                continue
            if member.isdir():
                self._folder(archive, name, target)
                continue
            self._nested(archive, name)
            stream = bundle.extractfile(member)
            if stream is None:
                continue
            with stream:
                self._write(
                    f"{name} in {archive}", target, iter(partial(stream.read, 1 << 20), b""), budget
                )

    def _nested(self, archive: str, name: str) -> None:
        if os.path.splitext(name)[1] in self.zip_ext:
            self.log.warning(
                "Not extracting %s in %s: an archive inside an archive (a student's upload)",
                name,
                archive,
            )

    def _folder(self, archive: str, name: str, target: str) -> None:
        try:
            os.makedirs(target, mode=0o755, exist_ok=True)
        except OSError as error:
            self.log.warning("Skipped %s in %s: %s", name, archive, error.strerror)

    def _write(
        self,
        what: str,
        target: str,
        chunks: Iterable[bytes],
        budget: list[int] | None = None,
    ) -> None:
        """Write ``chunks`` to a new regular file ``target`` (0644), within the caps."""
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            fd = os.open(target, _NEW_FILE, 0o644)
        except OSError as error:
            self.log.warning("Skipped %s: %s (%s)", what, error.strerror, target)
            return
        size = 0
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    size += len(chunk)
                    if self.max_file_bytes and size > self.max_file_bytes:
                        raise _TooLarge(f"larger than {self.max_file_bytes} bytes")
                    if budget is not None and budget[0] and size > budget[0]:
                        raise _TooLarge(f"past the archive's {self.max_archive_bytes}-byte limit")
                    handle.write(chunk)
        except Exception as error:  # over a cap, corrupt, unreadable: this entry only
            os.unlink(target)
            self.log.warning("Skipped %s: %s", what, error)
            return
        if budget is not None and budget[0]:
            budget[0] = max(1, budget[0] - size)


#: Flags that create a file and refuse an existing path, link or not.
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
_NEW_FILE |= getattr(os, "O_CLOEXEC", 0)


class LmsCollectorPlugin(FileNameCollectorPlugin):
    """``ZipCollectApp.collector_plugin``: the course's names, one file per notebook.

    nbgrader's ``zip_collect`` stops for the whole class ("Duplicate submission
    file. No timestamps for comparison") when one student's files name the same
    notebook twice, as Canvas does for a resubmission (``X.ipynb`` and
    ``X-1.ipynb``). This collector looks at every file of the extracted folder
    first and, per student and notebook, lets through only the highest-numbered
    resubmission (equal numbers: the last path by name), logging the student and
    the files it kept and skipped. It also skips (logs) anything in the
    extracted folder that is not a regular file, since nbgrader copies it with
    ``shutil.copy``, which follows links.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._choices: dict[str, dict[tuple[str, str], list[tuple[tuple[int, str], str]]]] = {}

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

    def _key(self, path: str) -> tuple[tuple[str, str], tuple[int, str]] | None:
        """(student id, notebook file) and (resubmission number, path) of ``path``, or None."""
        stem, ext = os.path.splitext(path)
        if ext not in self.valid_ext or not self.named_regexp:
            return None
        match = re.match(self.named_regexp, path)
        if match is None:
            return None
        found = match.groupdict()
        student, file_id = found.get("student_id"), found.get("file_id")
        if not isinstance(student, str) or not isinstance(file_id, str):
            return None
        file_stem = os.path.splitext(file_id)[0]
        number = found.get("resubmission")
        if not isinstance(number, str):
            tail = re.fullmatch(rf".*{re.escape(file_stem)}-(\d+)", os.path.basename(stem))
            number = tail.group(1) if tail else "0"
        return (student, file_stem + ext), (int(number), path)

    def _candidates(self, root: str) -> dict[tuple[str, str], list[tuple[tuple[int, str], str]]]:
        if root not in self._choices:
            found: dict[tuple[str, str], list[tuple[tuple[int, str], str]]] = {}
            for folder, _, names in os.walk(root):
                for name in names:
                    path = os.path.join(folder, name)
                    try:
                        if not stat.S_ISREG(os.lstat(path).st_mode):
                            continue
                    except OSError:
                        continue
                    keyed = self._key(path)
                    if keyed is not None:
                        found.setdefault(keyed[0], []).append((keyed[1], path))
            self._choices[root] = found
        return self._choices[root]

    def collect(self, submitted_file: str) -> dict[str, Any] | None:
        """nbgrader's match of ``submitted_file``, or None for a link or a superseded file."""
        try:
            mode = os.lstat(submitted_file).st_mode
        except OSError as error:
            self.log.warning("Skipped %s: %s", submitted_file, error.strerror)
            return None
        if not stat.S_ISREG(mode):
            self.log.warning("Skipped %s: %s", submitted_file, kind_of(mode, "created"))
            return None
        info: dict[str, Any] | None = super().collect(submitted_file)
        keyed = self._key(submitted_file)
        if not info or keyed is None:
            return info
        rivals = self._candidates(self._extracted_root(submitted_file)).get(keyed[0], [])
        if len(rivals) < 2:
            return info
        (best_number, _), best = max(rivals)
        if best == submitted_file:
            return info
        tie = " (the same number: the last by name)" if keyed[1][0] == best_number else ""
        self.log.warning(
            "Student %s, %s: collecting the highest-numbered resubmission %s%s; skipped %s",
            keyed[0][0],
            keyed[0][1],
            os.path.basename(best),
            tie,
            os.path.basename(submitted_file),
        )
        return None


def main(argv: list[str] | None = None) -> int:
    """``python -m softsign_grader.lms export ASSIGNMENT [--to FILE]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="write the LMS grade CSV of an assignment")
    export.add_argument("assignments", nargs="+", help="assignment ids, e.g. week1")
    export.add_argument("--to", type=Path, default=None, help="the CSV file (lms_grades.csv)")
    export.add_argument("--course", type=Path, default=Path.cwd(), help="the course root")
    args = parser.parse_args(argv)
    course = args.course.resolve()
    if not (course / "nbgrader_config.py").is_file():
        parser.error(f"{course} is no course folder (it has no nbgrader_config.py)")
    dest = (args.to or course / "lms_grades.csv").resolve()
    assignments = "[" + ",".join(repr(a) for a in args.assignments) + "]"
    result = run_nbgrader(
        [
            "export",
            f"--exporter={EXPORTER}",
            f"--to={dest}",
            f"--ExportPlugin.assignment={assignments}",
        ],
        course,
        check=False,
    )
    sys.stderr.write(result.stdout + result.stderr)
    if result.returncode == 0:
        print(dest)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
