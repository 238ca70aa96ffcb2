"""Withholding holds in every install layout, with real nbgrader and the real sandbox.

The sandboxed kernel must see exactly one ``source_lib``: the kernel edition, at a
fixed path first on its ``sys.path``, whatever copy the grader or the kernel's
interpreter would otherwise find. Three layouts, each graded for real:

``editable``
    The course's own virtual environment (``source_lib`` installed editable from this
    repository), grading a course folder elsewhere.
``another clone``
    The same environment grading a course folder that holds its own copy of
    ``source_lib`` (a second clone): the grader imports that copy, while the
    environment's editable install points at this repository.
``shared venv``
    A second environment with ``source_lib`` installed *non-editable* in its
    site-packages (the README's JupyterHub recipe), grading a separate clone (which
    holds its own ``source_lib``, the one the grader imports).

In each, an honest student gets full marks on notebooks 01 and 05, and a student whose
``softsign`` calls the library's implementation, by every import path, scores 0.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest
from repo_root import REPO_ROOT

from softsign_grader.course import ASSIGNMENT, tool_path_env
from softsign_grader.sandbox import sandbox_available, sandbox_problem

sys.path.insert(0, str(Path(__file__).parent))
from conftest import copy_released, read_scores

pytestmark = pytest.mark.slow

UNDER_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
NOTEBOOKS = ["01_softsign_definition", "05_softsign_in_deep_networks"]

#: The cheat: softsign from the library, through every way of importing it.
CHEAT = """\
import importlib

import source_lib
import source_lib.activations


def softsign(x):
    routes = [
        lambda: source_lib.softsign(x),
        lambda: source_lib.activations.softsign(x),
        lambda: importlib.import_module("source_lib.activations").softsign(x),
        lambda: source_lib.ACTIVATIONS["softsign"](x),
    ]
    for route in routes:
        try:
            return route()
        except NotImplementedError:
            continue
    raise NotImplementedError("every route is withheld")
"""


@pytest.fixture(scope="module", autouse=True)
def require_sandbox() -> None:
    if not sandbox_available():
        reason = f"no bubblewrap sandbox: {sandbox_problem()}"
        if UNDER_CI:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


def _copy_packages(target: Path) -> None:
    """Both packages of the course, as a clone or a non-editable install holds them."""
    for package in ("source_lib", "softsign_grader"):
        shutil.copytree(
            REPO_ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__")
        )


def _course(template: Path, root: Path, with_library: bool) -> Path:
    """A course folder with an honest and a cheating student.

    It is a copy of the session's released course: the release is the same in every
    layout, and only grading, which the layout's own Python runs, depends on it.
    """
    course = copy_released(template, root)
    if with_library:
        _copy_packages(course)
    honest = course / "submitted" / "honest" / ASSIGNMENT
    honest.mkdir(parents=True)
    for name in NOTEBOOKS:
        shutil.copy(course / "solutions" / ASSIGNMENT / f"{name}.ipynb", honest)
    cheat = course / "submitted" / "cheat" / ASSIGNMENT
    cheat.mkdir(parents=True)
    notebook = nbformat.read(course / "notebooks" / ASSIGNMENT / f"{NOTEBOOKS[0]}.ipynb", 4)
    for cell in notebook.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "softsign_solution":
            cell.source = CHEAT
    nbformat.write(notebook, cheat / f"{NOTEBOOKS[0]}.ipynb")
    return course


def _nbgrader(python: str, args: list[str], course: Path) -> subprocess.CompletedProcess[str]:
    env = tool_path_env()
    env["PATH"] = os.pathsep.join([str(Path(python).parent), env["PATH"]])
    env["SOFTSIGN_SANDBOX"] = "require"
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [python, "-m", "nbgrader", *args, f"--CourseDirectory.root={course}"],
        cwd=course,
        capture_output=True,
        text=True,
        timeout=1200,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _grade(python: str, course: Path) -> dict[str, dict[str, float | None]]:
    _nbgrader(python, ["autograde", ASSIGNMENT], course)
    return read_scores(course)


def _assert_withheld(scores: dict[str, dict[str, float | None]], course: Path) -> None:
    honest = {
        key: value for key, value in scores["honest"].items() if key.split("/")[0] in NOTEBOOKS
    }
    assert honest, "the honest student was not graded"
    missing = {key: value for key, value in honest.items() if not value}
    assert not missing, f"the honest student lost points: {missing}"
    for name in NOTEBOOKS:  # the notebook's own imports of source_lib work in the kernel
        graded = nbformat.read(course / "autograded" / "honest" / ASSIGNMENT / f"{name}.ipynb", 4)
        errors = [
            output.get("ename")
            for cell in graded.cells
            for output in cell.get("outputs", [])
            if output.get("output_type") == "error"
        ]
        assert "ModuleNotFoundError" not in errors, f"{name}: source_lib cannot be imported"
    cheat = {key: value for key, value in scores["cheat"].items() if key.startswith(NOTEBOOKS[0])}
    earned = {key: value for key, value in cheat.items() if value}
    assert cheat
    assert not earned, f"calling the library earned points: {earned}"


def test_editable_install_grading_a_course_elsewhere(tmp_path: Path, released_template: Path):
    course = _course(released_template, tmp_path / "course", with_library=False)
    _assert_withheld(_grade(sys.executable, course), course)


def test_editable_install_grading_another_clone(tmp_path: Path, released_template: Path):
    course = _course(released_template, tmp_path / "clone", with_library=True)
    _assert_withheld(_grade(sys.executable, course), course)


def test_shared_venv_with_a_non_editable_install(tmp_path: Path, released_template: Path):
    """A second environment whose site-packages holds a full, non-editable source_lib."""
    venv = tmp_path / "shared-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The course's dependencies come from this environment, after the new one's own folder.
    (Path(site) / "course-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _copy_packages(Path(site))
    where = subprocess.run(
        [python, "-c", "import json, source_lib; print(json.dumps(source_lib.__file__))"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
        cwd=tmp_path,
    ).stdout
    assert json.loads(where).startswith(site), "the shared venv does not import its own copy"
    course = _course(released_template, tmp_path / "separate-clone", with_library=True)
    _assert_withheld(_grade(python, course), course)
