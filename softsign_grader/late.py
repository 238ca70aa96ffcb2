"""Late work: an example late-penalty plugin, and extensions from the command line.

nbgrader knows an assignment's due date (``nbgrader db assignment add week1
--duedate="2026-10-05 23:59:00 Europe/Berlin"``, or formgrader's "Manage
Assignments" page) and each submission's time (``timestamp.txt``, written by
``nbgrader collect``/``zip_collect``). When autograding a submission that is
late, past the due date plus the student's extension, it asks
``AssignLatePenalties.plugin_class`` for each notebook's penalty.
``nbgrader_config.py`` installs :class:`PerDayLatePenalty`:

* 10 % of the notebook's score for each started day late (1 minute late is one
  day), at most 50 % (``PerDayLatePenalty.fraction_per_day`` and
  ``PerDayLatePenalty.max_fraction`` change both);
* nothing when the assignment has no due date, the submission no timestamp, or
  it came in on time: nbgrader only asks when a submission is late, and the
  plugin returns no penalty for 0 seconds.

nbgrader computes the penalty only when it autogrades a notebook, from the
score the notebook has then, and stores it in the gradebook
(``SubmittedNotebook.late_submission_penalty``); a manual grade entered later in
formgrader, a new due date or an extension leave it stale. Here
:func:`notebook_penalties` is the one computation of a submission's penalties
from its current scores, its lateness and the configured plugin (the policy),
exactly as nbgrader's ``AssignLatePenalties`` does it; :func:`apply_late_penalties`
stores what it finds. The stored value is what nbgrader's own readers use
(``nbgrader export``, ``generate_feedback``, formgrader's API), and nbgrader
offers no hook when formgrader saves a grade, so the penalties are brought up to
date where totals leave the gradebook:

* the LMS export (:class:`softsign_grader.lms.LmsExportPlugin`) and
  :class:`LateCsvExportPlugin` (``nbgrader export`` with
  ``c.ExportApp.plugin_class = "softsign_grader.late.LateCsvExportPlugin"``)
  store them first, then export;
* the class report computes them with :func:`notebook_penalties`;
* ``softsign-grade late apply ASSIGNMENT`` stores them on demand (before
  ``nbgrader generate_feedback``, or to see them in the gradebook).

Only the penalty column is written: never a grade, a comment or a submission.

Extensions (nbgrader has them in its gradebook but no command for them)::

    softsign-grade late extend week1 jdoe --days 2
    softsign-grade late extend week1 jdoe          # remove it
    softsign-grade late show week1
    softsign-grade late apply week1                # store up-to-date penalties
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterable
from typing import Any

from nbgrader.api import Gradebook, SubmittedAssignment
from nbgrader.plugins import CsvExportPlugin, LateSubmissionPlugin
from traitlets import Float
from traitlets.config import Config

from softsign_grader.course import Course, add_course_root_option, course_root_option

__all__ = [
    "SECONDS_PER_DAY",
    "LateCsvExportPlugin",
    "PerDayLatePenalty",
    "apply_late_penalties",
    "course_late_policy",
    "late_fraction",
    "late_policy",
    "main",
    "notebook_penalties",
]

SECONDS_PER_DAY = 24 * 60 * 60


def late_fraction(seconds_late: float, fraction_per_day: float, max_fraction: float) -> float:
    """Return the share of the score taken for work ``seconds_late`` past its due date."""
    if not seconds_late > 0:
        return 0.0
    days = math.ceil(seconds_late / SECONDS_PER_DAY)
    return min(max_fraction, days * fraction_per_day)


class PerDayLatePenalty(LateSubmissionPlugin):
    """A share of the notebook's score per started day late, capped."""

    fraction_per_day = Float(
        0.1, help="Share of the notebook's score taken for each started day late."
    ).tag(config=True)
    max_fraction = Float(0.5, help="The largest share of the score ever taken.").tag(config=True)

    def late_submission_penalty(
        self, student_id: str, score: float, total_seconds_late: float
    ) -> float | None:
        """Return the points to take from a notebook that scored ``score``, or None."""
        if not 0 <= self.fraction_per_day <= 1 or not 0 <= self.max_fraction <= 1:
            raise ValueError(
                "PerDayLatePenalty.fraction_per_day and max_fraction must lie in [0, 1], not "
                f"{self.fraction_per_day} and {self.max_fraction}"
            )
        fraction = late_fraction(total_seconds_late, self.fraction_per_day, self.max_fraction)
        if fraction == 0:
            return None
        days = math.ceil(total_seconds_late / SECONDS_PER_DAY)
        penalty = round(float(score or 0.0) * fraction, 6)
        self.log.debug(
            "%s is %d day(s) late: penalty %g of %g points (%g %%)",
            student_id,
            days,
            penalty,
            score or 0.0,
            100 * fraction,
        )
        return penalty


def late_policy(config: Config) -> LateSubmissionPlugin:
    """Return the late-penalty plugin ``config`` installs (``AssignLatePenalties.plugin_class``).

    Parameters
    ----------
    config : traitlets.config.Config
        A course's nbgrader configuration, e.g. an nbgrader app's or plugin's ``config``.
    """
    from nbgrader.preprocessors import AssignLatePenalties

    assigner = AssignLatePenalties(config=config)
    assigner.init_plugin()
    plugin = assigner.plugin_inst
    if not isinstance(plugin, LateSubmissionPlugin):
        raise TypeError(
            f"AssignLatePenalties.plugin_class must be a LateSubmissionPlugin, not "
            f"{type(plugin).__name__}"
        )
    return plugin


def course_late_policy(course: Course) -> LateSubmissionPlugin:
    """Return the late-penalty plugin of a course that `load_course` loaded.

    The course directory's own ``config`` predates the configuration files; the app
    that loaded them holds the course's configuration.
    """
    app = course.coursedir.parent
    return late_policy(app.config if app is not None else course.coursedir.config)


def notebook_penalties(
    submission: SubmittedAssignment, policy: LateSubmissionPlugin
) -> dict[str, float]:
    """Return each notebook's late penalty, from its current score, by notebook name.

    The one computation of a penalty, as nbgrader's ``AssignLatePenalties`` makes
    it when autograding: nothing when the submission is not late (past its due
    date plus extension); else ``policy.late_submission_penalty(student, score,
    seconds late)``, None read as 0 and the result kept within ``[0, score]``.
    The score is the notebook's current one, manual grades and extra credit
    included.

    Parameters
    ----------
    submission : nbgrader.api.SubmittedAssignment
        A student's submission, from an open gradebook.
    policy : nbgrader.plugins.LateSubmissionPlugin
        The course's late-penalty plugin (:func:`late_policy`).
    """
    seconds = float(submission.total_seconds_late)
    found = {}
    for notebook in submission.notebooks:
        score = float(notebook.score or 0.0)
        penalty = None
        if seconds > 0:
            penalty = policy.late_submission_penalty(submission.student_id, score, seconds)
        found[str(notebook.name)] = min(max(0.0, float(penalty or 0.0)), max(0.0, score))
    return found


def apply_late_penalties(
    gradebook: Gradebook,
    assignments: Iterable[str],
    policy: LateSubmissionPlugin,
    students: Iterable[str] = (),
) -> int:
    """Store the up-to-date late penalty of every submitted notebook; return how many changed.

    Only ``SubmittedNotebook.late_submission_penalty`` is written (None for no
    penalty, as nbgrader stores it). ``students``, if given, limits the students.
    """
    chosen = set(students)
    changed = 0
    for assignment in assignments:
        for submission in gradebook.assignment_submissions(assignment):
            if chosen and submission.student_id not in chosen:
                continue
            penalties = notebook_penalties(submission, policy)
            for notebook in submission.notebooks:
                penalty = penalties[str(notebook.name)] or None
                if (notebook.late_submission_penalty or None) != penalty:
                    notebook.late_submission_penalty = penalty
                    changed += 1
    if changed:
        gradebook.db.commit()
    return changed


class LateCsvExportPlugin(CsvExportPlugin):
    """``nbgrader export``'s CSV, after storing up-to-date late penalties.

    nbgrader's ``CsvExportPlugin`` subtracts the penalty stored at autograding;
    this one first brings it up to date (:func:`apply_late_penalties`), so that a
    manual grade entered since is penalised too. Install it with
    ``c.ExportApp.plugin_class = "softsign_grader.late.LateCsvExportPlugin"``.
    """

    def export(self, gradebook: Gradebook) -> None:
        """Store the penalties of the exported assignments and students, then write the CSV."""
        assignments = [str(a) for a in self.assignment] or [a.name for a in gradebook.assignments]
        changed = apply_late_penalties(
            gradebook, assignments, late_policy(self.config), [str(s) for s in self.student]
        )
        if changed:
            self.log.info("Updated %d late penalties to the current scores", changed)
        super().export(gradebook)


def _gradebook(course: Course) -> Gradebook:
    """The course's gradebook, where its nbgrader configuration puts it."""
    if not course.db_path.exists():
        raise SystemExit(f"no gradebook at {course.db_path}: release the assignment first")
    return Gradebook(course.db_url, course.course_id)


def _extend(gradebook: Gradebook, assignment: Any, args: argparse.Namespace) -> None:
    """Grant (or, with no time, remove) ``args.student``'s extension of ``assignment``."""
    if assignment.duedate is None:
        print(f"note: {assignment.name} has no due date, so nothing is late yet")
    if args.student not in {student.id for student in gradebook.students}:
        print(f"note: {args.student} was not in the gradebook; added (check the id)")
    # nbgrader's add_submission links the new submission to its assignment and student
    # before adding it to the session; an autoflush in between warns "add operation
    # along 'Assignment.submissions' will not proceed" (SQLAlchemy 2 no longer cascades
    # along backrefs). Without autoflush, nbgrader adds and commits it as it means to.
    with gradebook.db.no_autoflush:
        gradebook.update_or_create_student(args.student)
        gradebook.update_or_create_submission(assignment.name, args.student)
    gradebook.grant_extension(
        assignment.name,
        args.student,
        minutes=args.minutes,
        hours=args.hours,
        days=args.days,
        weeks=args.weeks,
    )
    submission = gradebook.find_submission(assignment.name, args.student)
    if submission.extension is None:
        print(f"{args.student}: no extension for {assignment.name}")
    else:
        print(
            f"{args.student}: due {submission.duedate} UTC "
            f"({assignment.name} + {submission.extension})"
        )
    print(
        "the exports, the feedback and the class report apply it; to store it in the "
        f"gradebook now: softsign-grade late apply {assignment.name}"
    )


def _apply(course: Course, gradebook: Gradebook, assignment: str) -> None:
    """Store the up-to-date late penalties of ``assignment`` and say how many changed."""
    changed = apply_late_penalties(gradebook, [assignment], course_late_policy(course))
    print(f"{assignment}: {changed} late penalties updated to the current scores")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Due dates, extensions and late penalties.")
    add_course_root_option(parser, "--course")
    commands = parser.add_subparsers(dest="command", required=True)
    extend = commands.add_parser("extend", help="give a student more time (none: remove it)")
    extend.add_argument("assignment")
    extend.add_argument("student")
    for unit in ("weeks", "days", "hours", "minutes"):
        extend.add_argument(f"--{unit}", type=float, default=0.0)
    show = commands.add_parser("show", help="the due date and every extension")
    show.add_argument("assignment")
    apply = commands.add_parser(
        "apply", help="store every late penalty computed from the current scores"
    )
    apply.add_argument("assignment")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``extend`` grants (or removes) an extension; ``show`` lists due dates and extensions;
    ``apply`` stores the late penalties of the current scores.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    from nbgrader.api import MissingEntry

    from softsign_grader.course import load_course

    course = load_course(course_root_option(parser, args))
    with _gradebook(course) as gradebook:
        try:
            assignment = gradebook.find_assignment(args.assignment)
        except MissingEntry:
            parser.error(f"the gradebook has no assignment {args.assignment!r}")
        if args.command == "show":
            due = f"{assignment.duedate} UTC" if assignment.duedate else "never (no due date)"
            print(f"{assignment.name}: due {due}")
            for submission in gradebook.assignment_submissions(assignment.name):
                if submission.extension is not None:
                    print(f"  {submission.student_id}: +{submission.extension}")
            return 0
        if args.command == "extend":
            if any(getattr(args, unit) < 0 for unit in ("weeks", "days", "hours", "minutes")):
                parser.error("an extension cannot be negative")
            _extend(gradebook, assignment, args)
            return 0
        _apply(course, gradebook, args.assignment)
    return 0


if __name__ == "__main__":
    sys.exit(main())
