"""Regenerate the student notebooks in ``notebooks/`` from ``solutions/`` with nbgrader.

Run it as ``make notebooks`` (or ``python -m source_lib.release``). The student
notebooks are derived files: never edit them by hand. The test suite fails
when the committed copies differ from a fresh generation.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from source_lib.course import ASSIGNMENT, REPO_ROOT, make_course, run_nbgrader

__all__ = ["generate_student_notebooks", "main"]


def generate_student_notebooks(dest: Path) -> list[Path]:
    """Generate the student version of every instructor notebook into ``dest``.

    nbgrader runs in a scratch copy of the course, so no gradebook is left
    behind. Returns the paths of the generated notebooks.
    """
    dest = Path(dest)
    with tempfile.TemporaryDirectory(prefix="softsign-release-") as scratch:
        course = make_course(Path(scratch) / "course", release=False)
        run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], course)
        released = course / "notebooks" / ASSIGNMENT
        dest.mkdir(parents=True, exist_ok=True)
        written = []
        for notebook in sorted(released.glob("*.ipynb")):
            target = dest / notebook.name
            shutil.copy2(notebook, target)
            written.append(target)
    return written


def main() -> int:
    """Rewrite ``notebooks/softsign`` from ``solutions/softsign``."""
    dest = REPO_ROOT / "notebooks" / ASSIGNMENT
    for stale in dest.glob("*.ipynb"):
        stale.unlink()
    written = generate_student_notebooks(dest)
    for path in written:
        print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
