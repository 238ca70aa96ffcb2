"""Repair what ordinary JupyterLab edits do to nbgrader's cell metadata, before grading.

JupyterLab copies a cell's whole metadata, ``nbgrader`` and its ``grade_id``
included, when a student copies and pastes a cell and when a student splits
one (both halves get it). nbgrader's ``DeduplicateIds`` then keeps the last
copy's grade_id and leaves an empty ``nbgrader`` dict on the others, and
``OverwriteCells`` with ``add_missing_cells = True`` reads
``cell.metadata.nbgrader["grade_id"]`` of every cell that has ``nbgrader``
metadata: ``KeyError: 'grade_id'``, and the student's whole submission scores 0.
Other shapes a student can produce stop nbgrader too: ``nbgrader`` metadata
that is not a dict (``AttributeError`` in ``utils.is_grade``), has no
``grade_id`` (``KeyError`` in ``DeduplicateIds``), names a cell of another
notebook (``OverwriteCells`` deletes its grade_id, then the same ``KeyError``)
or lacks ``schema_version`` (``CheckCellMetadata`` raises ``SchemaTooOldError``,
which stops the autograde run for every student after this one).

The preprocessors here run in ``Autograde.sanitize_preprocessors``, one
transformation each; :func:`install` puts them in place:

* first: :class:`RepairNotebookFormat` (valid, unique cell ids; dict cell
  metadata), since nbconvert validates the notebook after every preprocessor;
* before ``DeduplicateIds``: :class:`CleanCellMetadata` (drop ``nbgrader``
  metadata that names no cell), :class:`ReconcileCellMetadata` (a known cell's
  metadata made valid from the gradebook; a grade_id unknown to it dropped),
  :class:`MergeSplitSolutionCells` (the pieces of a split solution cell that
  only work together become one cell again) and
  :class:`ResolveDuplicateGradeIds` (the last copy of a cell keeps its grade_id;
  an exact copy of a test cell is removed, any other copy becomes an ordinary
  ungraded cell), then :class:`MatchRebuiltCells` (in a notebook rebuilt in a
  fresh file, cells without ``nbgrader`` metadata recognised by their content
  as a missing solution or test cell get its metadata back).

``DeduplicateIds`` then finds nothing to do. Each step logs a short warning
naming the cell it changed and never raises on a student's metadata.

This module puts the repairs in place (:func:`install`, :func:`sanitize_steps`).
The repairs of metadata are in :mod:`softsign_grader.metadata_repairs`, those
that recognise cells by their content in :mod:`softsign_grader.cell_matching`,
and what both read of the gradebook in :mod:`softsign_grader.gradebook_cells`;
their public names are re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nbgrader.preprocessors import NbGraderPreprocessor

from softsign_grader.cell_matching import MatchRebuiltCells, MergeSplitSolutionCells
from softsign_grader.gradebook_cells import SourceCellInfo, source_cells
from softsign_grader.metadata_repairs import (
    CleanCellMetadata,
    ReconcileCellMetadata,
    RepairNotebookFormat,
    ResolveDuplicateGradeIds,
)

__all__ = [
    "REPAIRS_BEFORE_DEDUPLICATE_IDS",
    "REPAIRS_FIRST",
    "CleanCellMetadata",
    "MatchRebuiltCells",
    "MergeSplitSolutionCells",
    "ReconcileCellMetadata",
    "RepairNotebookFormat",
    "ResolveDuplicateGradeIds",
    "SourceCellInfo",
    "install",
    "sanitize_steps",
    "source_cells",
]


#: Inserted first (nbconvert validates the notebook after every preprocessor).
REPAIRS_FIRST: tuple[type[NbGraderPreprocessor], ...] = (RepairNotebookFormat,)
#: Inserted before ``DeduplicateIds``, in this order.
REPAIRS_BEFORE_DEDUPLICATE_IDS: tuple[type[NbGraderPreprocessor], ...] = (
    CleanCellMetadata,
    ReconcileCellMetadata,
    MergeSplitSolutionCells,
    ResolveDuplicateGradeIds,
    MatchRebuiltCells,
)


def _step_name(step: Any) -> str:
    """The class name of a preprocessor given as a class, an instance or a dotted name."""
    if isinstance(step, str):
        return step.rsplit(".", 1)[-1]
    if isinstance(step, type):
        return step.__name__
    return type(step).__name__


def sanitize_steps(steps: Sequence[Any]) -> list[Any]:
    """Return ``steps`` (a sanitize preprocessor list) with the repairs inserted.

    :data:`REPAIRS_FIRST` go first, :data:`REPAIRS_BEFORE_DEDUPLICATE_IDS`
    before ``DeduplicateIds`` (or before ``OverwriteCells``, or last). A repair
    already in ``steps`` is not added again.

    Examples
    --------
    >>> from nbgrader.converters import Autograde
    >>> default = Autograde.class_traits()["sanitize_preprocessors"].default()
    >>> [step.__name__ for step in sanitize_steps(default)]  # doctest: +NORMALIZE_WHITESPACE
    ['RepairNotebookFormat', 'ClearOutput', 'CleanCellMetadata', 'ReconcileCellMetadata',
     'MergeSplitSolutionCells', 'ResolveDuplicateGradeIds', 'MatchRebuiltCells',
     'DeduplicateIds', 'OverwriteKernelspec', 'OverwriteCells', 'CheckCellMetadata']
    """
    result = list(steps)
    present = {_step_name(step) for step in result}

    def insert(repairs: Sequence[type], anchors: Sequence[str], default: int) -> None:
        names = [_step_name(step) for step in result]
        at = next((names.index(name) for name in anchors if name in names), default)
        missing = [repair for repair in repairs if repair.__name__ not in present]
        result[at:at] = missing

    insert(REPAIRS_FIRST, [], 0)
    insert(REPAIRS_BEFORE_DEDUPLICATE_IDS, ["DeduplicateIds", "OverwriteCells"], len(result))
    return result


def install(config: Any) -> None:
    """Insert the repairs into ``Autograde.sanitize_preprocessors`` of an nbgrader config.

    Call it from ``nbgrader_config.py`` as ``install(c)``. The list it edits is
    the one already configured in ``config``, if any, else nbgrader's default
    (ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells,
    CheckCellMetadata); see :func:`sanitize_steps` for where the repairs go.

    Parameters
    ----------
    config : traitlets.config.Config
        The ``c = get_config()`` object of an nbgrader config file.
    """
    from nbgrader.converters import Autograde

    section = config.Autograde
    if "sanitize_preprocessors" in section:
        steps = list(section.sanitize_preprocessors)
    else:
        steps = list(Autograde.class_traits()["sanitize_preprocessors"].default())
    section.sanitize_preprocessors = sanitize_steps(steps)
