"""Graded cells recognised by their content: split solution cells, rebuilt notebooks.

Two repairs that read a cell's code rather than its metadata, each one
preprocessor: :class:`MergeSplitSolutionCells` joins the pieces of a split
solution cell that only compile together, and :class:`MatchRebuiltCells`
gives the cells of a notebook rebuilt in a fresh file the metadata of the
graded cells they recognisably are. Where they go among nbgrader's sanitize
steps is :mod:`softsign_grader.repair`.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from IPython.core.inputtransformer2 import TransformerManager
from nbconvert.exporters.exporter import ResourcesDict
from nbformat import from_dict
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor

from softsign_grader.gradebook_cells import (
    SourceCellInfo,
    describe_cell,
    grade_id_of,
    known_test_sources,
    normalized_source,
    reconciled_metadata,
    source_cells,
)

__all__ = ["MatchRebuiltCells", "MergeSplitSolutionCells"]

#: At most this many consecutive pieces of one solution cell are tried as one cell.
_MAX_PIECES = 16


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
                    describe_cell(first, group[0].index),
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
            grade_id = grade_id_of(cell) if cell is not None else None
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
        present = {grade_id for cell in nb.cells if (grade_id := grade_id_of(cell)) is not None}
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
                describe_cell(nb.cells[index], index),
                "solution cell" if source.solution else "test cell",
                source.grade_id,
            )
            nb.cells[index].metadata["nbgrader"] = from_dict(reconciled_metadata({}, source))
        return nb, resources

    def _match(self, nb: NotebookNode, free: list[int], source: SourceCellInfo) -> int | None:
        """The last free cell that is recognisably ``source``, if any."""
        if source.solution:
            names = _defined_functions(source.source)
            if not names:
                return None
            found = [i for i in free if names <= _defined_functions(nb.cells[i].source)]
        else:
            tests = known_test_sources(self, source.source)
            found = [i for i in free if normalized_source(nb.cells[i].source) in tests]
        return found[-1] if found else None
