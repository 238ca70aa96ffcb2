"""The cells of a notebook as the gradebook knows them, and a cell's nbgrader metadata.

The repairs (:mod:`softsign_grader.repair`) compare what a student's notebook
says about its cells with the instructor's notebook in nbgrader's gradebook.
This module reads both sides: a cell's ``nbgrader`` metadata, when it names a
cell (:func:`nbgrader_metadata`, :func:`grade_id_of`), the gradebook's cells
(:class:`SourceCellInfo`, :func:`source_cells`), the valid metadata of a
known cell (:func:`reconciled_metadata`) and a test cell's source as released
and as graded (:func:`known_test_sources`). It never changes a notebook.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from nbconvert.exporters.exporter import ResourcesDict
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor

__all__ = [
    "SourceCellInfo",
    "describe_cell",
    "grade_id_of",
    "known_test_sources",
    "nbgrader_metadata",
    "normalized_source",
    "reconciled_metadata",
    "source_cells",
]

#: nbgrader's schema (v3) allows these characters in a grade_id; nbgrader also
#: rejects the empty string.
_GRADE_ID = re.compile(r"^[a-zA-Z0-9_\-]+$")
#: The nbgrader metadata schema this nbgrader writes and validates.
_SCHEMA_VERSION = 3
#: Where :func:`source_cells` keeps what it read, in the resources of one conversion.
_CACHE_KEY = "softsign_source_cells"


def describe_cell(cell: Any, index: int) -> str:
    """Name a cell in a log message: its position (1-based), id and grade_id."""
    parts = [f"cell {index + 1}"]
    cell_id = cell.get("id") if isinstance(cell, dict) else None
    if isinstance(cell_id, str):
        parts.append(f"id {cell_id!r}")
    grade_id = grade_id_of(cell)
    if grade_id is not None:
        parts.append(f"grade_id {grade_id!r}")
    return f"{parts[0]} ({', '.join(parts[1:])})" if len(parts) > 1 else parts[0]


def nbgrader_metadata(cell: Any) -> dict[str, Any] | None:
    """Return the cell's ``nbgrader`` metadata if it is a dict with a usable grade_id."""
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    if not isinstance(meta, dict):
        return None
    grade_id = meta.get("grade_id")
    if not isinstance(grade_id, str) or not _GRADE_ID.match(grade_id):
        return None
    return meta


def grade_id_of(cell: Any) -> str | None:
    """Return the cell's grade_id, or None if its nbgrader metadata names no cell."""
    meta = nbgrader_metadata(cell)
    return None if meta is None else meta["grade_id"]


@dataclass(frozen=True)
class SourceCellInfo:
    """What the gradebook knows about one cell of the instructor's notebook.

    Attributes
    ----------
    grade_id : str
        The cell's nbgrader grade_id.
    cell_type : str
        ``"code"`` or ``"markdown"``.
    source : str
        The instructor's source, hidden tests included (what ``OverwriteCells``
        restores in a locked cell).
    checksum : str or None
        nbgrader's checksum of the source cell.
    locked : bool
        Whether the cell is read-only (its source is restored).
    grade : bool
        Whether it is a grade cell (scored).
    solution : bool
        Whether it is a solution cell.
    task : bool
        Whether it is a task cell.
    points : float or None
        The cell's maximum score, for grade and task cells.
    """

    grade_id: str
    cell_type: str
    source: str
    checksum: str | None
    locked: bool
    grade: bool
    solution: bool
    task: bool
    points: float | None


def source_cells(resources: ResourcesDict | dict[str, Any]) -> dict[str, SourceCellInfo] | None:
    """Read the gradebook's cells of the notebook being converted.

    Parameters
    ----------
    resources : dict
        nbconvert resources as nbgrader fills them: ``resources["nbgrader"]``
        holds ``notebook``, ``assignment`` and ``db_url``.

    Returns
    -------
    dict or None
        ``{grade_id: SourceCellInfo}``, or None when the resources name no
        notebook of the gradebook.
    """
    info = resources.get("nbgrader")
    if not isinstance(info, dict) or not {"notebook", "assignment", "db_url"} <= set(info):
        return None
    # Three repair steps ask per notebook; the gradebook is read once per conversion.
    key = (info["db_url"], info["assignment"], info["notebook"])
    cached = resources.get(_CACHE_KEY)
    if not (isinstance(cached, tuple) and cached[0] == key):
        cached = (key, _read_source_cells(info))
        resources[_CACHE_KEY] = cached
    cells = cached[1]
    return None if cells is None else dict(cells)


def _read_source_cells(info: dict[str, Any]) -> dict[str, SourceCellInfo] | None:
    try:
        with Gradebook(info["db_url"]) as gradebook:
            notebook = gradebook.find_notebook(info["notebook"], info["assignment"])
            graded = {cell.name: float(cell.max_score) for cell in notebook.grade_cells}
            tasks = {cell.name: float(cell.max_score) for cell in notebook.task_cells}
            solutions = {cell.name for cell in notebook.solution_cells}
            return {
                cell.name: SourceCellInfo(
                    grade_id=cell.name,
                    cell_type=cell.cell_type,
                    source=cell.source or "",
                    checksum=cell.checksum,
                    locked=bool(cell.locked),
                    grade=cell.name in graded,
                    solution=cell.name in solutions,
                    task=cell.name in tasks,
                    points=graded.get(cell.name, tasks.get(cell.name)),
                )
                for cell in notebook.source_cells
            }
    except MissingEntry:
        return None


def _usable_points(value: Any) -> bool:
    """Whether ``value`` is points OverwriteCells can compare: a finite number >= 0, not a bool."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value)) and value >= 0
    except OverflowError:  # an int too large for a float
        return False


def reconciled_metadata(meta: dict[str, Any], source: SourceCellInfo) -> dict[str, Any]:
    """Return valid nbgrader metadata for a cell that claims ``source``'s grade_id."""
    fixed: dict[str, Any] = {
        "grade": source.grade,
        "grade_id": source.grade_id,
        "locked": meta["locked"] if isinstance(meta.get("locked"), bool) else source.locked,
        "schema_version": _SCHEMA_VERSION,
        "solution": source.solution,
        "task": source.task,
        "cell_type": source.cell_type,
    }
    # OverwriteCells sets the checksum anyway; keep a well-formed one to avoid a second warning.
    checksum = meta.get("checksum")
    if isinstance(checksum, str) and len(checksum) == 32:
        fixed["checksum"] = checksum
    elif source.checksum:
        fixed["checksum"] = source.checksum
    if source.grade or source.task:
        points = meta.get("points")
        # Usable points are left for OverwriteCells to compare, report and restore.
        fixed["points"] = points if _usable_points(points) else source.points or 0.0
    return fixed


def normalized_source(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def known_test_sources(step: NbGraderPreprocessor, source: str) -> set[str]:
    """A test cell's source, normalized, as in the gradebook and as released (no hidden tests).

    The hidden-test delimiters are the ones nbgrader is configured with (``step``'s config).
    """
    delimiters = ClearHiddenTests(parent=step)
    kept, hidden = [], False
    for line in source.split("\n"):
        if delimiters.begin_test_delimeter in line:
            hidden = True
        elif delimiters.end_test_delimeter in line:
            hidden = False
        elif not hidden:
            kept.append(line)
    return {normalized_source(source), normalized_source("\n".join(kept))}
