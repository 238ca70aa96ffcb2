"""Regenerate the student notebooks in ``notebooks/`` from ``solutions/`` with nbgrader.

Run it as ``make notebooks`` (or ``python -m softsign_grader.release``). The student
notebooks are derived files: never edit them by hand. The test suite fails
when the committed copies differ from a fresh generation.

A notebook reads before it runs: the student release keeps the outputs of the
teaching cells (figures, tables, demonstrations), so a student who opens a
notebook sees its figures before solving anything, even though "Run All"
stops at the first unsolved exercise. :class:`ReleaseOutputs` takes the place
of nbgrader's ``ClearOutput`` in ``nbgrader generate_assignment`` only
(``nbgrader_config.py`` installs it with :func:`release_preprocessors`);
``autograde`` and ``generate_feedback`` clear and show outputs as before.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import ClearOutput

from softsign_grader.course import (
    ASSIGNMENT,
    add_course_root_option,
    course_root_option,
    make_course,
    run_nbgrader,
)

__all__ = [
    "ReleaseOutputs",
    "cleared_cells",
    "generate_student_notebooks",
    "main",
    "release_preprocessors",
]

#: The marker of a cell whose output nbval does not compare; only CI needs it.
NBVAL_MARKER = re.compile(r"^[ \t]*# NBVAL_IGNORE_OUTPUT[ \t]*\n?", re.MULTILINE)

_DEFINITION = re.compile(r"^def (\w+)\(", re.MULTILINE)


def _names_used(source: str) -> set[str] | None:
    """The bare names a code cell reads (None when it cannot be parsed)."""
    code = "\n".join(
        line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))
    )
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def cleared_cells(nb: NotebookNode) -> list[int]:
    """The indices of the code cells whose outputs the student release must not show.

    Those are the solution cells, the test cells, and every cell that calls a
    function defined in a solution cell above it (the exercise's "try it"
    cell, and any later cell run on the student's own function): their
    outputs came from the instructor's solution. A cell that cannot be parsed
    counts as one of them. Every other code cell teaches; its outputs stay.
    """
    solved: set[str] = set()
    cleared = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if utils.is_solution(cell) or utils.is_grade(cell):
            cleared.append(index)
        else:
            names = _names_used(cell.source)
            if names is None or names & solved:
                cleared.append(index)
        if utils.is_solution(cell):
            solved |= set(_DEFINITION.findall(cell.source))
    return cleared


class ReleaseOutputs(ClearOutput):
    """nbgrader's ``ClearOutput`` for the student release: teaching outputs stay.

    The outputs of the cells :func:`cleared_cells` names are cleared as
    nbgrader clears them; the other code cells keep their outputs (without
    execution counts, which belonged to the instructor's run). Every code
    cell loses its ``# NBVAL_IGNORE_OUTPUT`` line, which is for CI only.
    """

    def preprocess(self, nb: NotebookNode, resources: Any) -> tuple[NotebookNode, Any]:
        """Clear the outputs of solution, test and try-it cells; strip nbval markers."""
        cleared = set(cleared_cells(nb))
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            cell.source = NBVAL_MARKER.sub("", cell.source)
            if index in cleared:
                cell, resources = super().preprocess_cell(cell, resources, index)
                continue
            cell.execution_count = None
            for output in cell.get("outputs", []):
                if "execution_count" in output:
                    output.execution_count = None
            for field in self.remove_metadata_fields:
                cell.metadata.pop(field, None)
        return nb, resources


def release_preprocessors() -> list[type]:
    """``nbgrader generate_assignment``'s preprocessors, with :class:`ReleaseOutputs`."""
    from nbgrader.converters import GenerateAssignment

    steps = GenerateAssignment.class_traits()["preprocessors"].default()
    return [ReleaseOutputs if step is ClearOutput else step for step in steps]


def generate_student_notebooks(
    dest: Path, assignment: str = ASSIGNMENT, *, course_root: Path | None = None
) -> list[Path]:
    """Generate the student version of every instructor notebook of ``assignment`` into ``dest``.

    nbgrader runs in a scratch copy of the course at ``course_root`` (default
    :func:`~softsign_grader.course.find_course_root`), so no gradebook is left
    behind. Returns the paths of the generated notebooks.
    """
    dest = Path(dest)
    with tempfile.TemporaryDirectory(prefix="softsign-release-") as scratch:
        course = make_course(Path(scratch) / "course", release=False, source=course_root)
        run_nbgrader(["generate_assignment", assignment, "--force"], course)
        released = course / "notebooks" / assignment
        dest.mkdir(parents=True, exist_ok=True)
        written = []
        for notebook in sorted(released.glob("*.ipynb")):
            target = dest / notebook.name
            shutil.copy2(notebook, target)
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    """Rewrite ``notebooks/ASSIGNMENT`` from ``solutions/ASSIGNMENT``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "assignment", nargs="?", default=ASSIGNMENT, help=f"the assignment (default {ASSIGNMENT})"
    )
    add_course_root_option(parser)
    args = parser.parse_args(argv)
    root = course_root_option(parser, args)
    if not any((root / "solutions" / args.assignment).glob("*.ipynb")):
        parser.error(f"solutions/{args.assignment}/ holds no notebooks")
    dest = root / "notebooks" / args.assignment
    for stale in dest.glob("*.ipynb"):
        stale.unlink()
    written = generate_student_notebooks(dest, args.assignment, course_root=root)
    for path in written:
        print(f"wrote {path.relative_to(root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
