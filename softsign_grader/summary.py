"""What happened to each student of a grading run, and the summary printed at its end."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RunSummary", "StudentOutcome", "utc_time"]

#: The summary lists at most this many notes; nbgrader's log has them all.
_MAX_NOTES = 20


@dataclass
class StudentOutcome:
    """What happened to one student's submission.

    ``status`` is ``"graded"`` or ``"failed"`` (``reason`` says why); ``notes`` are
    warnings worth an instructor's eye; ``seconds`` and ``notebook_seconds`` are the
    worker's wall time, in all and per notebook; ``fingerprint`` is the submission's
    (:func:`~softsign_grader.fingerprint.submission_fingerprint`); ``grades`` is what
    autograding wrote to the worker's gradebook
    (:func:`~softsign_grader.worker.read_grades`), None when nbgrader recorded nothing.
    """

    student: str
    status: str
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    notebook_seconds: dict[str, float] = field(default_factory=dict)
    fingerprint: str = ""
    grades: dict[str, Any] | None = None


@dataclass
class RunSummary:
    """Totals of one grading run or merge, and what :func:`main` prints.

    ``seconds`` is wall time: of the run, or for a merge from the first shard's start to
    the end of the merge. ``reasons`` says why each student of the run was graded
    (:func:`~softsign_grader.fingerprint.due_students`).
    """

    assignment: str
    outcomes: list[StudentOutcome]
    unchanged: list[str]
    seconds: float
    jobs: int
    shard: tuple[int, int] | None = None
    log_file: Path | None = None
    interrupted: list[str] = field(default_factory=list)
    merged_shards: int = 0
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def graded(self) -> list[StudentOutcome]:
        """The students graded successfully."""
        return [o for o in self.outcomes if o.status == "graded"]

    @property
    def failed(self) -> list[StudentOutcome]:
        """The students whose grading failed."""
        return [o for o in self.outcomes if o.status == "failed"]

    def render(self) -> str:
        """Return the summary printed at the end of a run."""
        where = f" (shard {self.shard[0]}/{self.shard[1]})" if self.shard else ""
        span = f" of {self.merged_shards} shards" if self.merged_shards else ""
        lines = [
            f"{self.assignment}{where}: graded {len(self.graded)}, failed {len(self.failed)}, "
            f"unchanged {len(self.unchanged)} in {_duration(self.seconds)}{span} "
            f"with {self.jobs} worker{'s' if self.jobs != 1 else ''}"
        ]
        if self.merged_shards:
            lines.append("  wall time from the first shard's start to the end of this merge")
        if not _kernels_isolated():
            from softsign_grader.sandbox import NOT_ISOLATED_WARNING

            lines.append(f"Warning: {NOT_ISOLATED_WARNING}")
        notebooks = sum(len(o.notebook_seconds) for o in self.outcomes)
        if self.outcomes and notebooks:
            busy = sum(o.seconds for o in self.outcomes)
            lines.append(
                f"  {busy / notebooks:.2f} s of worker time per notebook ({notebooks} notebooks)"
            )
        lines.extend(self._why_graded())
        failed = sorted(self.failed, key=lambda o: o.student)
        if failed:
            lines.append("Failed:")
            width = max(len(o.student) for o in failed)
            lines.extend(f"  {o.student:<{width}}  {o.reason}" for o in failed)
        noted = sorted((o for o in self.outcomes if o.notes), key=lambda o: o.student)
        notes = [f"  {o.student}: {note}" for o in noted for note in o.notes]
        if notes:
            lines.append("Notes:")
            lines.extend(notes[:_MAX_NOTES])
            if len(notes) > _MAX_NOTES:
                more = f" (see {self.log_file})" if self.log_file else ""
                lines.append(f"  ... and {len(notes) - _MAX_NOTES} more{more}")
        if self.failed and self.log_file:
            lines.append(f"nbgrader's full log: {self.log_file}")
        if self.interrupted:
            lines.append(
                f"Interrupted: {len(self.interrupted)} submission(s) not graded yet; "
                "run the same command again to grade them."
            )
        return "\n".join(lines)

    def _why_graded(self) -> list[str]:
        """Lines saying why the students of the run were graded, by reason."""
        if not self.reasons:
            return []
        students: dict[str, list[str]] = {}
        for student, reason in sorted(self.reasons.items()):
            students.setdefault(reason, []).append(student)
        lines = ["Graded because:"]
        for reason, names in students.items():
            shown = ", ".join(names[:_MAX_NOTES])
            more = f" and {len(names) - _MAX_NOTES} more" if len(names) > _MAX_NOTES else ""
            lines.append(f"  {reason} ({len(names)}): {shown}{more}")
        return lines


def _kernels_isolated() -> bool:
    """Whether the grading kernels run in the bubblewrap sandbox."""
    from softsign_grader.sandbox import SandboxedKernelManager, kernel_manager_class

    try:
        return kernel_manager_class() is SandboxedKernelManager
    except (
        RuntimeError,
        ValueError,
    ):  # SOFTSIGN_SANDBOX=require without bwrap, or a typo
        return False


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{seconds:.1f} s"


def utc_time(moment: datetime.datetime | None = None) -> str:
    """A time for people, in UTC and labelled so: ``"2026-03-01 17:05 UTC"``.

    Parameters
    ----------
    moment : datetime.datetime, optional
        The time (default: now). A naive time is taken as UTC, as nbgrader stores its
        timestamps and due dates; an aware one is converted.
    """
    if moment is None:
        moment = datetime.datetime.now(datetime.UTC)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
