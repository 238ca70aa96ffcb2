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

The penalty is computed when the notebook is autograded, from the score it
has then; regrade (``softsign-grade ASSIGNMENT --force`` or ``nbgrader
autograde ASSIGNMENT --force``) after changing a due date or an extension.
``nbgrader export`` and the LMS export subtract it from the total.

Extensions (nbgrader has them in its gradebook but no command for them)::

    python -m softsign_grader.late extend week1 jdoe --days 2
    python -m softsign_grader.late extend week1 jdoe          # remove it
    python -m softsign_grader.late show week1
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from nbgrader.api import Gradebook
from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float

from softsign_grader.course import course_id

__all__ = ["SECONDS_PER_DAY", "PerDayLatePenalty", "late_fraction", "main"]

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
        self.log.warning(
            "%s is %d day(s) late: penalty %g of %g points (%g %%)",
            student_id,
            days,
            penalty,
            score or 0.0,
            100 * fraction,
        )
        return penalty


def _gradebook(course: Path) -> Gradebook:
    database = course / "gradebook.db"
    if not database.exists():
        raise SystemExit(f"no gradebook at {database}: release the assignment first")
    return Gradebook(f"sqlite:///{database}", course_id(course))


def main(argv: list[str] | None = None) -> int:
    """``extend`` grants (or removes) an extension; ``show`` lists due dates and extensions."""
    parser = argparse.ArgumentParser(description="Due dates and extensions of an assignment.")
    parser.add_argument("--course", type=Path, default=Path.cwd(), help="the course root")
    commands = parser.add_subparsers(dest="command", required=True)
    extend = commands.add_parser("extend", help="give a student more time (none: remove it)")
    extend.add_argument("assignment")
    extend.add_argument("student")
    for unit in ("weeks", "days", "hours", "minutes"):
        extend.add_argument(f"--{unit}", type=float, default=0.0)
    show = commands.add_parser("show", help="the due date and every extension")
    show.add_argument("assignment")
    args = parser.parse_args(argv)
    from nbgrader.api import MissingEntry

    with _gradebook(args.course.resolve()) as gradebook:
        try:
            assignment = gradebook.find_assignment(args.assignment)
        except MissingEntry:
            parser.error(f"the gradebook has no assignment {args.assignment!r}")
        if args.command == "show":
            print(f"{assignment.name}: due {assignment.duedate or 'never (no due date)'}")
            for submission in gradebook.assignment_submissions(assignment.name):
                if submission.extension is not None:
                    print(f"  {submission.student_id}: +{submission.extension}")
            return 0
        if any(getattr(args, unit) < 0 for unit in ("weeks", "days", "hours", "minutes")):
            parser.error("an extension cannot be negative")
        if assignment.duedate is None:
            print(f"note: {assignment.name} has no due date, so nothing is late yet")
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
                f"{args.student}: due {submission.duedate} "
                f"({assignment.name} + {submission.extension})"
            )
        print(f"regrade to apply it: softsign-grade {assignment.name} --force")
    return 0


if __name__ == "__main__":
    sys.exit(main())
