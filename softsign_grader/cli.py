"""The ``softsign-grade`` command: one entry point, one subcommand per job.

Subcommands
-----------
``grade ASSIGNMENT``
    Autograde every new or changed submission in parallel (the default: a first
    argument that is no subcommand is an assignment, so ``softsign-grade
    ASSIGNMENT --jobs 4`` grades).
``merge ASSIGNMENT``
    Merge the results of ``grade --shard I/N`` runs into the course gradebook.
``feedback ASSIGNMENT``
    Write the feedback pages of every newly graded student in parallel
    (:mod:`softsign_grader.feedback_run`).
``report ASSIGNMENT``
    Write the class report (:mod:`softsign_grader.report`).
``release``, ``student-release``, ``demo``, ``late``, ``lms``, ``collect``
    The course tools, as ``python -m softsign_grader.X`` runs them.

Examples
--------
From the course folder (the one with ``nbgrader_config.py``)::

    softsign-grade ASSIGNMENT --jobs 4
    softsign-grade grade ASSIGNMENT --force --student "a*"
    softsign-grade grade ASSIGNMENT --shard 2/8 --jobs 16   # on machine 2 of 8
    softsign-grade merge ASSIGNMENT --shards 8             # once all 8 are done
    softsign-grade feedback ASSIGNMENT --jobs 4
    softsign-grade report ASSIGNMENT
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from softsign_grader.course import (
    WORK_FOLDER,
    GradingError,
    add_course_root_option,
    course_root_option,
)
from softsign_grader.grading import grade
from softsign_grader.merge import merge
from softsign_grader.shards import parse_shard
from softsign_grader.summary import RunSummary

__all__ = ["NBGRADER_OPTION", "build_parser", "main"]

#: An option passed on to nbgrader: ``--Class.trait=value``.
NBGRADER_OPTION = re.compile(r"--[A-Za-z_]\w*\.[A-Za-z_][\w.]*=.*")

#: Subcommands that are another module's own command line: ``name: (module, help)``.
DELEGATED: dict[str, tuple[str, str]] = {
    "report": ("softsign_grader.report", "write the class report of an assignment"),
    "release": (
        "softsign_grader.release",
        "regenerate the student notebooks with nbgrader",
    ),
    "student-release": (
        "softsign_grader.student_release",
        "build what students receive: the notebooks and the library",
    ),
    "demo": ("softsign_grader.demo", "the instructor's tour of grading (make grade-demo)"),
    "late": ("softsign_grader.late", "due dates and extensions (late work)"),
    "lms": ("softsign_grader.lms", "move work and marks between nbgrader and an LMS"),
    "collect": (
        "softsign_grader.collect",
        "collect an LMS download into submitted/, keeping earlier work",
    ),
}

_EXIT_STATUS = (
    "Exit status: 0 all graded, 1 some students failed (listed under Failed:), 2 nothing "
    "could be graded (usage, configuration, or another run of the course in progress), "
    "130 interrupted."
)


def _shard_argument(text: str) -> tuple[int, int]:
    try:
        return parse_shard(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _common_options(parser: argparse.ArgumentParser) -> None:
    """The options ``grade`` and ``merge`` share."""
    parser.add_argument("assignment", help="the nbgrader assignment id")
    add_course_root_option(parser)
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help=f"run, shard and fingerprint folder (default: autograded/{WORK_FOLDER})",
    )
    parser.add_argument(
        "--keep-work", action="store_true", help="keep the workers' gradebooks and logs"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _grade_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``grade``."""
    _common_options(parser)
    parser.add_argument(
        "-j", "--jobs", type=_positive_int, default=None, help="worker processes (default: cores)"
    )
    parser.add_argument(
        "-f", "--force", action="store_true", help="grade every submission, changed or not"
    )
    parser.add_argument(
        "--shard",
        type=_shard_argument,
        default=None,
        metavar="I/N",
        help="grade only slice I of N of the class (sorted by student id) and leave the "
        "result for `softsign-grade merge`",
    )
    parser.add_argument(
        "--student", default=None, help="grade only students whose id matches this glob"
    )
    parser.add_argument(
        "--student-timeout",
        type=float,
        default=1800.0,
        help="seconds after which one student's grading is stopped and failed (default 1800)",
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``softsign-grade`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="softsign-grade",
        description="Grade a class with parallel nbgrader workers, merge shards, write the "
        "class report, and run the course tools. `softsign-grade ASSIGNMENT ...` is "
        "`softsign-grade grade ASSIGNMENT ...`.",
        epilog=_EXIT_STATUS,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    nbgrader_epilog = (
        "Options of the form --Class.trait=value (e.g. --Execute.timeout=30) are passed "
        f"to nbgrader. {_EXIT_STATUS}"
    )
    _grade_options(
        commands.add_parser(
            "grade",
            help="autograde every new or changed submission in parallel (the default)",
            description="Autograde every new or changed submission of an assignment with N "
            "parallel nbgrader workers and merge the results into the course gradebook.",
            epilog=nbgrader_epilog,
        )
    )
    merging = commands.add_parser(
        "merge",
        help="merge the results of --shard runs into the course gradebook",
        description="Merge the results of `softsign-grade grade ASSIGNMENT --shard I/N` runs "
        "into the course gradebook.",
        epilog=nbgrader_epilog,
    )
    _common_options(merging)
    merging.add_argument(
        "--shards",
        type=_positive_int,
        default=None,
        metavar="N",
        help="require all N shards to have finished before merging anything",
    )
    feedback = commands.add_parser(
        "feedback",
        help="write the feedback pages of the newly graded students in parallel",
        description="Write the feedback HTML of every student whose autograded notebooks are "
        "newer than their feedback, with N parallel nbgrader workers.",
        epilog="Options of the form --Class.trait=value are passed to nbgrader. Exit status: "
        "0 every student due got feedback, 1 some failed (listed under Failed:), 2 nothing "
        "could be done (usage, no gradebook, or a grading run of the course in progress).",
    )
    feedback.add_argument("assignment", help="the nbgrader assignment id")
    add_course_root_option(feedback)
    feedback.add_argument(
        "-j", "--jobs", type=_positive_int, default=None, help="worker processes (default: cores)"
    )
    for name, (_, text) in DELEGATED.items():
        commands.add_parser(name, help=f"{text} (`softsign-grade {name} --help`)", add_help=False)
    return parser


def _delegate(name: str) -> Callable[[list[str]], int]:
    """The ``main`` of the module behind a delegated subcommand."""
    main: Callable[[list[str]], int] = importlib.import_module(DELEGATED[name][0]).main
    return main


def _run(args: argparse.Namespace, nbgrader_args: list[str]) -> RunSummary:
    """Grade or merge, as ``args`` say."""
    course_root = args.course_root
    if args.command == "merge":
        return merge(
            course_root,
            args.assignment,
            shards=args.shards,
            work_dir=args.work_dir,
            nbgrader_args=nbgrader_args,
            keep_work=args.keep_work,
        )
    return grade(
        course_root,
        args.assignment,
        jobs=args.jobs,
        force=args.force,
        shard=args.shard,
        student=args.student,
        work_dir=args.work_dir,
        nbgrader_args=nbgrader_args,
        student_timeout=args.student_timeout,
        progress=not args.no_progress,
        keep_work=args.keep_work,
    )


def _feedback(args: argparse.Namespace, nbgrader_args: list[str]) -> int:
    """Run ``feedback``: 0 when every student due got feedback, 1 when some failed, 2 none."""
    from softsign_grader.feedback_run import generate_feedback

    course_root = args.course_root
    try:
        summary = generate_feedback(
            course_root, args.assignment, jobs=args.jobs, nbgrader_args=nbgrader_args
        )
    except GradingError as error:
        print(f"softsign-grade: {error}", file=sys.stderr)
        return 2
    print(summary.render())
    return 1 if summary.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``softsign-grade`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 when every submission was graded, 1 when some failed, 2 when nothing could be,
        130 when interrupted; a delegated subcommand's own status.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in DELEGATED:
        sys.argv[0] = f"softsign-grade {argv[0]}"  # the delegated parser's program name
        return _delegate(argv[0])(argv[1:])
    if argv[:1] and not argv[0].startswith("-") and argv[0] not in ("grade", "merge", "feedback"):
        argv = ["grade", *argv]
    parser = build_parser()
    args, nbgrader_args = parser.parse_known_args(argv)
    if args.command is None:
        parser.error("name an assignment (softsign-grade ASSIGNMENT) or a subcommand")
    unknown = [option for option in nbgrader_args if not NBGRADER_OPTION.fullmatch(option)]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.course_root = course_root_option(parser, args)
    if args.command == "feedback":
        return _feedback(args, nbgrader_args)
    try:
        summary = _run(args, nbgrader_args)
    except GradingError as error:
        print(f"softsign-grade: {error}", file=sys.stderr)
        return 2
    if summary.log_file and summary.log_file.is_relative_to(Path.cwd()):
        summary.log_file = summary.log_file.relative_to(Path.cwd())
    print(summary.render())
    if summary.interrupted:
        return 130
    if args.command == "grade" and args.shard:
        print(
            f"Shard {args.shard[0]}/{args.shard[1]} is ready; when all {args.shard[1]} are, run "
            f"`softsign-grade merge {args.assignment} --shards {args.shard[1]}`."
        )
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
