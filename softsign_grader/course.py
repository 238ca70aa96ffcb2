"""Locate the course on disk and run real nbgrader commands against copies of it.

Everything that grades or releases notebooks (the tests, ``make notebooks``,
``make grade-demo``, the parallel grader) goes through these few functions, so
they all agree on where the course lives and how nbgrader is started.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "ASSIGNMENT",
    "REPO_ROOT",
    "assignment_names",
    "course_id",
    "make_course",
    "nbgrader_command",
    "notebook_names",
    "run_nbgrader",
    "tool_path_env",
]

#: The default assignment: the folder of ``solutions/`` that holds this repository's
#: notebook sequence. Every function and command takes the assignment as a parameter
#: (``make grade ASSIGNMENT=week1``); this is only what they use when given none.
ASSIGNMENT = "softsign"

#: The repository root: the folder that holds ``nbgrader_config.py``.
REPO_ROOT = Path(__file__).resolve().parents[1]


def nbgrader_command() -> list[str]:
    """Return the command that starts nbgrader from this Python environment."""
    return [sys.executable, "-m", "nbgrader"]


def notebook_names(
    root: Path | None = None, folder: str = "solutions", assignment: str = ASSIGNMENT
) -> list[str]:
    """Return the sorted file names of the assignment's notebooks in ``folder``."""
    base = (root or REPO_ROOT) / folder / assignment
    return sorted(path.name for path in base.glob("*.ipynb"))


def assignment_names(root: Path | None = None, folder: str = "solutions") -> list[str]:
    """Return the assignments of a course: the folders of ``folder`` that hold notebooks."""
    base = (root or REPO_ROOT) / folder
    return sorted(path.name for path in base.iterdir() if any(path.glob("*.ipynb")))


def course_id(course_root: Path | None = None) -> str:
    """Return ``CourseDirectory.course_id`` as the course's ``nbgrader_config.py`` sets it.

    A gradebook opened with another course id gets that course added to it, so
    code that opens ``nbgrader.api.Gradebook`` passes this one.
    """
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    root = Path(course_root or REPO_ROOT)
    config = PyFileConfigLoader("nbgrader_config.py", str(root)).load_config()
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
    collects a ``gradebook.db`` or ``submitted/`` folder as a side effect.
    """
    source = source or REPO_ROOT
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / "nbgrader_config.py", dest / "nbgrader_config.py")
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
