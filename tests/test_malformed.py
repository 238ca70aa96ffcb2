"""Every malformed file costs only itself: ``TolerantNotebookExporter`` and ``MatchRebuiltCells``.

A submitted notebook that nbgrader cannot read, validate or sanitize (JSON nested
too deeply, null or wrong-typed fields, a folder named like a notebook, cells
without metadata, ...) is graded as the unanswered release copy with a notice
first, so that the student's other notebooks are still graded; a notebook rebuilt
by the student in a fresh file (no ``nbgrader`` metadata) is matched to the
release's cells by content and graded.

- in-process and fast: the exporter is driven the way ``nbgrader autograde``
  drives it in its sanitize pass (an ``Autograde`` converter as its parent, the
  course's sanitize steps registered), on notebooks mutated by hypothesis over
  their JSON structure, on files that are not regular files, and on a notebook
  rebuilt in a fresh file;
- one real ``nbgrader autograde`` run (``slow``, in the grading sandbox, with the
  course's own ``nbgrader_config.py``) of one student whose submission mixes a
  correct notebook, a rebuilt one and three malformed ones.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import stat
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import NBGRADER_ENV, copy_released
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nbformat import NotebookNode
from test_repair import _SOLUTION_MARKERS, _logs_by_student, _scores

from softsign_grader.course import ASSIGNMENT, run_nbgrader
from softsign_grader.nbgrader_plugins import (
    MAX_JSON_DEPTH,
    SUBMISSION_NOTICE_KEY,
    UNREADABLE_KEY,
    read_submitted_notebook,
    register,
)
from softsign_grader.repair import MatchRebuiltCells, sanitize_steps
from softsign_grader.submission import (
    QUARANTINE_SUFFIX,
    Skipped,
    skipped_manifest,
    write_skipped_manifest,
)

NOTEBOOK = "01_softsign_definition"
#: The notebooks the slow test's student submits (06, not submitted, has no autograded cell).
NOTEBOOKS = [
    "01_softsign_definition",
    "02_derivative_of_abs",
    "03_quotient_rule_derivation",
    "04_softsign_vs_tanh",
    "05_softsign_in_deep_networks",
]
GRADE_IDS = {"setup_01", "softsign_solution", "test_softsign_values", "test_softsign_arrays"}
TESTS = {"test_softsign_values", "test_softsign_arrays"}


# --- the course and an in-process converter ----------------------------------------


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory, released_template: Path) -> Path:
    """The course (its own config: the grading plugins, the sandbox), released.

    A copy of the session's release (conftest.py); 06 has no autograded cell and is not
    submitted here.
    """
    return copy_released(released_template, tmp_path_factory.mktemp("malformed") / "course")


def _solved(course: Path, name: str = NOTEBOOK) -> NotebookNode:
    """Notebook ``name`` as released, its solution cells filled in from the instructor's."""
    released = nbformat.read(course / "notebooks" / ASSIGNMENT / f"{name}.ipynb", as_version=4)
    instructor = nbformat.read(course / "solutions" / ASSIGNMENT / f"{name}.ipynb", as_version=4)
    solutions = {cell.id: cell.source for cell in instructor.cells if "nbgrader" in cell.metadata}
    for cell in released.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = _SOLUTION_MARKERS.sub("", solutions[cell.id])
    return released


def _rebuilt(nb: NotebookNode) -> NotebookNode:
    """``nb`` as a student rebuilds it in a fresh file: same sources, no nbgrader metadata."""
    fresh = nbformat.v4.new_notebook(metadata=copy.deepcopy(nb.metadata))
    for cell in nb.cells:
        if cell.cell_type == "code":
            fresh.cells.append(nbformat.v4.new_code_cell(cell.source))
        else:
            fresh.cells.append(nbformat.v4.new_markdown_cell(cell.source))
    return fresh


class Sanitizer:
    """``TolerantNotebookExporter`` with an ``Autograde`` parent in its sanitize pass."""

    def __init__(self, course: Path) -> None:
        from nbgrader.converters import Autograde
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config import Config

        config = Config()
        config.CourseDirectory.root = str(course)
        config.CourseDirectory.course_id = "softsign"
        config.CourseDirectory.source_directory = "solutions"
        config.CourseDirectory.release_directory = "notebooks"
        config.OverwriteCells.add_missing_cells = True
        register(config)
        self.converter = Autograde(coursedir=CourseDirectory(config=config), config=config)
        self.converter.exporter = self.converter.exporter_class(
            parent=self.converter, config=self.converter.config
        )
        self.converter._sanitizing = True
        self.converter._init_preprocessors()
        self.folder = course / "submitted" / "prop" / ASSIGNMENT
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / f"{NOTEBOOK}.ipynb"

    def put(self, content: bytes | Callable[[Path], None]) -> None:
        """Make the submitted file: these bytes, or whatever ``content(path)`` makes."""
        if self.path.is_dir() and not self.path.is_symlink():
            shutil.rmtree(self.path)
        elif self.path.exists() or self.path.is_symlink():
            self.path.unlink()
        if isinstance(content, bytes):
            self.path.write_bytes(content)
        else:
            content(self.path)

    def sanitize(self) -> NotebookNode:
        """Run the exporter on the submitted file as nbgrader's sanitize pass does."""
        resources = self.converter.init_single_notebook_resources(str(self.path))
        with warnings.catch_warnings():  # nbformat's warnings are not errors in nbgrader
            warnings.simplefilter("ignore")
            output, _ = self.converter.exporter.from_filename(str(self.path), resources=resources)
            notebook = nbformat.reads(output, as_version=4)
            nbformat.validate(notebook, relax_add_props=True)  # as nbconvert validates
        return notebook


@pytest.fixture(scope="module")
def sanitizer(course: Path) -> Sanitizer:
    return Sanitizer(course)


def _grade_ids(nb: NotebookNode) -> list[str]:
    return [
        cell.metadata["nbgrader"]["grade_id"] for cell in nb.cells if "nbgrader" in cell.metadata
    ]


def _released_with_notice(course: Path, nb: NotebookNode) -> bool:
    """Whether ``nb`` is the release copy of notebook 01 with the unreadable notice first.

    (Sanitized: nbgrader put the hidden tests back into its test cells.)
    """
    if not nb.cells or UNREADABLE_KEY not in nb.cells[0].metadata:
        return False
    released = nbformat.read(course / "notebooks" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    solution = next(cell for cell in released.cells if "def softsign(" in cell.source)
    return [cell.id for cell in nb.cells[1:]] == [cell.id for cell in released.cells] and any(
        cell.source == solution.source for cell in nb.cells
    )


def _graded(nb: NotebookNode) -> bool:
    """Whether ``nb`` is ready to grade: each of the notebook's test cells once, no notice."""
    ids = _grade_ids(nb)
    return (
        not any(UNREADABLE_KEY in cell.metadata for cell in nb.cells)
        and TESTS <= set(ids) <= GRADE_IDS
        and len(ids) == len(set(ids))
    )


# --- hypothesis: malformed notebooks over the JSON structure -----------------------

ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path (keys and indices) to a value inside JSON ``value``, the root excluded."""
    children: Any = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else []
    )
    for key, child in children:
        yield (*prefix, key)
        yield from _paths(child, (*prefix, key))


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        doc = doc[key]
    return doc


@st.composite
def mutations(draw: st.DrawFn, solved: dict[str, Any]) -> bytes:
    """The solved notebook 01 as JSON, with one to three random mutations, as bytes."""
    doc = copy.deepcopy(solved)
    deep: list[tuple[int, Any]] = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(
            st.sampled_from(["replace", "delete", "field", "nest", "duplicate_ids", "reorder"])
        )
        if kind in ("replace", "delete", "nest"):
            paths = list(_paths(doc))
            if not paths:
                continue
            path = draw(st.sampled_from(paths))
            parent, key = _parent(doc, path), path[-1]
            if kind == "replace":
                parent[key] = draw(ODD)
            elif kind == "delete":
                del parent[key]
            else:  # written into the JSON text below (json.dumps would recurse too deeply)
                depth = draw(st.sampled_from([2, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 5_000]))
                deep.append((depth, parent[key]))
                parent[key] = f"@@DEEP{len(deep) - 1}@@"
        elif kind == "field" and isinstance(doc, dict) and isinstance(doc.get("cells"), list):
            field = draw(st.sampled_from(["cells", "metadata", "nbformat", "nbformat_minor"]))
            if field == "cells" or not doc["cells"]:
                doc[field] = draw(ODD)
                continue
            cell = draw(st.sampled_from(doc["cells"]))
            if isinstance(cell, dict):
                name = draw(
                    st.sampled_from(
                        ["source", "metadata", "outputs", "cell_type", "id", "nbgrader"]
                    )
                )
                if name == "nbgrader" and isinstance(cell.get("metadata"), dict):
                    cell["metadata"]["nbgrader"] = draw(ODD)
                else:
                    cell[name] = draw(ODD)
        elif (
            kind == "duplicate_ids" and isinstance(doc, dict) and isinstance(doc.get("cells"), list)
        ):
            cells = [cell for cell in doc["cells"] if isinstance(cell, dict)]
            if cells:
                same = draw(st.sampled_from(cells)).get("id")
                for cell in draw(st.lists(st.sampled_from(cells), max_size=4)):
                    cell["id"] = same
        elif kind == "reorder" and isinstance(doc, dict) and isinstance(doc.get("cells"), list):
            doc["cells"] = draw(st.permutations(doc["cells"]))
    text = json.dumps(doc, indent=1)
    for number, (depth, value) in reversed(list(enumerate(deep))):
        nested = "[" * depth + json.dumps(value) + "]" * depth
        text = text.replace(json.dumps(f"@@DEEP{number}@@"), nested)
    data = text.encode()
    if draw(st.integers(0, 9)) == 0:  # a truncated upload
        data = data[: draw(st.integers(0, len(data) - 1))]
    return data


@pytest.fixture(scope="module")
def solved_json(course: Path) -> dict[str, Any]:
    return json.loads(nbformat.writes(_solved(course)))


@pytest.mark.filterwarnings("ignore")
def test_no_malformed_notebook_stops_the_sanitize_pass(
    sanitizer: Sanitizer, course: Path, solved_json: dict[str, Any]
):
    """Whatever a notebook's JSON holds, it is graded, or replaced by the release copy."""
    outcomes: dict[str, int] = {"graded": 0, "released": 0}

    # 100 examples (hypothesis's default) in the full run, fewer in the fast lane (conftest.py).
    @settings(
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(mutations(solved_json))
    def check(data: bytes) -> None:
        sanitizer.put(data)
        nb = sanitizer.sanitize()  # never raises
        if _released_with_notice(course, nb):
            outcomes["released"] += 1
        else:
            assert _graded(nb), [cell.source[:80] for cell in nb.cells[:3]]
            outcomes["graded"] += 1

    check()
    assert outcomes["released"], outcomes
    assert outcomes["graded"], outcomes


def _nested(nb: dict[str, Any], depth: int) -> str:
    """``nb`` as JSON text, with a list nested ``depth`` deep in its metadata."""
    return json.dumps({**nb, "metadata": {"x": "@@"}}).replace('"@@"', "[" * depth + "]" * depth)


SHAPES: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "deep nesting": (
        lambda nb: _nested(nb, 100_000),
        "it is nested too deeply",
    ),
    "nesting under the recursion limit": (
        lambda nb: _nested(nb, 600),
        "it is nested too deeply",
    ),
    "null cells": (lambda nb: {**nb, "cells": None}, "its cells are not a list (they are null)"),
    "a list": (lambda nb: [nb], "it is a list, not a notebook"),
    "metadata a list": (lambda nb: {**nb, "metadata": []}, "its metadata is not an object"),
    "source a number": (
        lambda nb: {**nb, "cells": [{**nb["cells"][0], "source": 5}, *nb["cells"][1:]]},
        "the source of cell 1 is not text (it is a number)",
    ),
    "a cell without metadata": (
        lambda nb: {
            **nb,
            "cells": [{k: v for k, v in nb["cells"][0].items() if k != "metadata"}],
        },
        "cell 1 has no metadata",
    ),
    "outputs null": (
        lambda nb: {
            **nb,
            "cells": [
                {**cell, "outputs": None} if cell["cell_type"] == "code" else cell
                for cell in nb["cells"]
            ],
        },
        "the outputs of cell 3 are not a list (they are null)",
    ),
    "nbformat_minor text": (
        lambda nb: {**nb, "nbformat_minor": "5"},
        "its nbformat_minor version is missing or not a number",
    ),
    "no nbformat": (
        lambda nb: {k: v for k, v in nb.items() if k != "nbformat"},
        "its nbformat version is missing or not a number",
    ),
}


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_each_shape_is_graded_as_the_release_copy_with_a_plain_notice(
    sanitizer: Sanitizer, course: Path, solved_json: dict[str, Any], shape: str
):
    mutate, reason = SHAPES[shape]
    mutated = mutate(copy.deepcopy(solved_json))
    sanitizer.put((mutated if isinstance(mutated, str) else json.dumps(mutated)).encode())
    nb = sanitizer.sanitize()
    assert _released_with_notice(course, nb)
    assert reason in nb.cells[0].metadata[UNREADABLE_KEY]
    assert nb.cells[0].metadata[UNREADABLE_KEY].startswith("MalformedNotebook: ")


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _link(path: Path) -> None:
    target = path.with_name("elsewhere.ipynb")
    target.write_text("{}", encoding="utf-8")
    path.symlink_to(target)


FILES: dict[str, tuple[bytes | Callable[[Path], None], str]] = {
    "a folder": (lambda path: path.mkdir(), "it is a folder, not a file"),
    "a FIFO": (_fifo, "it is a FIFO (named pipe), not read"),
    "a symbolic link": (_link, "it is a symbolic link, not followed"),
    "not UTF-8": (b'{"cells": "\xff"}', "it is not UTF-8 text"),
    "empty": (b"", "NotJSONError"),
    "truncated": (b'{"cells": [', "NotJSONError"),
}


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("kind", sorted(FILES))
def test_a_file_that_is_not_a_notebook_is_graded_as_the_release_copy(
    sanitizer: Sanitizer, course: Path, kind: str, caplog: pytest.LogCaptureFixture
):
    content, reason = FILES[kind]
    sanitizer.put(content)
    nb = sanitizer.sanitize()
    assert _released_with_notice(course, nb)
    assert reason in nb.cells[0].metadata[UNREADABLE_KEY]
    errors = [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]
    assert any(str(sanitizer.path) in line and reason in line for line in errors), errors


@pytest.mark.filterwarnings("ignore")
def test_a_notebook_rebuilt_in_a_fresh_file_is_graded(sanitizer: Sanitizer, course: Path):
    solved = _solved(course)
    sanitizer.put(nbformat.writes(_rebuilt(solved)).encode())
    nb = sanitizer.sanitize()
    assert _graded(nb)
    by_id = {
        cell.metadata["nbgrader"]["grade_id"]: cell
        for cell in nb.cells
        if "nbgrader" in cell.metadata
    }
    assert set(by_id) == GRADE_IDS - {"setup_01"}  # the setup cell stays an ordinary cell
    original = {
        cell.metadata["nbgrader"]["grade_id"]: cell
        for cell in solved.cells
        if "nbgrader" in cell.metadata
    }
    assert by_id["softsign_solution"].source == original["softsign_solution"].source
    assert "def softsign(" in by_id["softsign_solution"].source
    for grade_id in TESTS:
        meta = by_id[grade_id].metadata["nbgrader"]
        assert meta["grade"]
        assert meta["locked"]
        assert meta["schema_version"] == 3
        assert meta["points"] == original[grade_id].metadata["nbgrader"]["points"]
    assert by_id["softsign_solution"].metadata["nbgrader"]["solution"] is True


@pytest.mark.filterwarnings("ignore")
def test_cells_that_match_nothing_stay_ordinary(sanitizer: Sanitizer, course: Path):
    """A renamed function is no solution cell; an edited test is no test cell (it is put back)."""
    fresh = _rebuilt(_solved(course))
    for cell in fresh.cells:
        cell.source = cell.source.replace("def softsign(", "def my_softsign(")
        cell.source = cell.source.replace('check_softsign(softsign, "arrays")', "pass")
    sanitizer.put(nbformat.writes(fresh).encode())
    nb = sanitizer.sanitize()
    assert _graded(nb)
    assert "softsign_solution" not in _grade_ids(nb)
    mine = [cell for cell in nb.cells if "def my_softsign(" in cell.source]
    assert len(mine) == 1
    assert "nbgrader" not in mine[0].metadata
    # nbgrader put back the test cell that matched nothing (OverwriteCells.add_missing_cells).
    assert _grade_ids(nb).count("test_softsign_arrays") == 1


def test_the_rebuilt_cell_match_runs_after_the_duplicates_are_resolved():
    from nbgrader.converters import Autograde

    names = [
        step.__name__
        for step in sanitize_steps(Autograde.class_traits()["sanitize_preprocessors"].default())
    ]
    at = names.index(MatchRebuiltCells.__name__)
    assert names[at - 1] == "ResolveDuplicateGradeIds"
    assert names[at + 1] == "DeduplicateIds"


@pytest.mark.filterwarnings("ignore")
def test_files_left_out_are_listed_at_the_top(sanitizer: Sanitizer, course: Path):
    skipped = [
        Skipped("a.txt", "a symbolic link, not followed"),
        Skipped("x`<b>y</b>\n.ipynb", "a FIFO (named pipe), not read"),
    ]
    write_skipped_manifest(sanitizer.folder, skipped)
    try:
        sanitizer.put(nbformat.writes(_solved(course)).encode())
        nb = sanitizer.sanitize()
        notice = nb.cells[0]
        assert notice.metadata[SUBMISSION_NOTICE_KEY] == [
            {"path": item.path, "reason": item.reason} for item in skipped
        ]
        assert notice.source.startswith(
            "**These files of your submission were not used:** `a.txt` (a symbolic link, not "
            "followed), "
        )
        assert "<b>" not in notice.source.replace("``x`<b>y</b>\\x0a.ipynb``", "")
        assert _graded(nb)

        sanitizer.put(b"{")  # an unreadable notebook: its notice first, then the list
        nb = sanitizer.sanitize()
        assert UNREADABLE_KEY in nb.cells[0].metadata
        assert SUBMISSION_NOTICE_KEY in nb.cells[1].metadata
    finally:
        write_skipped_manifest(sanitizer.folder, [])


@pytest.mark.filterwarnings("ignore")
def test_a_notice_in_a_notebook_without_cell_ids_has_none(sanitizer: Sanitizer, course: Path):
    """nbformat 4.4 has no cell ids: the notice cell must not bring one (it would be invalid)."""
    nb = json.loads(nbformat.writes(_solved(course)))
    nb["nbformat_minor"] = 4
    for cell in nb["cells"]:
        del cell["id"]
    write_skipped_manifest(sanitizer.folder, [Skipped("a.txt", "a device, not read")])
    try:
        sanitizer.put(json.dumps(nb).encode())
        out = sanitizer.sanitize()
    finally:
        write_skipped_manifest(sanitizer.folder, [])
    assert SUBMISSION_NOTICE_KEY in out.cells[0].metadata
    assert "id" not in out.cells[0]
    assert _graded(out)


@pytest.mark.filterwarnings("ignore")
def test_a_notice_written_by_the_student_is_not_kept(sanitizer: Sanitizer, course: Path):
    nb = _solved(course)
    nb.cells[0].metadata[UNREADABLE_KEY] = "forged"
    nb.cells[0].metadata[SUBMISSION_NOTICE_KEY] = []
    sanitizer.put(nbformat.writes(nb).encode())
    out = sanitizer.sanitize()
    assert not any(
        UNREADABLE_KEY in cell.metadata or SUBMISSION_NOTICE_KEY in cell.metadata
        for cell in out.cells
    )


def test_the_reader_refuses_deep_json_before_nbformat_reads_it(tmp_path: Path):
    path = tmp_path / "deep.ipynb"
    nested = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    path.write_text(
        f'{{"nbformat": 4, "nbformat_minor": 5, "metadata": {{"x": {nested}}}, "cells": []}}'
    )
    with pytest.raises(ValueError, match="nested too deeply"):
        read_submitted_notebook(path)


# --- one real autograde run --------------------------------------------------------

STUDENT = "mixed_bag"


def _write(folder: Path, name: str, text: str) -> None:
    (folder / f"{name}.ipynb").write_text(text, encoding="utf-8")


@pytest.mark.slow
def test_one_student_with_malformed_notebooks_is_graded_notebook_by_notebook(course: Path):
    """01 correct, 02 rebuilt in a fresh file (correct), 03 deep, 04 null cells, 05 a folder;
    a link and a FIFO beside them are moved aside unread."""
    folder = course / "submitted" / STUDENT / ASSIGNMENT
    folder.mkdir(parents=True)
    _write(folder, NOTEBOOKS[0], nbformat.writes(_solved(course, NOTEBOOKS[0])))
    _write(folder, NOTEBOOKS[1], nbformat.writes(_rebuilt(_solved(course, NOTEBOOKS[1]))))
    _write(
        folder,
        NOTEBOOKS[2],
        _nested(json.loads(nbformat.writes(_solved(course, NOTEBOOKS[2]))), 50_000),
    )
    null = json.loads(nbformat.writes(_solved(course, NOTEBOOKS[3])))
    null["cells"] = None
    _write(folder, NOTEBOOKS[3], json.dumps(null))
    (folder / f"{NOTEBOOKS[4]}.ipynb").mkdir()
    (folder / f"{NOTEBOOKS[4]}.ipynb" / "inside.txt").write_text("not a notebook")
    # A link to a peer's notebook and a FIFO: the course's pre_convert_hook moves both aside,
    # unread, before nbgrader copies the folder (its copy would follow the link and block on
    # the FIFO), and lists them in the manifest that the notices read.
    peer = course / "submitted" / "peer" / ASSIGNMENT / f"{NOTEBOOKS[0]}.ipynb"
    peer.parent.mkdir(parents=True)
    peer.write_text("PEER-SECRET", encoding="utf-8")
    (folder / "peer.ipynb").symlink_to(peer)
    os.mkfifo(folder / "pipe")

    result = run_nbgrader(
        ["autograde", ASSIGNMENT, f"--student={STUDENT}", "--force"],
        course,
        env=NBGRADER_ENV,
        check=False,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert "There was an error processing" not in log
    held = folder.with_name(f"{ASSIGNMENT}{QUARANTINE_SUFFIX}")
    assert (held / "peer.ipynb").is_symlink()
    assert stat.S_ISFIFO((held / "pipe").lstat().st_mode)
    assert not any((folder / name).exists() for name in ("peer.ipynb", "pipe"))
    assert {item.path for item in skipped_manifest(folder)} == {"peer.ipynb", "pipe"}
    assert "PEER-SECRET" not in "".join(
        path.read_text(errors="replace")
        for path in (course / "autograded" / STUDENT / ASSIGNMENT).iterdir()
        if path.is_file()
    )
    scores = _scores(course)[STUDENT]
    graded = {name: _grade_cells(course, name) for name in NOTEBOOKS}
    full = {grade_id: points for name in NOTEBOOKS[:2] for grade_id, points in graded[name].items()}
    assert {grade_id: scores[grade_id] for grade_id in full} == full
    for name in NOTEBOOKS[2:]:
        assert graded[name], name
        assert {grade_id: scores[grade_id] for grade_id in graded[name]} == dict.fromkeys(
            graded[name], 0.0
        ), name
    student_log = _logs_by_student(log)[STUDENT]
    for name, reason in [
        (NOTEBOOKS[2], "it is nested too deeply"),
        (NOTEBOOKS[3], "its cells are not a list"),
        (NOTEBOOKS[4], "it is a folder, not a file"),
    ]:
        assert re.search(
            rf"{name}\.ipynb is not a valid notebook \(MalformedNotebook: {reason}", student_log
        )
        autograded = nbformat.read(
            course / "autograded" / STUDENT / ASSIGNMENT / f"{name}.ipynb", 4
        )
        assert UNREADABLE_KEY in autograded.cells[0].metadata
        assert SUBMISSION_NOTICE_KEY in autograded.cells[1].metadata
    assert "rebuilt in a new file?" in student_log
    for name in NOTEBOOKS[:2]:
        autograded = nbformat.read(
            course / "autograded" / STUDENT / ASSIGNMENT / f"{name}.ipynb", 4
        )
        assert SUBMISSION_NOTICE_KEY in autograded.cells[0].metadata


def _grade_cells(course: Path, name: str) -> dict[str, float]:
    """``{grade_id: points}`` of the autograded (code) test cells of release notebook ``name``."""
    released = nbformat.read(course / "notebooks" / ASSIGNMENT / f"{name}.ipynb", as_version=4)
    return {
        cell.metadata["nbgrader"]["grade_id"]: float(cell.metadata["nbgrader"]["points"])
        for cell in released.cells
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")
    }
