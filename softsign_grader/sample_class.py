"""Build the course's sample class: submissions whose right scores are known in advance.

Each sample student is one small TOML file in the course's sample-class folder
(:data:`SUBMISSIONS_FOLDER` of the course root unless told another)::

    description = "What this student shows"
    base = "solved"            # "solved" (default) or "released" (the untouched notebooks)
    ungraded_notebooks = false # also submit the notebooks that have no test cells
    notebooks = ["01_softsign_definition"]  # submit only these (default: every graded one)
    no_credit = ["softsign"]   # exercises (graded function names) that must earn 0
    needs_sandbox = false      # no_credit holds only when kernels run in bubblewrap

    [solutions]                # whole solution cells, by the function they define
    softsign = '''
    def softsign(x):
        return x / (1 + x)
    '''

    [actions]                  # optional tampering with the files themselves
    delete_test_cells = ["test_abs_derivative_values"]       # by grade_id
    edit_test_cells = { test_softsign_values = "pass" }      # grade_id -> new source
    edit_test_points = { test_softsign_values = 100 }        # grade_id -> points claimed
    invalid_json = ["01_softsign_definition"]                # notebook names
    missing = ["02_derivative_of_abs"]

    [scores]                   # optional per-cell overrides, "notebook/grade_id" = points
    "03_quotient_rule_derivation/test_softsign_derivative_values" = 2

:func:`build_sample_class` writes every student's submission from the *current*
student notebooks (the release, ``notebooks/ASSIGNMENT``), so the sample class
never drifts from the notebooks: a ``"solved"`` student starts from the
release with every solution cell filled in from the instructor notebook
(``solutions/ASSIGNMENT``, solution markers removed; a written answer, a
markdown cell graded by hand, gets the model answer), then the cells named in
``[solutions]`` are replaced and the ``[actions]`` applied. A ``"released"``
student submits the release untouched. Notebooks without test cells carry no
points; to keep the class quick to grade, only students with
``ungraded_notebooks = true`` submit them (for the others nbgrader logs
"No submitted file" and nothing changes). A student whose point lies in some
notebooks (a common mistake in one exercise, a cheat in a few) lists them in
``notebooks`` and submits only those, so grading the class proves the point with
the fewest notebooks; the cells of the others are expected to earn 0.

Expected scores are derived from the notebooks too. Every autograded test
cell (a code cell with nbgrader ``grade: true``) belongs to the exercises
whose graded function it names (the functions defined in solution cells).
A cell is expected to earn its full points unless one of its exercises is in
``no_credit``, its notebook is listed in ``invalid_json`` or ``missing``, or the
student is ``"released"``; then it is expected to earn 0. ``[scores]``
overrides single cells. An exercise added to the notebooks later is thus
covered for every student without touching the files.

Written answers (markdown cells with nbgrader ``grade`` and ``solution``) earn
no automatic points: nbgrader scores an unchanged one 0 and flags a changed
one for a manual grade. :func:`written_cells` lists them and
:func:`expected_manual_grades` says which of a student's answers must be
flagged (those of a ``"solved"`` student in a notebook that was submitted and
readable).
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from softsign_grader.course import ASSIGNMENT, find_course_root

__all__ = [
    "SUBMISSIONS_FOLDER",
    "GradedCell",
    "SampleStudent",
    "build_sample_class",
    "expected_manual_grades",
    "expected_scores",
    "graded_cells",
    "graded_functions",
    "load_students",
    "score_key",
    "written_cells",
]

#: Where a course keeps its sample students' TOML files, relative to the course root.
SUBMISSIONS_FOLDER = Path("tests", "submissions")

_SOLUTION_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[^\n]*\n?", re.MULTILINE)
_DEFINITION = re.compile(r"^def (\w+)\(", re.MULTILINE)
_BASES = ("solved", "released")


@dataclass(frozen=True)
class SampleStudent:
    """One sample student, as read from ``<id>.toml`` in the sample-class folder."""

    student_id: str
    description: str
    base: str = "solved"
    ungraded_notebooks: bool = False
    solutions: dict[str, str] = field(default_factory=dict)
    no_credit: frozenset[str] = frozenset()
    delete_test_cells: tuple[str, ...] = ()
    edit_test_cells: dict[str, str] = field(default_factory=dict)
    edit_test_points: dict[str, float] = field(default_factory=dict)
    invalid_json: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    scores: dict[str, float] = field(default_factory=dict)
    needs_sandbox: bool = False
    notebooks: tuple[str, ...] | None = None

    def submits(self, notebook: str) -> bool:
        """Whether this student hands in ``notebook`` (a name without ``.ipynb``) at all."""
        if notebook in self.missing:
            return False
        return self.notebooks is None or notebook in self.notebooks

    def lost(self, notebooks: set[str]) -> set[str]:
        """Those of ``notebooks`` that earn nothing: not submitted, or not readable JSON."""
        return {name for name in notebooks if not self.submits(name)} | set(self.invalid_json)


@dataclass(frozen=True)
class GradedCell:
    """An autograded test cell of the assignment."""

    notebook: str
    grade_id: str
    points: float
    exercises: frozenset[str]

    @property
    def key(self) -> str:
        """The cell's key in expected-score dicts: ``"notebook/grade_id"``."""
        return score_key(self.notebook, self.grade_id)


def score_key(notebook: str, grade_id: str) -> str:
    """Return the key of a test cell: notebook name (no ``.ipynb``), a slash, its grade_id."""
    return f"{notebook}/{grade_id}"


def load_students(directory: Path | None = None) -> dict[str, SampleStudent]:
    """Read every ``*.toml`` sample student in ``directory``, keyed by student id (file stem).

    ``directory`` is by default :data:`SUBMISSIONS_FOLDER` of the course found by
    :func:`~softsign_grader.course.find_course_root`.
    """
    if directory is None:
        directory = find_course_root() / SUBMISSIONS_FOLDER
    students = {}
    for path in sorted(Path(directory).glob("*.toml")):
        with path.open("rb") as handle:
            data = tomllib.load(handle)
        known = {
            "description",
            "base",
            "ungraded_notebooks",
            "no_credit",
            "solutions",
            "actions",
            "scores",
            "needs_sandbox",
            "notebooks",
        }
        unknown = set(data) - known
        actions = data.get("actions", {})
        known_actions = {
            "delete_test_cells",
            "edit_test_cells",
            "edit_test_points",
            "invalid_json",
            "missing",
        }
        if unknown or set(actions) - known_actions:
            raise ValueError(
                f"{path.name}: unknown keys {sorted(unknown | (set(actions) - known_actions))}"
            )
        base = data.get("base", "solved")
        if base not in _BASES:
            raise ValueError(f"{path.name}: base must be one of {_BASES}, not {base!r}")
        students[path.stem] = SampleStudent(
            student_id=path.stem,
            description=data["description"],
            base=base,
            ungraded_notebooks=bool(data.get("ungraded_notebooks", False)),
            solutions=dict(data.get("solutions", {})),
            no_credit=frozenset(data.get("no_credit", [])),
            delete_test_cells=tuple(actions.get("delete_test_cells", [])),
            edit_test_cells=dict(actions.get("edit_test_cells", {})),
            edit_test_points={k: float(v) for k, v in actions.get("edit_test_points", {}).items()},
            invalid_json=tuple(actions.get("invalid_json", [])),
            missing=tuple(actions.get("missing", [])),
            scores={k: float(v) for k, v in data.get("scores", {}).items()},
            needs_sandbox=bool(data.get("needs_sandbox", False)),
            notebooks=tuple(data["notebooks"]) if "notebooks" in data else None,
        )
    return students


def _nbgrader(cell: nbformat.NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _is_solution(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and bool(_nbgrader(cell).get("solution"))


def _is_test(cell: nbformat.NotebookNode) -> bool:
    meta = _nbgrader(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def _is_written(cell: nbformat.NotebookNode) -> bool:
    meta = _nbgrader(cell)
    return cell.cell_type == "markdown" and bool(meta.get("grade")) and bool(meta.get("solution"))


def _notebooks(folder: Path) -> dict[str, nbformat.NotebookNode]:
    return {path.stem: nbformat.read(path, as_version=4) for path in sorted(folder.glob("*.ipynb"))}


def graded_functions(solutions: Path) -> dict[str, str]:
    """Return ``{function name: notebook name}`` for every function defined in a solution cell."""
    functions = {}
    for name, notebook in _notebooks(solutions).items():
        for cell in notebook.cells:
            if _is_solution(cell):
                for function in _DEFINITION.findall(cell.source):
                    functions[function] = name
    return functions


def graded_cells(notebooks: Path, functions: dict[str, str]) -> list[GradedCell]:
    """Return the autograded test cells of the notebooks in ``notebooks``, in order."""
    cells = []
    for name, notebook in _notebooks(notebooks).items():
        for cell in notebook.cells:
            if not _is_test(cell):
                continue
            named = set(re.findall(r"\b\w+\b", cell.source))
            cells.append(
                GradedCell(
                    notebook=name,
                    grade_id=_nbgrader(cell)["grade_id"],
                    points=float(_nbgrader(cell).get("points", 0)),
                    exercises=frozenset(function for function in functions if function in named),
                )
            )
    return cells


def written_cells(notebooks: Path) -> list[GradedCell]:
    """Return the written answers (markdown cells graded by hand) in ``notebooks``, in order."""
    return [
        GradedCell(
            notebook=name,
            grade_id=_nbgrader(cell)["grade_id"],
            points=float(_nbgrader(cell).get("points", 0)),
            exercises=frozenset(),
        )
        for name, notebook in _notebooks(notebooks).items()
        for cell in notebook.cells
        if _is_written(cell)
    ]


def expected_manual_grades(student: SampleStudent, cells: list[GradedCell]) -> set[str]:
    """Return the keys of the written answers of ``student`` that nbgrader must flag.

    A ``"solved"`` student writes the model answer into every written cell, so
    each needs a manual grade; the ``"released"`` student's cells are unchanged
    and score 0 automatically. A notebook that is missing or unreadable (graded
    as the release copy) has no answer to grade.
    """
    if student.base != "solved":
        return set()
    lost = student.lost({cell.notebook for cell in cells})
    return {cell.key for cell in cells if cell.notebook not in lost}


def expected_scores(student: SampleStudent, cells: list[GradedCell]) -> dict[str, float]:
    """Return ``{"notebook/grade_id": points}`` that ``student`` must get for each test cell.

    A student with ``needs_sandbox`` keeps ``no_credit`` only where the grading
    kernels run in bubblewrap (:mod:`softsign_grader.sandbox`); without it,
    ``source_lib``'s implementations are not withheld, so calling them earns
    the points.
    """
    from softsign_grader.sandbox import SandboxedKernelManager, kernel_manager_class

    no_credit = student.no_credit
    if student.needs_sandbox and kernel_manager_class() is not SandboxedKernelManager:
        no_credit = frozenset()
    expected = {}
    lost_notebooks = student.lost({cell.notebook for cell in cells})
    for cell in cells:
        earns = (
            student.base == "solved"
            and cell.notebook not in lost_notebooks
            and not (cell.exercises & no_credit)
        )
        expected[cell.key] = cell.points if earns else 0.0
    notebooks = {cell.notebook for cell in cells}
    for key, points in student.scores.items():
        if key.split("/")[0] not in notebooks:
            continue  # a notebook of another assignment
        if key not in expected:
            raise ValueError(f"{student.student_id}: [scores] names unknown test cell {key!r}")
        expected[key] = points
    return expected


def _solved_source(instructor_cell: nbformat.NotebookNode) -> str:
    return _SOLUTION_MARKERS.sub("", instructor_cell.source)


def _submission(
    student: SampleStudent,
    name: str,
    released: nbformat.NotebookNode,
    instructor: nbformat.NotebookNode,
    functions: dict[str, str],
) -> nbformat.NotebookNode:
    notebook = nbformat.from_dict(json.loads(json.dumps(released)))
    if student.base == "solved":
        instructor_solutions = {
            cell.id: cell for cell in instructor.cells if _is_solution(cell) and "id" in cell
        }
        for cell in notebook.cells:
            if _is_solution(cell) and cell.get("id") in instructor_solutions:
                cell.source = _solved_source(instructor_solutions[cell.id])
        instructor_answers = {
            cell.id: cell for cell in instructor.cells if _is_written(cell) and "id" in cell
        }
        for cell in notebook.cells:
            if _is_written(cell) and cell.get("id") in instructor_answers:
                cell.source = _solved_source(instructor_answers[cell.id]).strip("\n")
    for function, source in student.solutions.items():
        if functions.get(function) != name:
            continue
        targets = [
            cell
            for cell in notebook.cells
            if _is_solution(cell) and function in _DEFINITION.findall(cell.source)
        ]
        if not targets:
            raise ValueError(f"{student.student_id}: no solution cell defines {function}()")
        targets[0].source = source.strip("\n")
    kept = []
    for cell in notebook.cells:
        grade_id = _nbgrader(cell).get("grade_id")
        if grade_id in student.delete_test_cells:
            continue
        if grade_id in student.edit_test_cells:
            cell.source = student.edit_test_cells[grade_id]
        if grade_id in student.edit_test_points:
            cell.metadata["nbgrader"]["points"] = student.edit_test_points[grade_id]
        kept.append(cell)
    notebook.cells = kept
    return notebook


def _course_folder(course_root: Path, folder: str, assignment: str) -> Path:
    local = Path(course_root) / folder / assignment
    if any(local.glob("*.ipynb")):
        return local
    fallback = find_course_root() / folder / assignment
    if fallback.is_dir():
        return fallback
    raise FileNotFoundError(f"no notebooks in {local}: release assignment {assignment!r} first")


def build_sample_class(
    course_root: Path,
    students: list[str] | None = None,
    *,
    assignment: str = ASSIGNMENT,
    submissions: Path | None = None,
) -> dict[str, dict[str, float]]:
    """Write the sample class into ``course_root/submitted`` and return its expected scores.

    Parameters
    ----------
    course_root : Path
        An nbgrader course directory (for example made by
        :func:`softsign_grader.course.make_course`). Its ``notebooks/ASSIGNMENT`` and
        ``solutions/ASSIGNMENT`` are used when present, else those of the course found by
        :func:`~softsign_grader.course.find_course_root`.
    students : list of str, optional
        Student ids (file stems in ``submissions``) to build; default all.
    assignment : str
        The nbgrader assignment (default :data:`~softsign_grader.course.ASSIGNMENT`).
        A student's solutions, actions and scores that name no notebook of this
        assignment are ignored.
    submissions : Path, optional
        The folder of the sample students' TOML files (default: see :func:`load_students`).

    Returns
    -------
    dict
        ``{student id: {"notebook/grade_id": expected points}}`` for every
        autograded test cell of every notebook, where ``notebook`` is the
        notebook's file name without ``.ipynb`` (nbgrader's notebook id) and
        ``grade_id`` the cell's nbgrader grade_id.
    """
    course_root = Path(course_root)
    release = _course_folder(course_root, "notebooks", assignment)
    solutions = _course_folder(course_root, "solutions", assignment)
    functions = graded_functions(solutions)
    cells = graded_cells(release, functions)
    released = _notebooks(release)
    instructor = _notebooks(solutions)
    everyone = load_students(submissions)
    chosen = list(everyone) if students is None else students
    unknown = set(chosen) - set(everyone)
    if unknown:
        raise ValueError(f"unknown sample students: {sorted(unknown)}")
    graded_notebooks = {cell.notebook for cell in cells}
    expected = {}
    for student_id in chosen:
        student = everyone[student_id]
        folder = course_root / "submitted" / student_id / assignment
        folder.mkdir(parents=True, exist_ok=True)
        for name, notebook in released.items():
            path = folder / f"{name}.ipynb"
            if not student.submits(name) or (
                name not in graded_notebooks and not student.ungraded_notebooks
            ):
                path.unlink(missing_ok=True)
                continue
            submission = _submission(student, name, notebook, instructor[name], functions)
            text = nbformat.writes(submission)
            if name in student.invalid_json:
                text = text[: len(text) // 2]
            path.write_text(text, encoding="utf-8")
        expected[student_id] = expected_scores(student, cells)
    return expected
