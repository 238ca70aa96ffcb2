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
"""

from __future__ import annotations

import ast
import math
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from IPython.core.inputtransformer2 import TransformerManager
from nbconvert.exporters.exporter import ResourcesDict
from nbformat import from_dict
from nbformat.corpus.words import generate_corpus_id
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor

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

#: nbgrader's schema (v3) allows these characters in a grade_id; nbgrader also
#: rejects the empty string.
_GRADE_ID = re.compile(r"^[a-zA-Z0-9_\-]+$")
#: nbformat 4.5 cell ids.
_CELL_ID = re.compile(r"^[a-zA-Z0-9_\-]{1,64}$")
#: The nbgrader metadata schema this nbgrader writes and validates.
_SCHEMA_VERSION = 3
#: At most this many consecutive pieces of one solution cell are tried as one cell.
_MAX_PIECES = 16


def _describe(cell: Any, index: int) -> str:
    """Name a cell in a log message: its position (1-based), id and grade_id."""
    parts = [f"cell {index + 1}"]
    cell_id = cell.get("id") if isinstance(cell, dict) else None
    if isinstance(cell_id, str):
        parts.append(f"id {cell_id!r}")
    grade_id = _grade_id(cell)
    if grade_id is not None:
        parts.append(f"grade_id {grade_id!r}")
    return f"{parts[0]} ({', '.join(parts[1:])})" if len(parts) > 1 else parts[0]


def _nbgrader(cell: Any) -> dict[str, Any] | None:
    """Return the cell's ``nbgrader`` metadata if it is a dict with a usable grade_id."""
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    if not isinstance(meta, dict):
        return None
    grade_id = meta.get("grade_id")
    if not isinstance(grade_id, str) or not _GRADE_ID.match(grade_id):
        return None
    return meta


def _grade_id(cell: Any) -> str | None:
    """Return the cell's grade_id, or None if its nbgrader metadata names no cell."""
    meta = _nbgrader(cell)
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


class CleanCellMetadata(NbGraderPreprocessor):
    """Remove ``nbgrader`` metadata that names no cell.

    That is a value that is not a dict, an empty dict (what ``DeduplicateIds``
    leaves behind), or a dict without a valid string ``grade_id``. The cell
    becomes an ordinary cell, as if it had no nbgrader metadata, which is all
    nbgrader could make of it.
    """

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, cell_index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        """Drop the cell's ``nbgrader`` metadata if it names no cell."""
        metadata = cell.get("metadata")
        if not isinstance(metadata, dict):
            return cell, resources
        if "nbgrader" not in metadata or _nbgrader(cell) is not None:
            return cell, resources
        meta = metadata["nbgrader"]
        if not isinstance(meta, dict):
            problem = f"is a {type(meta).__name__}, not a dict"
        elif not meta:
            problem = "is empty"
        elif "grade_id" not in meta:
            problem = "has no grade_id"
        else:
            problem = f"has an invalid grade_id {meta['grade_id']!r}"
        del metadata["nbgrader"]
        self.log.warning(
            "%s: nbgrader metadata %s; graded as an ordinary cell",
            _describe(cell, cell_index),
            problem,
        )
        return cell, resources


class RepairNotebookFormat(NbGraderPreprocessor):
    """Make the cells valid nbformat where a student's edits can break it: ids and metadata.

    Every cell gets a valid cell id (nbformat 4.5 and later) that no other cell
    has: the first cell with an id keeps it, a later duplicate, a missing id or
    an invalid one is replaced by a fresh random id. A cell whose ``metadata``
    is not a dict gets an empty one. This must be the first sanitize step:
    nbconvert validates the notebook after every preprocessor, so an invalid
    cell stops the submission after the first one. (nbformat already repairs
    duplicate and missing ids, with a ``DuplicateCellId`` warning, when it
    reads a notebook and again before the preprocessors run; not invalid ones.)
    """

    def preprocess(
        self, nb: NotebookNode, resources: ResourcesDict
    ) -> tuple[NotebookNode, ResourcesDict]:
        """Replace non-dict cell metadata and duplicate, missing and invalid cell ids."""
        cells = [cell for cell in nb.get("cells", []) if isinstance(cell, dict)]
        for index, cell in enumerate(cells):
            if not isinstance(cell.get("metadata"), dict):
                self.log.warning(
                    "%s: cell metadata is not a dict; replaced by {}", _describe(cell, index)
                )
                cell["metadata"] = NotebookNode()
        major, minor = nb.get("nbformat"), nb.get("nbformat_minor")
        if not (isinstance(major, int) and isinstance(minor, int) and (major, minor) >= (4, 5)):
            return nb, resources
        taken = {cell.get("id") for cell in cells if isinstance(cell.get("id"), str)}
        seen: set[str] = set()
        for index, cell in enumerate(cells):
            cell_id = cell.get("id")
            if isinstance(cell_id, str) and _CELL_ID.match(cell_id) and cell_id not in seen:
                seen.add(cell_id)
                continue
            reason = (
                "missing" if cell_id is None else "a duplicate" if cell_id in seen else "invalid"
            )
            new_id = generate_corpus_id()
            while new_id in taken:
                new_id = generate_corpus_id()
            taken.add(new_id)
            seen.add(new_id)
            self.log.warning(
                "%s: cell id %s; replaced by %r", _describe(cell, index), reason, new_id
            )
            cell["id"] = new_id
        return nb, resources


class ReconcileCellMetadata(NbGraderPreprocessor):
    """Make the ``nbgrader`` metadata of every cell agree with the gradebook.

    A grade_id that is not a cell of this notebook in the gradebook (a cell
    pasted from another notebook, a made-up id) is dropped: ``OverwriteCells``
    would delete it and then fail on the cell. For a known grade_id, the
    cell's role (``grade``, ``solution``, ``task``), ``schema_version``,
    ``cell_type`` and ``checksum`` are set from the gradebook and unknown keys
    are removed, so that ``CheckCellMetadata`` accepts the cell and
    ``OverwriteCells`` restores it as the cell it is. ``locked`` and ``points``
    are kept when they have the right type, so that ``OverwriteCells`` still
    reports a change to them (and restores them).
    """

    def preprocess(
        self, nb: NotebookNode, resources: ResourcesDict
    ) -> tuple[NotebookNode, ResourcesDict]:
        """Drop unknown grade_ids; make known cells' metadata valid."""
        known = source_cells(resources)
        if known is None:
            self.log.warning("No gradebook entry for this notebook; nbgrader metadata not checked")
            return nb, resources
        for index, cell in enumerate(nb.cells):
            meta = _nbgrader(cell)
            if meta is None:
                continue
            source = known.get(meta["grade_id"])
            if source is None:
                self.log.warning(
                    "%s: grade_id is not a cell of this notebook (pasted from another "
                    "notebook?); graded as an ordinary cell",
                    _describe(cell, index),
                )
                del cell.metadata["nbgrader"]
                continue
            fixed = _reconciled(meta, source)
            changed = sorted(key for key in set(meta) | set(fixed) if _differs(meta, fixed, key))
            if changed:
                self.log.warning(
                    "%s: nbgrader metadata %s set from the gradebook",
                    _describe(cell, index),
                    ", ".join(changed),
                )
                cell.metadata["nbgrader"] = from_dict(fixed)
        return nb, resources


def _usable_points(value: Any) -> bool:
    """Whether ``value`` is points OverwriteCells can compare: a finite number >= 0, not a bool."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value)) and value >= 0
    except OverflowError:  # an int too large for a float
        return False


def _differs(old: dict[str, Any], new: dict[str, Any], key: str) -> bool:
    if (key in old) != (key in new):
        return True
    a, b = old.get(key), new.get(key)
    return type(a) is not type(b) or a != b


def _reconciled(meta: dict[str, Any], source: SourceCellInfo) -> dict[str, Any]:
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


@dataclass(frozen=True)
class _Piece:
    """One code cell of a run of consecutive copies of the same solution cell."""

    index: int
    source: str


_TRANSFORMER = TransformerManager()


def _compiles(source: str) -> bool:
    """Whether IPython would compile ``source`` (magics and top-level await allowed)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            code = _TRANSFORMER.transform_cell(source)
            compile(code, "<cell>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    except Exception:  # any failure means "does not compile"
        return False
    return True


def _stands_alone(source: str) -> bool:
    """Whether a piece is a cell of its own: not indented, and it compiles."""
    first = next((line for line in source.splitlines() if line.strip()), "")
    return not first[:1].isspace() and _compiles(source)


def _joined(pieces: Sequence[_Piece]) -> str | None:
    """Join pieces as they were before a split (JupyterLab strips the newlines there)."""
    for glue in ("\n", ""):
        source = glue.join(piece.source for piece in pieces)
        if _compiles(source):
            return source
    return None


def _merge_groups(pieces: Sequence[_Piece]) -> list[tuple[list[_Piece], str]]:
    """Find the groups of consecutive pieces that only compile together.

    From each piece, the group grows while it does not compile on its own or
    the next piece is a continuation (indented, or not compiling alone); the
    longest prefix of it that compiles is merged. Pieces that compile alone
    stay cells of their own, as the student ran them.
    """
    groups = []
    start = 0
    while start < len(pieces):
        end = start
        while (
            end + 1 < len(pieces)
            and end + 1 - start < _MAX_PIECES
            and (
                _joined(pieces[start : end + 1]) is None
                or not _stands_alone(pieces[end + 1].source)
            )
        ):
            end += 1
        for last in range(end, start, -1):
            source = _joined(pieces[start : last + 1])
            if source is not None:
                groups.append((list(pieces[start : last + 1]), source))
                start = last + 1
                break
        else:
            start += 1
    return groups


class MergeSplitSolutionCells(NbGraderPreprocessor):
    """Put the pieces of a split solution cell back together when they only work together.

    Splitting a code cell in JupyterLab gives each piece the cell's metadata,
    so consecutive code cells with the same solution grade_id are pieces of
    one cell (or pasted copies). When a piece cannot run on its own (say the
    ``def`` line and docstring in one piece, the indented body in the next),
    the pieces are joined into one cell, as the student wrote it. Pieces that
    run on their own (a helper function, then the graded function) are left
    as they are: running them in order is what the student did.
    """

    def preprocess(
        self, nb: NotebookNode, resources: ResourcesDict
    ) -> tuple[NotebookNode, ResourcesDict]:
        """Merge the pieces of split solution cells that only compile together."""
        removed: set[int] = set()
        for run in self._runs(nb.cells):
            pieces = [_Piece(index, nb.cells[index].source) for index in run]
            for group, source in _merge_groups(pieces):
                first = nb.cells[group[0].index]
                self.log.warning(
                    "%s: merged with the next %d cell(s), the pieces of a split solution cell",
                    _describe(first, group[0].index),
                    len(group) - 1,
                )
                first.source = source
                removed.update(piece.index for piece in group[1:])
        if removed:
            nb.cells = [cell for index, cell in enumerate(nb.cells) if index not in removed]
        return nb, resources

    @staticmethod
    def _runs(cells: Sequence[NotebookNode]) -> Iterable[list[int]]:
        """Yield runs (of two or more) of consecutive code solution cells with one grade_id."""
        run: list[int] = []
        run_id = None
        for index, cell in enumerate([*cells, None]):
            grade_id = _grade_id(cell) if cell is not None else None
            piece = (
                cell is not None
                and grade_id is not None
                and cell.get("cell_type") == "code"
                and isinstance(cell.get("source"), str)
                and utils.is_solution(cell)
            )
            if piece and grade_id == run_id:
                run.append(index)
                continue
            if len(run) > 1:
                yield run
            run, run_id = ([index], grade_id) if piece else ([], None)


class ResolveDuplicateGradeIds(NbGraderPreprocessor):
    """Leave each grade_id on exactly one cell: the last one, as ``DeduplicateIds`` does.

    The last copy keeps the grade_id, so it is the cell ``OverwriteCells``
    restores and ``SaveAutoGrades`` scores. An earlier copy of a locked test
    cell whose source is the test itself (what pasting a test cell gives) is
    removed, so that the test neither runs in an ungraded cell nor appears
    twice in the feedback; any other earlier copy becomes an ordinary,
    ungraded cell (its ``nbgrader`` metadata is removed) and runs as written.
    """

    def preprocess(
        self, nb: NotebookNode, resources: ResourcesDict
    ) -> tuple[NotebookNode, ResourcesDict]:
        """Remove the grade_id from every copy of a cell but the last."""
        known = source_cells(resources) or {}
        copies: dict[str, list[int]] = {}
        for index, cell in enumerate(nb.cells):
            grade_id = _grade_id(cell)
            if grade_id is not None:
                copies.setdefault(grade_id, []).append(index)
        removed: set[int] = set()
        for grade_id, indices in copies.items():
            source = known.get(grade_id)
            for index in indices[:-1]:
                cell = nb.cells[index]
                if source is not None and self._is_copy_of_test(cell, source):
                    self.log.warning(
                        "%s: a copy of test cell %r; removed (cell %d is graded)",
                        _describe(cell, index),
                        grade_id,
                        indices[-1] + 1,
                    )
                    removed.add(index)
                else:
                    self.log.warning(
                        "%s: another copy of %r; ungraded (cell %d keeps the grade_id)",
                        _describe(cell, index),
                        grade_id,
                        indices[-1] + 1,
                    )
                    del cell.metadata["nbgrader"]
        if removed:
            nb.cells = [cell for index, cell in enumerate(nb.cells) if index not in removed]
        return nb, resources

    def _is_copy_of_test(self, cell: NotebookNode, source: SourceCellInfo) -> bool:
        """Whether ``cell`` is a locked test cell's source, as released or as in the gradebook."""
        if not (source.grade and source.locked) or not isinstance(cell.get("source"), str):
            return False
        return _normalized(cell.source) in _test_sources(self, source.source)


def _normalized(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def _test_sources(step: NbGraderPreprocessor, source: str) -> set[str]:
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
    return {_normalized(source), _normalized("\n".join(kept))}


def _defined_functions(source: str) -> set[str]:
    """Names of the functions ``source`` defines at its top level (``def NAME(`` at column 0)."""
    return set(_TOP_LEVEL_DEF.findall(source))


#: ``def NAME(`` (or ``async def``) at the start of a line: a function of the cell's top level.
_TOP_LEVEL_DEF = re.compile(r"^(?:async[ \t]+)?def[ \t]+([A-Za-z_]\w*)[ \t]*\(", re.MULTILINE)


class MatchRebuiltCells(NbGraderPreprocessor):
    """Recognise, by their content, the graded cells of a notebook rebuilt in a fresh file.

    A student who copies their work into a new notebook (or types it again)
    loses every cell's ``nbgrader`` metadata; ``OverwriteCells`` with
    ``add_missing_cells`` then raises ``KeyError`` in ``add_missing_grade_cells``
    and the whole submission is lost. For each solution and test code cell of
    the gradebook that no cell of the notebook names, the last code cell
    without ``nbgrader`` metadata that is recognisably that cell gets the
    release's metadata back (grade_id, points, solution and grade flags,
    ``schema_version``), so that ``OverwriteCells`` and the grading treat it
    as the original:

    * a test cell: its source, up to trailing whitespace, is the release's
      test (hidden tests removed) or the gradebook's;
    * a solution cell: it defines (``def NAME(`` at its top level) every
      function that the release's solution cell defines.

    A cell that matches nothing stays an ordinary cell. Runs after
    :class:`ResolveDuplicateGradeIds`, so that only grade_ids that are really
    missing are looked for.
    """

    def preprocess(
        self, nb: NotebookNode, resources: ResourcesDict
    ) -> tuple[NotebookNode, ResourcesDict]:
        """Give matching ordinary code cells the metadata of missing solution and test cells."""
        known = source_cells(resources)
        if not known:
            return nb, resources
        present = {grade_id for cell in nb.cells if (grade_id := _grade_id(cell)) is not None}
        free = [
            index
            for index, cell in enumerate(nb.cells)
            if cell.get("cell_type") == "code"
            and isinstance(cell.get("source"), str)
            and isinstance(cell.get("metadata"), dict)
            and "nbgrader" not in cell.metadata
        ]
        missing = [
            source
            for source in known.values()
            if source.grade_id not in present and source.cell_type == "code"
        ]
        # Tests first: their match is exact, so a solution's match cannot take a test cell.
        tests = [source for source in missing if source.grade and not source.solution]
        solutions = [source for source in missing if source.solution]
        for source in [*tests, *solutions]:
            index = self._match(nb, free, source)
            if index is None:
                continue
            free.remove(index)
            self.log.warning(
                "%s: no nbgrader metadata, but it is %s %r by its content (a notebook "
                "rebuilt in a new file?); graded as that cell",
                _describe(nb.cells[index], index),
                "solution cell" if source.solution else "test cell",
                source.grade_id,
            )
            nb.cells[index].metadata["nbgrader"] = from_dict(_reconciled({}, source))
        return nb, resources

    def _match(self, nb: NotebookNode, free: list[int], source: SourceCellInfo) -> int | None:
        """The last free cell that is recognisably ``source``, if any."""
        if source.solution:
            names = _defined_functions(source.source)
            if not names:
                return None
            found = [i for i in free if names <= _defined_functions(nb.cells[i].source)]
        else:
            tests = _test_sources(self, source.source)
            found = [i for i in free if _normalized(nb.cells[i].source) in tests]
        return found[-1] if found else None


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
