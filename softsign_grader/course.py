"""Locate the course on disk, read its nbgrader configuration, and run nbgrader on it.

Everything that grades or releases notebooks (the tests, ``make notebooks``,
``make grade-demo``, the parallel grader, the class report) goes through these
few functions and :class:`Course`, so they all agree on where the course lives,
where its gradebook is and how nbgrader is started.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nbgrader.coursedir import CourseDirectory

__all__ = [
    "ASSIGNMENT",
    "CONFIG_FILE",
    "WORK_FOLDER",
    "Course",
    "GradingError",
    "assignment_names",
    "course_id",
    "find_course_root",
    "load_course",
    "make_course",
    "nbgrader_command",
    "notebook_names",
    "open_course",
    "run_nbgrader",
    "tool_path_env",
]

#: The default assignment: the folder of ``solutions/`` that holds this repository's
#: notebook sequence. Every function and command takes the assignment as a parameter
#: (``make grade ASSIGNMENT=week1``); this is only what they use when given none.
ASSIGNMENT = "softsign"

#: The file that marks a course folder: nbgrader's configuration.
CONFIG_FILE = "nbgrader_config.py"

#: Name of the parallel grader's work folder inside the course's ``autograded/`` folder. It
#: starts with a dot, so nbgrader's ``autograded/*/ASSIGNMENT`` globs never see it.
WORK_FOLDER = ".parallel_grading"


def find_course_root(start: Path | None = None) -> Path:
    """Return the nearest folder holding ``nbgrader_config.py``: ``start`` or a parent.

    ``start`` is the current folder by default; the package's own location never counts.

    Raises
    ------
    FileNotFoundError
        When neither ``start`` nor any of its parents holds ``nbgrader_config.py``.
    """
    here = Path(start if start is not None else Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise FileNotFoundError(f"no {CONFIG_FILE} in {here} or any folder above it")


def add_course_root_option(parser: argparse.ArgumentParser, *aliases: str) -> None:
    """Give ``parser`` the ``--course-root`` option every course command shares.

    ``aliases`` are older spellings a command still accepts (``--course``).
    """
    parser.add_argument(
        "--course-root",
        *aliases,
        dest="course_root",
        type=Path,
        default=None,
        help=f"the course folder, holding {CONFIG_FILE} (default: the nearest one from the "
        "current folder up)",
    )


def course_root_option(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Path:
    """The course that ``--course-root`` names, or else :func:`find_course_root`'s.

    A missing course is a usage error of ``parser`` (exit status 2) that says what to do.
    """
    if args.course_root is not None:
        return Path(args.course_root).resolve()
    try:
        return find_course_root()
    except FileNotFoundError as error:
        parser.error(f"{error}; give the course with --course-root")


def __getattr__(name: str) -> Path:
    """``REPO_ROOT``, the name of :func:`find_course_root` ``()`` in older code."""
    if name == "REPO_ROOT":
        return find_course_root()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def nbgrader_command() -> list[str]:
    """Return the command that starts nbgrader from this Python environment."""
    return [sys.executable, "-m", "nbgrader"]


def notebook_names(
    root: Path | None = None, folder: str = "solutions", assignment: str = ASSIGNMENT
) -> list[str]:
    """Return the sorted file names of the assignment's notebooks in ``folder``."""
    base = (root or find_course_root()) / folder / assignment
    return sorted(path.name for path in base.glob("*.ipynb"))


def assignment_names(root: Path | None = None, folder: str = "solutions") -> list[str]:
    """Return the assignments of a course: the folders of ``folder`` that hold notebooks."""
    base = (root or find_course_root()) / folder
    return sorted(path.name for path in base.iterdir() if any(path.glob("*.ipynb")))


def course_id(course_root: Path | None = None) -> str:
    """Return ``CourseDirectory.course_id`` as the course's ``nbgrader_config.py`` sets it.

    A gradebook opened with another course id gets that course added to it, so
    code that opens ``nbgrader.api.Gradebook`` passes this one.
    """
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    root = Path(course_root or find_course_root())
    config = PyFileConfigLoader(CONFIG_FILE, str(root)).load_config()
    return str(CourseDirectory(config=config).course_id)


def tool_path_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return ``env`` (default ``os.environ``) with this Python's scripts first on ``PATH``.

    nbgrader starts helpers by name (``alembic`` when it creates a gradebook, the
    kernel), so they must come from the environment that runs nbgrader, even when
    that environment is not activated.

    Examples
    --------
    >>> import sys
    >>> from pathlib import Path
    >>> tool_path_env({"PATH": "/usr/bin"})["PATH"] == f"{Path(sys.executable).parent}:/usr/bin"
    True
    """
    result = dict(os.environ if env is None else env)
    scripts = str(Path(sys.executable).parent)
    rest = [part for part in result.get("PATH", "").split(os.pathsep) if part and part != scripts]
    result["PATH"] = os.pathsep.join([scripts, *rest])
    return result


def make_course(dest: Path, *, release: bool = True, source: Path | None = None) -> Path:
    """Copy the course (config, instructor notebooks and, if asked, student notebooks) to ``dest``.

    Grading and releasing then happen in ``dest``, so the repository never
    collects a ``gradebook.db`` or ``submitted/`` folder as a side effect. ``source`` is
    the course to copy, by default :func:`find_course_root`.
    """
    source = source or find_course_root()
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / CONFIG_FILE, dest / CONFIG_FILE)
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    shutil.copytree(source / "solutions", dest / "solutions", ignore=ignore, dirs_exist_ok=True)
    if release and (source / "notebooks").is_dir():
        shutil.copytree(source / "notebooks", dest / "notebooks", ignore=ignore, dirs_exist_ok=True)
    return dest


def run_nbgrader(
    args: list[str],
    course_root: Path,
    *,
    check: bool = True,
    timeout: float | None = 1800,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``nbgrader ARGS`` with ``course_root`` as the working directory and course root.

    Raises ``RuntimeError`` with nbgrader's own output when ``check`` is true
    and nbgrader exits non-zero.
    """
    full_env = tool_path_env({**os.environ, **(env or {})})
    command = [*nbgrader_command(), *args, f"--CourseDirectory.root={course_root}"]
    result = subprocess.run(
        command,
        cwd=course_root,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        check=False,
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"nbgrader {' '.join(args)} failed with exit code {result.returncode}:\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result


# --------------------------------------------------------------------------- the course


class GradingError(RuntimeError):
    """The class cannot be graded at all (no gradebook, unknown assignment, a run in progress)."""


@dataclass(frozen=True)
class Course:
    """An nbgrader course: its :class:`nbgrader.coursedir.CourseDirectory` and gradebook.

    Every other attribute is the ``CourseDirectory`` trait of that name, as the
    course's configuration sets it (``autograded_directory``, ``ignore``, ...).
    """

    coursedir: CourseDirectory
    db_path: Path

    def __getattr__(self, name: str) -> Any:
        if name == "coursedir":  # not set yet (while being copied)
            raise AttributeError(name)
        return getattr(self.coursedir, name)

    @property
    def root(self) -> Path:
        """The course folder (``CourseDirectory.root``)."""
        return Path(self.coursedir.root)

    @property
    def db_url(self) -> str:
        """The gradebook's SQLAlchemy URL."""
        return f"sqlite:///{self.db_path}"

    def path(self, step: str, student_id: str, assignment_id: str) -> Path:
        """Return the folder of one step, student and assignment (``format_path``)."""
        return Path(os.path.normpath(self.coursedir.format_path(step, student_id, assignment_id)))

    def default_work_dir(self) -> Path:
        """Return the default work folder: a hidden folder inside ``autograded/``."""
        return self.root / self.autograded_directory / WORK_FOLDER

    def lock_path(self) -> Path:
        """Return the run lock's file, beside the gradebook."""
        return self.db_path.with_name(self.db_path.name + ".lock")

    def submitted_students(self, assignment_id: str) -> list[str]:
        """Return the sorted ids of the students with a submission (less the excluded ones)."""
        from nbgrader.apps import NbGraderAPI

        api = NbGraderAPI(coursedir=self.coursedir)
        excluded = set(filter(None, self.coursedir.student_id_exclude.split(",")))
        return sorted(set(api.get_submitted_students(assignment_id)) - excluded)

    def gradebook_submissions(self, assignment_id: str) -> set[str]:
        """Return the students with a submission of ``assignment_id`` in the gradebook."""
        from nbgrader.api import Gradebook

        with Gradebook(self.db_url, self.course_id) as gradebook:
            return {s.student_id for s in gradebook.assignment_submissions(assignment_id)}


def load_course(root: Path, nbgrader_args: Sequence[str] = ()) -> Course:
    """Read a course's configuration, with ``nbgrader_args``, as ``nbgrader autograde`` does."""
    from nbgrader.apps.autogradeapp import AutogradeApp
    from nbgrader.utils import chdir

    root = Path(root).resolve()
    app = AutogradeApp()
    with chdir(str(root)):
        # Quiet: the workers log nbgrader's configuration warnings.
        app.initialize(["--log-level=ERROR", f"--CourseDirectory.root={root}", *nbgrader_args])
    prefix = "sqlite:///"
    db_url = str(app.coursedir.db_url)
    if not db_url.startswith(prefix):
        raise GradingError(
            f"parallel grading needs an SQLite gradebook; this course uses {db_url!r}. "
            "Run plain `nbgrader autograde` instead."
        )
    db_path = Path(db_url[len(prefix) :])
    return Course(app.coursedir, db_path if db_path.is_absolute() else root / db_path)


def open_course(course_root: Path, assignment: str, nbgrader_args: Sequence[str]) -> Course:
    """Load a course (:func:`load_course`) whose gradebook must exist already.

    Raises
    ------
    GradingError
        When the course has no gradebook yet.
    """
    course = load_course(course_root, nbgrader_args)
    if not course.db_path.exists():
        raise GradingError(
            f"no gradebook at {course.db_path}; run `nbgrader generate_assignment {assignment}` "
            "in the course folder first"
        )
    return course


# --------------------------------------------------------------------------- fingerprints
