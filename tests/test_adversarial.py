"""The red team's suite: hostile and unusual submissions, graded by real nbgrader.

Every case is one TOML file in ``tests/adversarial/``, in the format of
``tests/submissions/`` (see :mod:`softsign_grader.sample_class`) with these additions:

``notebooks``
    The notebooks the student submits (default ``["01_softsign_definition"]``);
    the others are "No submitted file" and score nothing.
``sandbox_only``
    The case's ``no_credit`` holds only with the sandbox (the reference is
    withheld there); without it (``SOFTSIGN_SANDBOX=off`` or no bubblewrap) the
    case is expected to earn full marks, plus ``[fallback_scores]`` overrides.
``fallback = "skip"``
    The attack needs the sandbox to be safe to run at all (it signals, writes or
    reads outside its folder): it is not submitted when grading without the sandbox.
``known_hole``
    The case shows a limitation the maintainers must decide on: its score test
    is ``xfail(strict=True)`` with this reason.
``feedback = true``
    ``nbgrader generate_feedback`` is run for the student, and its feedback must not
    hold a secret: the canaries' tokens, a hidden test's token, the judge's seeds.
``[[insert]]``
    Extra cells: ``after`` (a cell id, a grade_id, ``"start"`` or ``"end"``),
    ``source``, optional ``cell_type`` and ``metadata``.
``[actions]``
    Besides sample_class's: ``edit_cells`` (cell id or grade_id -> source),
    ``tags`` (grade_id -> tags), ``metadata`` (grade_id -> nbgrader keys to set),
    ``duplicate`` (grade_ids; the copy follows the original), ``move``
    (grade_id -> ``"start"`` or ``"end"``).
``[files]``
    Extra files in the submission folder (name -> text).
``[links]``
    Symbolic links in the submission folder (name -> target); a target ``"@@FIFO@@"``
    makes a FIFO of that name instead.

In every source, ``@@COURSE@@``, ``@@REPO@@``, ``@@HOME@@``, ``@@MARKER@@``,
``@@CANARY@@`` (a canary graded before the attackers) and ``@@LAST_CANARY@@``
(one graded after them) are replaced, so the attacks know the real paths.

All cases are students of ONE course, graded by ONE run of the course's own pool,
``softsign-grade ASSIGNMENT --jobs 2`` (real nbgrader in each worker process, every
kernel in the sandbox; two workers, so that the cases that wait out a time limit
overlap with the others). Each worker grades its students one after another, as
``nbgrader autograde`` does, so what one attacker leaves behind in a worker meets the
students graded after it there; the canaries are handed out first and last. After
the run, nothing outside a student's own autograded folder may have changed:
the canaries' scores, manual scores and extra credit in the gradebook,
``source_lib`` (no file holds the marker), both ``nbgrader_config.py`` files,
the other students' submitted files, site-packages and ``~/.ipython``; and no
process an attacker started may still run.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import html
import json
import os
import re
import sqlite3
import stat
import sys
import time
import tomllib
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pytest
from repo_root import REPO_ROOT

from softsign_grader.course import ASSIGNMENT, make_course, run_nbgrader
from softsign_grader.judge import NOT_RUN_AFTER_LAST_GRADED
from softsign_grader.sample_class import (
    SampleStudent,
    _course_folder,
    _notebooks,
    _submission,
    expected_scores,
    graded_cells,
    graded_functions,
)

sys.path.insert(0, str(Path(__file__).parent))
from conftest import NBGRADER_ENV, read_scores, run_softsign_grade

pytestmark = pytest.mark.slow

CASES_DIR = Path(__file__).parent / "adversarial"
MARKER = f"SOFTSIGNREDTEAM{uuid.uuid4().hex[:12]}"
CANARY = "aaa_canary"
LAST_CANARY = "zzz_canary"
#: Secret tokens the canaries hide in their notebooks; no feedback may show them.
PEER_SECRET = f"PEERSECRET{uuid.uuid4().hex}"
#: Put into a hidden-test region of the course copy's instructor notebook.
HIDDEN_TOKEN = f"HIDDENTOKEN{uuid.uuid4().hex}"
DEFAULT_NOTEBOOKS = ["01_softsign_definition"]
#: Worker processes of the grading run.
JOBS = 2
SITE_PACKAGES = Path(next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()))

_KNOWN = {
    "description",
    "base",
    "no_credit",
    "solutions",
    "actions",
    "scores",
    "notebooks",
    "sandbox_only",
    "fallback",
    "fallback_scores",
    "known_hole",
    "feedback",
    "insert",
    "files",
    "links",
}
_KNOWN_ACTIONS = {
    "delete_test_cells",
    "edit_test_cells",
    "edit_test_points",
    "invalid_json",
    "missing",
    "edit_cells",
    "tags",
    "metadata",
    "duplicate",
    "move",
}


def _sandboxed() -> tuple[bool, str]:
    from softsign_grader.sandbox import SANDBOX_ENV, _sandbox_problem

    if os.environ.get(SANDBOX_ENV, "").strip().lower() == "off":
        return False, f"{SANDBOX_ENV}=off"
    problem = _sandbox_problem()
    return problem is None, problem or ""


SANDBOXED, WHY_NOT = _sandboxed()


@dataclass
class Case:
    student_id: str
    data: dict[str, Any]
    notebooks: list[str]
    sandbox_only: bool
    skip_in_fallback: bool
    known_hole: str | None
    feedback: bool
    expected: dict[str, float | None] = field(default_factory=dict)


def load_cases() -> dict[str, Case]:
    cases = {}
    for path in sorted(CASES_DIR.glob("*.toml")):
        with path.open("rb") as handle:
            data = tomllib.load(handle)
        unknown = (set(data) - _KNOWN) | (set(data.get("actions", {})) - _KNOWN_ACTIONS)
        if unknown:
            raise ValueError(f"{path.name}: unknown keys {sorted(unknown)}")
        cases[path.stem] = Case(
            student_id=path.stem,
            data=data,
            notebooks=list(data.get("notebooks", DEFAULT_NOTEBOOKS)),
            sandbox_only=bool(data.get("sandbox_only", False)),
            skip_in_fallback=data.get("fallback", "grade") == "skip",
            known_hole=data.get("known_hole"),
            feedback=bool(data.get("feedback", False)),
        )
    return cases


CASES = load_cases()


def _active(case: Case) -> bool:
    return SANDBOXED or not case.skip_in_fallback


# ----------------------------------------------------------------------------- building


def _substitute(text: str, course: Path) -> str:
    for key, value in {
        "@@COURSE@@": str(course),
        "@@REPO@@": str(REPO_ROOT),
        "@@HOME@@": str(Path.home()),
        "@@MARKER@@": MARKER,
        "@@CANARY@@": CANARY,
        "@@LAST_CANARY@@": LAST_CANARY,
        "@@PEER_SECRET@@": PEER_SECRET,
    }.items():
        text = text.replace(key, value)
    return text


def _deep_substitute(value: Any, course: Path) -> Any:
    if isinstance(value, str):
        return _substitute(value, course)
    if isinstance(value, dict):
        return {k: _deep_substitute(v, course) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_substitute(v, course) for v in value]
    return value


def _meta(cell: nbformat.NotebookNode) -> dict[str, Any]:
    return cell.get("metadata", {}).get("nbgrader", {})


def _find(cells: list, key: str) -> int:
    for index, cell in enumerate(cells):
        if cell.get("id") == key or _meta(cell).get("grade_id") == key:
            return index
    raise KeyError(f"no cell {key!r}")


def _apply_extras(notebook: nbformat.NotebookNode, data: dict[str, Any]) -> None:
    actions = data.get("actions", {})
    cells = notebook.cells
    for key, source in actions.get("edit_cells", {}).items():
        cells[_find(cells, key)].source = source.strip("\n")
    for key, tags in actions.get("tags", {}).items():
        cells[_find(cells, key)].metadata["tags"] = list(tags)
    for key, changes in actions.get("metadata", {}).items():
        cells[_find(cells, key)].metadata.setdefault("nbgrader", {}).update(changes)
    for key in actions.get("duplicate", []):
        index = _find(cells, key)
        duplicate = copy.deepcopy(cells[index])
        duplicate["id"] = f"{duplicate.get('id', 'cell')}-copy"
        cells.insert(index + 1, duplicate)
    for key, where in actions.get("move", {}).items():
        cell = cells.pop(_find(cells, key))
        cells.insert(0 if where == "start" else len(cells), cell)
    for number, spec in enumerate(data.get("insert", [])):
        kind = spec.get("cell_type", "code")
        maker = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        cell = maker(spec["source"].strip("\n"))
        cell["id"] = spec.get("id", f"redteam-{number}")
        if "metadata" in spec:
            cell.metadata.update(copy.deepcopy(spec["metadata"]))
        after = spec.get("after", "end")
        if after == "start":
            cells.insert(0, cell)
        elif after == "end":
            cells.append(cell)
        else:
            cells.insert(_find(cells, after) + 1, cell)


def _student(case: Case) -> SampleStudent:
    data, actions = case.data, case.data.get("actions", {})
    no_credit = set(data.get("no_credit", []))
    scores = {k: float(v) for k, v in data.get("scores", {}).items()}
    if case.sandbox_only and not SANDBOXED:
        no_credit = set()
        scores = {k: float(v) for k, v in data.get("fallback_scores", {}).items()}
    return SampleStudent(
        student_id=case.student_id,
        description=data["description"],
        base=data.get("base", "solved"),
        solutions=dict(data.get("solutions", {})),
        no_credit=frozenset(no_credit),
        delete_test_cells=tuple(actions.get("delete_test_cells", [])),
        edit_test_cells=dict(actions.get("edit_test_cells", {})),
        edit_test_points={k: float(v) for k, v in actions.get("edit_test_points", {}).items()},
        invalid_json=tuple(actions.get("invalid_json", [])),
        missing=tuple(actions.get("missing", [])),
        scores=scores,
    )


def _add_hidden_token(course: Path) -> None:
    """Hide HIDDEN_TOKEN in the hidden tests of notebook 01 of the course copy."""
    path = course / "solutions" / ASSIGNMENT / "01_softsign_definition.ipynb"
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if _meta(cell).get("grade_id") == "test_softsign_values":
            cell.source = cell.source.replace(
                "### BEGIN HIDDEN TESTS\n", f"### BEGIN HIDDEN TESTS\n# {HIDDEN_TOKEN}\n"
            )
            assert HIDDEN_TOKEN in cell.source
    nbformat.write(notebook, path)


def _record_seeds(course: Path, seeds: Path) -> None:
    """Make the course copy's nbgrader process log every seed the judge draws."""
    with (course / "nbgrader_config.py").open("a", encoding="utf-8") as handle:
        handle.write(
            "\n\n# Added by tests/test_adversarial.py: log the judge's seeds.\n"
            "import source_lib.grading.replay as _replay\n"
            "_planner_init = _replay.Planner.__init__\n"
            "def _logging_init(self, seed, target, _init=_planner_init):\n"
            f"    with open({str(seeds)!r}, 'a') as _log:\n"
            "        _log.write(f'{seed}\\n')\n"
            "    _init(self, seed, target)\n"
            "_replay.Planner.__init__ = _logging_init\n"
        )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree_digests(root: Path, pattern: str = "**/*") -> dict[str, str]:
    return {
        str(p.relative_to(root)): "link" if p.is_symlink() else _digest(p)
        for p in sorted(root.glob(pattern))
        if (p.is_symlink() or p.is_file()) and "__pycache__" not in p.parts
    }


def _marker_files() -> list[str]:
    """Files in the places attackers aim at whose name or text holds the marker."""
    found = []
    roots = [
        (REPO_ROOT / "source_lib", "**/*"),
        (REPO_ROOT, "*"),
        (SITE_PACKAGES, "*"),
        (Path.home() / ".ipython", "**/*"),
        (Path("/tmp"), "*"),
    ]
    for root, pattern in roots:
        if not root.is_dir():
            continue
        for path in root.glob(pattern):
            try:
                if MARKER in path.name:
                    found.append(str(path))
                elif not path.is_file() or path.is_symlink():
                    continue
                elif path.stat().st_size < 5 * 2**20 and MARKER.encode() in path.read_bytes():
                    found.append(str(path))
            except OSError:
                continue
    return found


def _marker_processes() -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = b""
            with contextlib.suppress(OSError):
                environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if MARKER.encode() in cmdline or MARKER.encode() in environ:
            shown = cmdline.replace(b"\x00", b" ")[:200]
            found.append(f"{entry.name}: {shown!r}")
    return found


@dataclass
class Graded:
    course: Path
    cases: dict[str, Case]
    scores: dict[str, dict[str, float | None]]
    log: str
    seconds: float
    seeds: list[str]
    before: dict[str, Any]
    after: dict[str, Any]
    feedback: dict[str, str]


def _snapshot(course: Path) -> dict[str, Any]:
    return {
        "course_config": _digest(course / "nbgrader_config.py"),
        "repo_config": _digest(REPO_ROOT / "nbgrader_config.py"),
        "submitted": _tree_digests(course / "submitted"),
        "source_lib": _tree_digests(REPO_ROOT / "source_lib"),
        "solutions": _tree_digests(course / "solutions"),
        "release": _tree_digests(course / "notebooks"),
        "ipython_startup": sorted(
            str(p) for p in (Path.home() / ".ipython").glob("profile_*/startup/*")
        ),
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Graded:
    """Every active case as one student of one course, graded by one run of the pool."""
    base = tmp_path_factory.mktemp("adversarial")
    course = make_course(base / "course", release=False)
    seeds_file = base / "seeds.log"
    _add_hidden_token(course)
    _record_seeds(course, seeds_file)
    run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], course, env=NBGRADER_ENV)

    release = _course_folder(course, "notebooks", ASSIGNMENT)
    solutions = _course_folder(course, "solutions", ASSIGNMENT)
    functions = graded_functions(solutions)
    cells = graded_cells(release, functions)
    released = _notebooks(release)
    instructor = _notebooks(solutions)
    active = {name: case for name, case in CASES.items() if _active(case)}
    for name, case in active.items():
        case.data = _deep_substitute(case.data, course)
        student = _student(case)
        folder = course / "submitted" / name / ASSIGNMENT
        folder.mkdir(parents=True, exist_ok=True)
        for notebook_name in case.notebooks:
            notebook = _submission(
                student,
                notebook_name,
                released[notebook_name],
                instructor[notebook_name],
                functions,
            )
            if notebook_name not in student.missing:
                _apply_extras(notebook, case.data)
                with warnings.catch_warnings():  # a pasted cell repeats a cell id on purpose
                    warnings.simplefilter("ignore")
                    text = nbformat.writes(notebook)
                if notebook_name in student.invalid_json:
                    text = text[: len(text) // 2]
                (folder / f"{notebook_name}.ipynb").write_text(text, encoding="utf-8")
        for file_name, text in case.data.get("files", {}).items():
            (folder / file_name).write_text(text, encoding="utf-8")
        for link_name, target in case.data.get("links", {}).items():
            if target == "@@FIFO@@":
                os.mkfifo(folder / link_name)
            else:
                (folder / link_name).symlink_to(target)
        full = expected_scores(student, cells)
        case.expected = {
            key: (points if key.split("/")[0] in case.notebooks else None)
            for key, points in full.items()
        }

    before = _snapshot(course)
    start = time.perf_counter()
    result = run_softsign_grade(course, ASSIGNMENT, "--jobs", str(JOBS), timeout=1500)
    seconds = time.perf_counter() - start
    time.sleep(2)  # let a daemon that escaped show itself
    after = _snapshot(course)
    after["processes"] = _marker_processes()
    after["marker_files"] = _marker_files()
    after["gradebook_extras"] = _gradebook_extras(course)

    feedback: dict[str, str] = {}
    wanted = [name for name, case in active.items() if case.feedback]
    if wanted:  # one nbgrader process for them all (each costs seconds to start)
        others = ",".join(name for name in active if name not in wanted)
        run_nbgrader(
            [
                "generate_feedback",
                ASSIGNMENT,
                "--force",
                f"--CourseDirectory.student_id_exclude={others}",
            ],
            course,
            env=NBGRADER_ENV,
            check=False,
        )
    for name in wanted:
        for path in (course / "feedback" / name / ASSIGNMENT).glob("*.html"):
            feedback[f"{name}/{path.stem}"] = path.read_text(encoding="utf-8")
    seeds = seeds_file.read_text().split() if seeds_file.exists() else []
    log = result.stdout + result.stderr
    workers_log = course / "autograded" / ".parallel_grading" / ASSIGNMENT / "grading.log"
    if workers_log.exists():  # nbgrader's own output, from every worker
        log += "\n" + workers_log.read_text(errors="replace")
    (base / "autograde.log").write_text(log)
    print(
        f"\nadversarial grading ({JOBS} workers): {seconds:.0f} s, {len(active)} students, "
        f"sandbox={'on' if SANDBOXED else 'off (' + WHY_NOT + ')'}; course at {course}"
    )
    return Graded(course, active, read_scores(course), log, seconds, seeds, before, after, feedback)


def _gradebook_extras(course: Path) -> list[tuple]:
    with sqlite3.connect(course / "gradebook.db") as db:
        return db.execute(
            "SELECT id, manual_score, extra_credit FROM grade "
            "WHERE manual_score IS NOT NULL OR extra_credit IS NOT NULL"
        ).fetchall()


# ----------------------------------------------------------------------------- the tests


def _params() -> list[Any]:
    params = []
    for name, case in CASES.items():
        marks = []
        if not _active(case):
            marks.append(pytest.mark.skip(reason="needs the sandbox to run safely"))
        elif case.known_hole:
            marks.append(pytest.mark.xfail(strict=True, reason=case.known_hole))
        params.append(pytest.param(name, id=name, marks=marks))
    return params


def test_mode_is_stated(graded: Graded):
    """Say which mode ran: with the sandbox, or the fallback and why."""
    print(f"sandbox: {SANDBOXED} {WHY_NOT}; autograde took {graded.seconds:.0f} s")
    assert graded.scores, graded.log[-3000:]


@pytest.mark.parametrize("student", _params())
def test_every_cell_gets_its_expected_score(graded: Graded, student: str):
    case = graded.cases[student]
    got = graded.scores.get(student, {})
    wrong = {}
    for key, want in case.expected.items():
        have = got.get(key)
        if want is None:
            if have not in (None, 0.0):
                wrong[key] = ("nothing (not submitted)", have)
        elif have != want:
            wrong[key] = (want, have)
    assert not wrong, f"{case.data['description']}\n(expected, got): {wrong}"


def test_canaries_keep_their_marks_and_no_one_got_extra_points(graded: Graded):
    for canary in (CANARY, LAST_CANARY):
        expected = graded.cases[canary].expected
        got = graded.scores[canary]
        assert {k: got.get(k) or 0.0 for k in expected} == {
            k: v or 0.0 for k, v in expected.items()
        }
    assert graded.after["gradebook_extras"] == []


def test_nothing_outside_the_autograded_folders_changed(graded: Graded):
    before, after = graded.before, graded.after
    assert after["course_config"] == before["course_config"]
    # The pool reads a submission without changing it: links and FIFOs stay in place.
    assert after["submitted"] == before["submitted"]
    assert after["solutions"] == before["solutions"]
    assert after["release"] == before["release"]
    assert after["ipython_startup"] == before["ipython_startup"]
    assert after["marker_files"] == []
    changed = {
        name
        for name in set(before["source_lib"]) | set(after["source_lib"])
        if before["source_lib"].get(name) != after["source_lib"].get(name)
    }
    if changed or after["repo_config"] != before["repo_config"]:
        # Other people edit the repository while this runs: a change without the marker is
        # theirs (the marker check above would have caught an attacker's).
        print(f"note: changed during the run, without the marker: {sorted(changed)}")


def test_no_attacker_process_is_left(graded: Graded):
    assert graded.after["processes"] == []


def _text(page: str) -> str:
    body = page[page.find("<body") :]
    return html.unescape(re.sub(r"<[^>]+>", "", body))


def test_feedback_leaks_no_secret(graded: Graded):
    assert graded.seeds, "the seed log is empty: the instrumentation did not run"
    checked = 0
    for name, page in graded.feedback.items():
        text = page + _text(page)
        own = name.split("/")[0] in (CANARY, LAST_CANARY)  # a canary may see its own token
        for secret in (HIDDEN_TOKEN,) if own else (PEER_SECRET, HIDDEN_TOKEN):
            assert secret not in text, f"{name} shows {secret[:14]}..."
        for seed in graded.seeds:
            assert seed not in text, f"{name} shows a seed"
            assert hex(int(seed)) not in text, f"{name} shows a seed"
        checked += 1
    assert checked or not any(c.feedback for c in graded.cases.values())


def test_autograded_outputs_leak_no_secret(graded: Graded):
    """Not even the instructor's copy shows a peer's secret or a seed in an attacker's outputs."""
    for name in graded.cases:
        if name in (CANARY, LAST_CANARY):
            continue
        for path in (graded.course / "autograded" / name / ASSIGNMENT).glob("*.ipynb"):
            notebook = nbformat.read(path, as_version=4)
            outputs = json.dumps([cell.get("outputs", []) for cell in notebook.cells])
            assert PEER_SECRET not in outputs, f"{name}: a peer's secret in {path.name}"
            assert HIDDEN_TOKEN not in outputs, f"{name}: the hidden token in {path.name}"
            for seed in graded.seeds:
                assert seed not in outputs, f"{name}: a judge seed in {path.name}"


def test_autograded_notebooks_stay_small(graded: Graded):
    for path in (graded.course / "autograded").glob(f"*/{ASSIGNMENT}/*.ipynb"):
        assert path.stat().st_size < 5 * 2**20, f"{path} is {path.stat().st_size} bytes"


def test_no_honest_ordinary_cell_timed_out(graded: Graded):
    """An honest student's ordinary cells finish (05's experiment is the smoke run)."""
    late = []
    for name in graded.cases:
        if not name.startswith("honest_notebooks"):
            continue
        for path in (graded.course / "autograded" / name / ASSIGNMENT).glob("*.ipynb"):
            for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
                for output in cell.get("outputs", []):
                    if output.get("ename") == "CellTimeoutError":
                        late.append(f"{path.name} cell {index}")
    assert not late, f"timed out: {late}"


def test_honest_ordinary_cells_fail_only_where_a_reference_is_withheld(graded: Graded):
    """The honest student's prose and figure cells work while graded, as in JupyterLab,
    except where they call a source_lib function that the sandbox withholds in that
    notebook (a NotImplementedError that says so), and the cells that then miss a name
    such a cell would have defined (a NameError after it). The cells after a notebook's
    last graded cell (its Summary and "Going deeper", notebook 05's experiment included)
    are not run while graded: the first of them says so, and holds nothing else.
    """
    errors = []
    withheld_seen = 0
    for name in graded.cases:
        if not name.startswith("honest_notebooks"):
            continue
        for path in (graded.course / "autograded" / name / ASSIGNMENT).glob("*.ipynb"):
            after_withheld = False
            for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
                if _meta(cell).get("grade") or cell.cell_type != "code":
                    continue
                for output in cell.get("outputs", []):
                    if output.get("output_type") != "error":
                        continue
                    ename, evalue = output.get("ename"), str(output.get("evalue"))
                    if ename == "GradingNote" and evalue == NOT_RUN_AFTER_LAST_GRADED:
                        continue
                    if ename == "NotImplementedError" and "withheld" in evalue and _sandboxed()[0]:
                        after_withheld = True
                        withheld_seen += 1
                    elif not (ename == "NameError" and after_withheld):
                        errors.append(f"{path.stem} cell {index}: {ename}: {evalue[:120]}")
    assert not errors, errors
    if not _sandboxed()[0]:
        assert withheld_seen == 0


def test_links_in_a_submission_are_left_unread_never_followed(graded: Graded):
    """The case ``link_secrets``: every link and FIFO stays, unread, where the student put it.

    The pool stages a submission for nbgrader through the vetted reader, which copies
    regular files only, and logs each entry it left out. (Plain ``nbgrader autograde``
    moves them aside instead, into ``<assignment>.quarantine/``: ``test_malformed.py``.)
    """
    if "link_secrets" not in graded.cases:
        pytest.skip("the case link_secrets did not run")
    submitted = graded.course / "submitted" / "link_secrets" / ASSIGNMENT
    links = graded.cases["link_secrets"].data["links"]
    for name, target in links.items():
        entry = submitted / name
        if target == "@@FIFO@@":
            assert stat.S_ISFIFO(entry.lstat().st_mode), name
        else:
            assert entry.is_symlink(), name
            assert os.readlink(entry) == target, name
        assert re.search(rf"Skipped {re.escape(name)} of link_secrets: ", graded.log), name
    notebook = graded.course / "autograded" / "link_secrets" / ASSIGNMENT
    text = (notebook / "01_softsign_definition.ipynb").read_text(encoding="utf-8")
    assert "SQLite format" not in text
    assert "root:" not in text
    assert text.count("not readable: FileNotFoundError") == 7
    assert not any(name in links for name in (p.name for p in notebook.iterdir()))
