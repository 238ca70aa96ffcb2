"""``nbgrader collect`` that copies regular files only, never following a student's link.

Students can write into the exchange's ``inbound`` folder, so a submission folder
there is student-controlled. nbgrader's own collect copies it with
``shutil.copytree``, which follows symbolic links: a link to the instructor's
``gradebook.db`` (or anything else the instructor can read) arrives in
``submitted/`` as a regular file, and a FIFO or ``/dev/zero`` stalls the copy.
:class:`SafeExchangeCollect` copies through the course's vetted reader
(:func:`softsign_grader.submission.read_submission`): regular files only, no
link followed at any depth, each file and the whole folder capped, and every
entry left out logged with the student and the reason. Enable it with::

    c.ExchangeFactory.collect = "softsign_grader.exchange.SafeExchangeCollect"

It also keeps one bad inbound entry from stopping the class's collect: a folder
name whose timestamp does not parse, or whose student id is ``.`` or ``..``, is
skipped with a warning instead of aborting (nbgrader raises), and a folder over
``CourseDirectory.max_dir_size`` is cut at the cap rather than aborting. A student
whose already collected ``submitted/<id>/ASSIGNMENT/timestamp.txt`` does not parse
(nbgrader then stops the whole collect) is skipped and named, and the others are
collected. The collected ``timestamp.txt`` is the time in the inbound folder's
name, the one nbgrader chose the newest submission by, not the copy the student
could write into the folder (a difference is logged).

nbgrader's ``CollectApp.check_owner`` stays a warning: an inbound folder owned by
another user than the one it names is logged ("cheating attempt?") and collected.
"""

from __future__ import annotations

import fnmatch
import os
from typing import Any

from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.utils import parse_utc

from softsign_grader.submission import (
    DEFAULT_LIMITS,
    Limits,
    Skipped,
    copy_submission,
    read_submission,
)

__all__ = ["SafeExchangeCollect"]

#: Username given to an inbound entry whose name nbgrader cannot read; such records are
#: dropped after nbgrader's selection (``\0`` cannot occur in a file name).
_INVALID = "\0invalid"


class SafeExchangeCollect(ExchangeCollect):
    """nbgrader's collect, with a copy that takes regular files only (see the module)."""

    #: nbgrader's choice of inbound entries (one per student), set by ``init_src``.
    src_records: list[dict[str, Any]]

    def limits(self) -> Limits:
        """The reader's caps, no looser than ``CourseDirectory.max_file_size``/``max_dir_size``."""
        file_bytes = DEFAULT_LIMITS.file_bytes
        total_bytes = DEFAULT_LIMITS.total_bytes
        if self.coursedir.max_file_size:
            file_bytes = min(file_bytes, 1000 * int(self.coursedir.max_file_size))
        if self.coursedir.max_dir_size:
            total_bytes = min(total_bytes, 1000 * int(self.coursedir.max_dir_size))
        return Limits(
            file_bytes=file_bytes,
            total_bytes=total_bytes,
            entries=DEFAULT_LIMITS.entries,
            depth=DEFAULT_LIMITS.depth,
            seconds=DEFAULT_LIMITS.seconds,
        )

    def _path_to_record(self, path: str) -> dict[str, Any]:
        """nbgrader's record of an inbound entry; an unreadable name is marked, not fatal."""
        filename = os.path.basename(path)
        parts = filename.rsplit("+", 3)
        reason = None
        if len(parts) < 3:
            reason = "its name is not STUDENT+ASSIGNMENT+TIMESTAMP"
        elif parts[0] in ("", ".", ".."):
            reason = f"the student id {parts[0]!r} is not a folder name"
        else:
            try:
                return dict(super()._path_to_record(path))
            except (ValueError, OverflowError):
                reason = f"its timestamp {parts[2]!r} does not parse"
        self.log.warning("Skipped inbound entry %r: %s", filename, reason)
        return {
            "username": f"{_INVALID}{filename}",
            "filename": filename,
            "timestamp": parse_utc("1970-01-01 00:00:00"),
        }

    def init_src(self) -> None:
        """nbgrader's selection of each student's newest entry, without the unreadable ones."""
        super().init_src()
        self.src_records = [
            record
            for record in self.src_records
            if not str(record["username"]).startswith(_INVALID)
        ]

    def copy_files(self) -> None:
        """nbgrader's copy, less each student whose collected ``timestamp.txt`` is unreadable."""
        kept = []
        for record in self.src_records:
            student = str(record["username"])
            dest = self.coursedir.format_path(
                self.coursedir.submitted_directory, student, self.coursedir.assignment_id
            )
            problem = _unreadable_timestamp(os.path.join(dest, "timestamp.txt"))
            if problem is None:
                kept.append(record)
                continue
            self.log.warning(
                "Collect %s: skipped; %s. Correct it (e.g. 2026-10-05 23:59:00.000000 UTC) "
                "or move it away, then collect again",
                student,
                problem,
            )
        self.src_records = kept
        super().copy_files()

    def _student_of(self, src: str) -> str:
        name = os.path.basename(os.path.normpath(src))
        return name.rsplit("+", 3)[0] if "+" in name else name

    def do_copy(self, src: str, dest: str, log: Any = None) -> None:
        """Copy the regular files of ``src`` to ``dest``; log what was left out and why."""
        student = self._student_of(src)
        taken = read_submission(src, self.limits(), ignore=list(self.coursedir.ignore or []))
        include = list(self.coursedir.include or [])
        if include and include != ["*"]:
            for name in sorted(taken.files):
                if not any(fnmatch.fnmatch(name.rsplit("/", 1)[-1], glob) for glob in include):
                    del taken.files[name]
                    taken.skipped.append(Skipped(name, "not in CourseDirectory.include"))
        for item in taken.skipped:
            self.log.warning("Collect %s: skipped %s", student, item)
        if any(item.path == "." for item in taken.skipped):
            # The submission folder itself is a link (or unreadable): nothing to collect.
            return
        copy_submission(src, dest, submission=taken)
        self._write_timestamp(src, dest, student)
        if self.coursedir.groupshared:
            for dirpath, _, filenames in os.walk(dest):
                os.chmod(dirpath, 0o2770)
                for name in filenames:
                    os.chmod(os.path.join(dirpath, name), 0o660)

    def _write_timestamp(self, src: str, dest: str, student: str) -> None:
        """Write the time of the inbound folder's name to ``dest/timestamp.txt``."""
        parts = os.path.basename(os.path.normpath(src)).rsplit("+", 3)
        if len(parts) < 3:
            return
        path = os.path.join(dest, "timestamp.txt")
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                written = handle.read().strip()
        except OSError:
            written = None
        if written is not None and written != parts[2]:
            self.log.warning(
                "Collect %s: its timestamp.txt said %r; kept the time of its folder name, %r",
                student,
                written[:80],
                parts[2],
            )
        if os.path.lexists(path):
            os.unlink(path)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(parts[2])


def _unreadable_timestamp(path: str) -> str | None:
    """Why nbgrader cannot read the timestamp file ``path``, or None (it can, or there is none)."""
    if not os.path.lexists(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(1000).strip()
        if text:
            parse_utc(text)
    except (OSError, UnicodeDecodeError, ValueError, OverflowError) as error:
        return f"its collected {path} does not read as a time ({error})"
    return None
