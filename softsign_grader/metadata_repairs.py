"""Repairs of nbgrader cell metadata that a student's edits broke, each one preprocessor.

:class:`RepairNotebookFormat` gives every cell a valid, unique cell id and
dict metadata; :class:`CleanCellMetadata` drops ``nbgrader`` metadata that
names no cell; :class:`ReconcileCellMetadata` makes a known cell's metadata
valid from the gradebook and drops a grade_id unknown to it;
:class:`ResolveDuplicateGradeIds` leaves each grade_id on one cell. Where
they go among nbgrader's sanitize steps is :mod:`softsign_grader.repair`.
"""

from __future__ import annotations

import re
from typing import Any

from nbconvert.exporters.exporter import ResourcesDict
from nbformat import from_dict
from nbformat.corpus.words import generate_corpus_id
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor

from softsign_grader.gradebook_cells import (
    SourceCellInfo,
    describe_cell,
    grade_id_of,
    known_test_sources,
    nbgrader_metadata,
    normalized_source,
    reconciled_metadata,
    source_cells,
)

__all__ = [
    "CleanCellMetadata",
    "ReconcileCellMetadata",
    "RepairNotebookFormat",
    "ResolveDuplicateGradeIds",
]

#: nbformat 4.5 cell ids.
_CELL_ID = re.compile(r"^[a-zA-Z0-9_\-]{1,64}$")


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
                    "%s: cell metadata is not a dict; replaced by {}", describe_cell(cell, index)
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
                "%s: cell id %s; replaced by %r", describe_cell(cell, index), reason, new_id
            )
            cell["id"] = new_id
        return nb, resources


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
        if "nbgrader" not in metadata or nbgrader_metadata(cell) is not None:
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
            describe_cell(cell, cell_index),
            problem,
        )
        return cell, resources


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
            meta = nbgrader_metadata(cell)
            if meta is None:
                continue
            source = known.get(meta["grade_id"])
            if source is None:
                self.log.warning(
                    "%s: grade_id is not a cell of this notebook (pasted from another "
                    "notebook?); graded as an ordinary cell",
                    describe_cell(cell, index),
                )
                del cell.metadata["nbgrader"]
                continue
            fixed = reconciled_metadata(meta, source)
            changed = sorted(key for key in set(meta) | set(fixed) if _differs(meta, fixed, key))
            if changed:
                self.log.warning(
                    "%s: nbgrader metadata %s set from the gradebook",
                    describe_cell(cell, index),
                    ", ".join(changed),
                )
                cell.metadata["nbgrader"] = from_dict(fixed)
        return nb, resources


def _differs(old: dict[str, Any], new: dict[str, Any], key: str) -> bool:
    if (key in old) != (key in new):
        return True
    a, b = old.get(key), new.get(key)
    return type(a) is not type(b) or a != b


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
            grade_id = grade_id_of(cell)
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
                        describe_cell(cell, index),
                        grade_id,
                        indices[-1] + 1,
                    )
                    removed.add(index)
                else:
                    self.log.warning(
                        "%s: another copy of %r; ungraded (cell %d keeps the grade_id)",
                        describe_cell(cell, index),
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
        return normalized_source(cell.source) in known_test_sources(self, source.source)
