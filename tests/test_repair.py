"""Pasted and split cells grade like the original: ``softsign_grader.repair`` with real nbgrader.

Every submission is notebook 01 as released, with the solution filled in from
the instructor notebook, then edited the way JupyterLab 4 edits a notebook:

* copy/paste copies the cell's JSON (metadata, ``nbgrader`` included) without
  ``deletable``, and the pasted cell gets a new cell id;
* split gives every piece the cell's type and metadata and a new id, and strips
  the newlines at each split point.

The course copy gets its own ``nbgrader_config.py`` (the stock nbgrader pipeline,
optionally with :func:`softsign_grader.repair.install`), so these tests do
not depend on the course's other grading plugins. One ``nbgrader autograde``
run grades every repaired case (one student each); a second, stock run on two
students shows the failure the repairs remove.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import nbformat
import pytest
from nbformat import NotebookNode

from softsign_grader.course import ASSIGNMENT, make_course, run_nbgrader
from softsign_grader.repair import install, sanitize_steps

NOTEBOOK = "01_softsign_definition"
FULL = {"test_softsign_values": 2.0, "test_softsign_arrays": 1.0}
NONE = {"test_softsign_values": 0.0, "test_softsign_arrays": 0.0}

STOCK_CONFIG = """\
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "softsign"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.OverwriteCells.add_missing_cells = True
"""
REPAIRED_CONFIG = (
    STOCK_CONFIG + "\nfrom softsign_grader.repair import install  # noqa: E402\n\ninstall(c)\n"
)

_SOLUTION_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[^\n]*\n?", re.MULTILINE)
WRONG_SOFTSIGN = "def softsign(x):\n    x = np.asarray(x, dtype=float)\n    return x / (1.0 + x)"
HELPER_SOFTSIGN = (
    "def _denominator(x):\n"
    "    return 1.0 + np.abs(x)\n"
    "\n"
    "\n"
    "def softsign(x):\n"
    "    x = np.asarray(x, dtype=float)\n"
    "    return x / _denominator(x)"
)


# --- JupyterLab's edits ---------------------------------------------------------


def _index(nb: NotebookNode, grade_id: str) -> int:
    for index, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader")
        if isinstance(meta, dict) and meta.get("grade_id") == grade_id:
            return index
    raise KeyError(grade_id)


def _pasted(cell: NotebookNode, new_id: str) -> NotebookNode:
    """The cell as JupyterLab pastes a copy of it: no ``deletable``, a new id."""
    copied = copy.deepcopy(cell)
    copied.metadata.pop("deletable", None)
    copied["id"] = new_id
    return copied


def _split(cell: NotebookNode, *texts: str) -> list[NotebookNode]:
    """The cell split by JupyterLab just before each of ``texts`` (in order)."""
    offsets = [0]
    for text in texts:
        offsets.append(cell.source.index(text, offsets[-1]))
    offsets.append(len(cell.source))
    pieces = []
    for number, (start, end) in enumerate(itertools.pairwise(offsets)):
        piece = copy.deepcopy(cell)
        piece["id"] = f"split-{number}"
        piece.source = cell.source[start:end].strip("\n")
        pieces.append(piece)
    return pieces


# --- the cases -----------------------------------------------------------------


def paste_solution_below(nb: NotebookNode) -> None:
    """A first wrong try, copied below and corrected there: the last definition counts."""
    at = _index(nb, "softsign_solution")
    nb.cells.insert(at + 1, _pasted(nb.cells[at], "pasted-solution"))
    nb.cells[at].source = WRONG_SOFTSIGN


def paste_solution_above(nb: NotebookNode) -> None:
    at = _index(nb, "softsign_solution")
    nb.cells.insert(at, _pasted(nb.cells[at], "pasted-solution"))


def paste_test_below(nb: NotebookNode) -> None:
    at = _index(nb, "test_softsign_values")
    nb.cells.insert(at + 1, _pasted(nb.cells[at], "pasted-test"))


def paste_test_above_solution(nb: NotebookNode) -> None:
    """The copy runs before softsign exists; it must not cost the points."""
    test = nb.cells[_index(nb, "test_softsign_values")]
    nb.cells.insert(_index(nb, "softsign_solution"), _pasted(test, "pasted-test"))


def paste_test_at_end(nb: NotebookNode) -> None:
    nb.cells.append(_pasted(nb.cells[_index(nb, "test_softsign_arrays")], "pasted-test"))


def paste_test_wrong_solution(nb: NotebookNode) -> None:
    """A control: a pasted test cell does not turn a wrong answer into points."""
    nb.cells[_index(nb, "softsign_solution")].source = WRONG_SOFTSIGN
    paste_test_below(nb)


def split_helper(nb: NotebookNode) -> None:
    """Split between the student's helper and the function: two cells that each run."""
    at = _index(nb, "softsign_solution")
    nb.cells[at].source = HELPER_SOFTSIGN
    nb.cells[at : at + 1] = _split(nb.cells[at], "def softsign")


def split_body(nb: NotebookNode) -> None:
    """Split after the docstring: the body alone is an IndentationError."""
    at = _index(nb, "softsign_solution")
    nb.cells[at : at + 1] = _split(nb.cells[at], "    x = np.asarray")


def split_three(nb: NotebookNode) -> None:
    """Split around a selection (the docstring): three pieces, none runs alone."""
    at = _index(nb, "softsign_solution")
    nb.cells[at : at + 1] = _split(nb.cells[at], '    """', "    x = np.asarray")


def split_test(nb: NotebookNode) -> None:
    at = _index(nb, "test_softsign_values")
    nb.cells[at : at + 1] = _split(nb.cells[at], "check_softsign(softsign")


def paste_markdown(nb: NotebookNode) -> None:
    at = _index(nb, "softsign_solution")
    exercise = nb.cells[at - 1]
    assert exercise.cell_type == "markdown"
    nb.cells.insert(at + 1, _pasted(exercise, "pasted-markdown"))


def paste_from_other_notebook(nb: NotebookNode) -> None:
    """A solution and a test cell of notebook 02: grade_ids this notebook does not have."""
    at = _index(nb, "softsign_solution")
    for number, grade_id in enumerate(["abs_derivative_solution", "test_abs_derivative_values"]):
        meta = {**nb.cells[at].metadata.nbgrader, "grade_id": grade_id}
        cell = nbformat.v4.new_code_cell("abs_value = abs(-1.0)", id=f"other-{number}")
        cell.metadata.nbgrader = nbformat.from_dict(meta)
        if grade_id.startswith("test_"):
            cell.metadata.nbgrader.update(grade=True, solution=False, locked=True, points=2)
        nb.cells.insert(at + 1 + number, cell)


def _code_cell(nb: NotebookNode) -> NotebookNode:
    return next(cell for cell in nb.cells if cell.cell_type == "code" and not cell.metadata)


def meta_empty(nb: NotebookNode) -> None:
    _code_cell(nb).metadata["nbgrader"] = {}


def meta_no_grade_id(nb: NotebookNode) -> None:
    _code_cell(nb).metadata["nbgrader"] = {
        "grade": False,
        "locked": False,
        "schema_version": 3,
        "solution": True,
    }


def meta_no_schema_version(nb: NotebookNode) -> None:
    del nb.cells[_index(nb, "softsign_solution")].metadata.nbgrader["schema_version"]


def meta_not_dict(nb: NotebookNode) -> None:
    plain = [cell for cell in nb.cells if cell.cell_type == "code" and not cell.metadata]
    for cell, value in zip(plain, ["softsign_solution", [1, 2], None, True], strict=False):
        cell.metadata["nbgrader"] = value


def meta_tampered(nb: NotebookNode) -> None:
    """A test cell marked as a solution, without points, with a key nbgrader does not know."""
    meta = nb.cells[_index(nb, "test_softsign_values")].metadata.nbgrader
    meta.update(solution=True, grade=False, extra="?")
    del meta["points"]


def duplicate_cell_ids(nb: NotebookNode) -> None:
    """Cut, paste, paste: both copies keep the cut cell's id; plus an invalid id."""
    at = _index(nb, "softsign_solution")
    nb.cells.insert(at + 1, _pasted(nb.cells[at], nb.cells[at]["id"]))
    nb.cells[at].source = WRONG_SOFTSIGN
    code = [cell for cell in nb.cells if cell.cell_type == "code" and not cell.metadata]
    code[1]["id"] = code[0]["id"]
    code[2]["id"] = "not a valid id!"


@dataclass(frozen=True)
class Case:
    """One edited submission: how to edit it, what it must score, what the log must say."""

    edit: Callable[[NotebookNode], None] | None
    scores: dict[str, float]
    logged: str | tuple[str, ...] | None


CASES: dict[str, Case] = {
    "unedited": Case(None, FULL, None),
    "paste_solution_below": Case(
        paste_solution_below, FULL, "another copy of 'softsign_solution'; ungraded"
    ),
    "paste_solution_above": Case(
        paste_solution_above, FULL, "another copy of 'softsign_solution'; ungraded"
    ),
    "paste_test_below": Case(
        paste_test_below, FULL, "a copy of test cell 'test_softsign_values'; removed"
    ),
    "paste_test_above_solution": Case(
        paste_test_above_solution, FULL, "a copy of test cell 'test_softsign_values'; removed"
    ),
    "paste_test_at_end": Case(
        paste_test_at_end, FULL, "a copy of test cell 'test_softsign_arrays'; removed"
    ),
    "paste_test_wrong_solution": Case(
        paste_test_wrong_solution, NONE, "a copy of test cell 'test_softsign_values'; removed"
    ),
    "split_helper": Case(split_helper, FULL, "another copy of 'softsign_solution'; ungraded"),
    "split_body": Case(split_body, FULL, "merged with the next 1 cell(s)"),
    "split_three": Case(split_three, FULL, "merged with the next 2 cell(s)"),
    "split_test": Case(split_test, FULL, "another copy of 'test_softsign_values'; ungraded"),
    "paste_markdown": Case(paste_markdown, FULL, None),
    "paste_from_other_notebook": Case(
        paste_from_other_notebook, FULL, "grade_id is not a cell of this notebook"
    ),
    "meta_empty": Case(meta_empty, FULL, "nbgrader metadata is empty"),
    "meta_no_grade_id": Case(meta_no_grade_id, FULL, "nbgrader metadata has no grade_id"),
    "meta_no_schema_version": Case(
        meta_no_schema_version, FULL, "nbgrader metadata schema_version set from the gradebook"
    ),
    "meta_not_dict": Case(meta_not_dict, FULL, "nbgrader metadata is a list, not a dict"),
    "meta_tampered": Case(
        meta_tampered, FULL, "nbgrader metadata extra, grade, points, solution set from"
    ),
    # nbformat itself renames duplicate ids when it reads the notebook (DuplicateCellId).
    "duplicate_cell_ids": Case(
        duplicate_cell_ids, FULL, ("Non-unique cell id", "cell id invalid; replaced by")
    ),
}

#: Submissions graded by the stock pipeline, to show the bug: the same edits as these cases.
STOCK_CASES = {"stock_paste_solution": "paste_solution_below", "stock_split_body": "split_body"}


# --- the course ----------------------------------------------------------------


def _solved(course: Path) -> NotebookNode:
    """Notebook 01 as released in ``course``, its solution cells filled in from the instructor's."""
    released = nbformat.read(course / "notebooks" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    instructor = nbformat.read(
        course / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4
    )
    solutions = {cell.id: cell.source for cell in instructor.cells if "nbgrader" in cell.metadata}
    for cell in released.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = _SOLUTION_MARKERS.sub("", solutions[cell.id])
    return released


def _submit(course: Path, student: str, case: Case, solved: NotebookNode) -> None:
    nb = copy.deepcopy(solved)
    if case.edit is not None:
        case.edit(nb)
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    # json, not nbformat.write: nbformat would repair the duplicate cell ids on the way out.
    (folder / f"{NOTEBOOK}.ipynb").write_text(json.dumps(nb, indent=1) + "\n", encoding="utf-8")


def _scores(course: Path) -> dict[str, dict[str, float | None]]:
    from nbgrader.api import Gradebook

    scores: dict[str, dict[str, float | None]] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", ASSIGNMENT) as gradebook:
        for submission in gradebook.assignment_submissions(ASSIGNMENT):
            for notebook in submission.notebooks:
                cells = scores.setdefault(submission.student_id, {})
                cells.update({grade.name: grade.auto_score for grade in notebook.grades})
    return scores


def _logs_by_student(log: str) -> dict[str, str]:
    parts = re.split(r"^.*Creating/updating student with ID '([^']+)'.*$", log, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


@dataclass(frozen=True)
class Run:
    """One ``nbgrader autograde`` run over some students of the course."""

    course: Path
    result: subprocess.CompletedProcess[str]
    scores: dict[str, dict[str, float | None]]
    logs: dict[str, str]

    @property
    def log(self) -> str:
        return self.result.stdout + self.result.stderr


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory, nbgrader_env: dict[str, str]) -> Path:
    """A course with notebook 01 only, released (``generate_assignment``) with the stock config."""
    root = make_course(tmp_path_factory.mktemp("repair") / "course", release=False)
    for path in (root / "solutions" / ASSIGNMENT).iterdir():
        if path.name == f"{NOTEBOOK}.ipynb":
            continue
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    (root / "nbgrader_config.py").write_text(STOCK_CONFIG, encoding="utf-8")
    run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], root, env=nbgrader_env)
    return root


def _autograde(course: Path, config: str, students: str, env: dict[str, str]) -> Run:
    (course / "nbgrader_config.py").write_text(config, encoding="utf-8")
    result = run_nbgrader(
        ["autograde", ASSIGNMENT, f"--student={students}", "--force"],
        course,
        env=env,
        check=False,
    )
    log = result.stdout + result.stderr
    scores = {name: cells for name, cells in _scores(course).items() if fnmatch(name, students)}
    return Run(course, result, scores, _logs_by_student(log))


@pytest.fixture(scope="module")
def repaired(course: Path, nbgrader_env: dict[str, str]) -> Run:
    """Every case, autograded in one run by the stock pipeline plus ``install(c)``."""
    solved = _solved(course)
    for name, case in CASES.items():
        _submit(course, f"case_{name}", case, solved)
    return _autograde(course, REPAIRED_CONFIG, "case_*", nbgrader_env)


@pytest.fixture(scope="module")
def stock(course: Path, nbgrader_env: dict[str, str]) -> Run:
    """Two of the cases, autograded by the stock pipeline alone."""
    solved = _solved(course)
    for student, name in STOCK_CASES.items():
        _submit(course, student, CASES[name], solved)
    return _autograde(course, STOCK_CONFIG, "stock_*", nbgrader_env)


# --- the tests -----------------------------------------------------------------


@pytest.mark.slow
def test_the_stock_pipeline_aborts_on_a_pasted_or_split_solution(stock: Run):
    """The bug: DeduplicateIds leaves ``nbgrader: {}``; OverwriteCells raises KeyError."""
    assert stock.result.returncode != 0
    for student in STOCK_CASES:
        log = stock.logs[student]
        assert "Cell with id 'softsign_solution' exists multiple times!" in log
        assert "in add_missing_task_cells" in log
        assert "KeyError: 'grade_id'" in log
        assert f"error processing assignment 'softsign' for student '{student}'" in stock.log
        # Never graded: nbgrader export counts these cells as 0.
        assert stock.scores[student] == dict.fromkeys(FULL, None)


@pytest.mark.slow
def test_autograde_completes_for_every_case(repaired: Run):
    assert repaired.result.returncode == 0, repaired.log[-3000:]
    assert "There was an error processing" not in repaired.log
    # No traceback through nbgrader or nbconvert (a kernel's own shutdown noise on its
    # stderr, which nbgrader passes on, is not a failure of the repairs).
    for block in repaired.log.split("Traceback (most recent call last)")[1:]:
        frames = block.split("\n[", 1)[0]  # up to the next log line
        for package in ("nbgrader", "nbconvert", "nbformat", "source_lib"):
            assert f"/{package}/" not in frames, frames[-2000:]
    assert set(repaired.scores) == {f"case_{name}" for name in CASES}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_each_case_scores_like_the_original(repaired: Run, name: str):
    case = CASES[name]
    student = f"case_{name}"
    assert repaired.scores[student] == case.scores
    log = repaired.logs[student]
    if case.logged is None:
        assert not re.search(r"WARNING\] cell \d+", log), log
    else:
        expected = (case.logged,) if isinstance(case.logged, str) else case.logged
        for text in expected:
            assert text in log


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_each_grade_id_is_left_on_one_cell(repaired: Run, name: str):
    path = repaired.course / "autograded" / f"case_{name}" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    nb = nbformat.read(path, as_version=4)
    grade_ids = [
        cell.metadata["nbgrader"]["grade_id"] for cell in nb.cells if "nbgrader" in cell.metadata
    ]
    assert sorted(grade_ids) == sorted(
        ["setup_01", "softsign_solution", "test_softsign_values", "test_softsign_arrays"]
    )
    ids = [cell.id for cell in nb.cells]
    assert len(ids) == len(set(ids))
    tests = [cell for cell in nb.cells if "check_softsign(softsign" in cell.source]
    assert len(tests) == 2, "a pasted copy of a test cell is removed, not run twice"


@pytest.mark.slow
def test_split_pieces_are_joined_back_into_the_original_cell(repaired: Run, course: Path):
    original = next(
        cell.source
        for cell in _solved(course).cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    )
    for name in ["split_body", "split_three"]:
        path = repaired.course / "autograded" / f"case_{name}" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
        nb = nbformat.read(path, as_version=4)
        # JupyterLab strips the newlines at a split point; only the cell's last one is lost.
        assert nb.cells[_index(nb, "softsign_solution")].source == original.rstrip("\n")


def test_install_puts_the_repairs_around_the_stock_steps():
    from nbgrader.converters import Autograde
    from traitlets.config import Config

    config = Config()
    install(config)
    names = [step.__name__ for step in config.Autograde.sanitize_preprocessors]
    assert names == [
        "RepairNotebookFormat",
        "ClearOutput",
        "CleanCellMetadata",
        "ReconcileCellMetadata",
        "MergeSplitSolutionCells",
        "ResolveDuplicateGradeIds",
        "MatchRebuiltCells",
        "DeduplicateIds",
        "OverwriteKernelspec",
        "OverwriteCells",
        "CheckCellMetadata",
    ]
    install(config)  # idempotent
    assert [step.__name__ for step in config.Autograde.sanitize_preprocessors] == names
    default = Autograde.class_traits()["sanitize_preprocessors"].default()
    assert sanitize_steps(default) == list(config.Autograde.sanitize_preprocessors)


ODD_VALUES = [None, "x y", -1, True, {}, 10**400]


def _odd_metadata_notebooks(solved: NotebookNode) -> dict[str, NotebookNode]:
    """Every key of the solution's and a test cell's nbgrader metadata removed or set oddly."""
    variants = {}
    for grade_id in ["softsign_solution", "test_softsign_values"]:
        at = _index(solved, grade_id)
        keys = sorted(solved.cells[at].metadata.nbgrader)
        for key in keys:
            nb = copy.deepcopy(solved)
            del nb.cells[at].metadata.nbgrader[key]
            variants[f"{grade_id} without {key}"] = nb
            for value in ODD_VALUES:
                nb = copy.deepcopy(solved)
                nb.cells[at].metadata.nbgrader[key] = value
                variants[f"{grade_id} {key}={value!r}"] = nb
        for value in ODD_VALUES:
            nb = copy.deepcopy(solved)
            nb.cells[at].metadata["nbgrader"] = value
            variants[f"{grade_id} nbgrader={value!r}"] = nb
            nb = copy.deepcopy(solved)
            nb.cells.insert(at, _pasted(nb.cells[at], "pasted"))
            nb.cells[at].metadata["nbgrader"] = value
            variants[f"{grade_id} pasted, nbgrader={value!r}"] = nb
    for value in ODD_VALUES:
        nb = copy.deepcopy(solved)
        _code_cell(nb)["metadata"] = value
        variants[f"cell metadata={value!r}"] = nb
    return variants


@pytest.mark.slow
# OverwriteCells puts a test cell back without a cell id; nbconvert's validation then warns.
@pytest.mark.filterwarnings("ignore::nbformat.warnings.MissingIDFieldWarning")
def test_no_metadata_shape_stops_the_sanitize_stage(course: Path):
    """nbgrader's sanitize steps plus the repairs, in nbconvert's exporter, never raise."""
    from nbconvert.exporters import NotebookExporter
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import OverwriteCells
    from traitlets.config import Config

    config = Config()
    config.OverwriteCells.add_missing_cells = True
    exporter = NotebookExporter(config=config)
    exporter._preprocessors = []  # as nbgrader's converters do: only the registered steps
    for step in sanitize_steps(Autograde.class_traits()["sanitize_preprocessors"].default()):
        exporter.register_preprocessor(step, enabled=True)
    assert any(isinstance(step, OverwriteCells) for step in exporter._preprocessors)
    resources = {
        "nbgrader": {
            "notebook": NOTEBOOK,
            "assignment": ASSIGNMENT,
            "db_url": f"sqlite:///{course / 'gradebook.db'}",
        }
    }
    variants = _odd_metadata_notebooks(_solved(course))
    assert len(variants) > 100
    expected = {"setup_01", "softsign_solution", "test_softsign_values", "test_softsign_arrays"}
    for name, nb in variants.items():
        output, _ = exporter.from_notebook_node(nb, resources=copy.deepcopy(resources))
        grade_ids = [
            cell["metadata"]["nbgrader"]["grade_id"]
            for cell in json.loads(output)["cells"]
            if "nbgrader" in cell["metadata"]
        ]
        # Test cells are always there (restored if need be); no grade_id is on two cells.
        assert set(FULL) <= set(grade_ids) <= expected, name
        assert len(grade_ids) == len(set(grade_ids)), name
