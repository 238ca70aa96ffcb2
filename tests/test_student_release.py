"""``make student-release`` gives students the notebooks and the library, never the answers.

The release is built once by the real ``make student-release``. The tests prove
that no instructor solution or hidden test is inside it (and that the check
that proves it finds a planted leak), that its library imports and runs a
student notebook on its own, and that its archive, pyproject, Binder set-up
and git branch hold what they should.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import nbformat
import pytest
import yaml
from nbclient import NotebookClient
from repo_root import REPO_ROOT

from softsign_grader.course import ASSIGNMENT
from softsign_grader.leaks import release_snippets
from softsign_grader.student_release import (
    INSTRUCTOR_ONLY,
    commit_to_branch,
    release_leaks,
    solution_lines,
)
from source_lib.grading.registry import CHECK_MODULES

pytestmark = pytest.mark.slow  # builds the release with make, builds a wheel, runs a kernel

SOLUTIONS = REPO_ROOT / "solutions"
NOTEBOOKS = REPO_ROOT / "notebooks"
BINDER_REPO = "example-course/softsign"


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder ``make student-release`` writes (into a scratch folder)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    out = tmp_path_factory.mktemp("student-release") / "student-release"
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    result = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-o",
            f"{sys.prefix}/.installed-lab",
            "student-release",
            f"VENV={sys.prefix}",
            f"RELEASE_ARGS=--out {out} --binder-repo {BINDER_REPO}",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Wrote {out}" in result.stdout
    return out


def _files(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}


# --- no answers inside ------------------------------------------------------------------


def test_no_instructor_solution_hidden_test_or_working_answer_is_inside(release: Path):
    """No solution line, hidden test or delimiter, and no doctest or markdown code block
    that holds a working answer (checked by behaviour): ``release_leaks`` checks all."""
    marks = solution_lines(SOLUTIONS)
    # Every graded function's solution contributes lines (else the proof would prove nothing).
    sources = {where.split(":")[0] for where in marks.values()}
    assert len(sources) >= 5, sources
    assert any("hidden tests" in where for where in marks.values())
    # The examples the behaviour check runs include the checks' own doctests.
    snippets = release_snippets(release)
    assert any("doctest of check_softsign" in snippet.where for snippet in snippets)
    assert release_leaks(release, SOLUTIONS) == []


def test_nothing_of_the_instructor_by_name(release: Path):
    files = _files(release)
    assert not [name for name in files if "solutions" in name.split("/")]
    assert "nbgrader_config.py" not in files
    for module in INSTRUCTOR_ONLY:
        path = module.replace(".", "/")
        assert f"{path}.py" not in files
        assert not [name for name in files if name.startswith(path + "/")]
    assert not [name for name in files if name.startswith("tests/")]
    for name in files:
        text = (release / name).read_bytes()
        for marker in (b"BEGIN SOLUTION", b"BEGIN HIDDEN TESTS", b"END HIDDEN TESTS"):
            assert marker not in text, f"{name} holds {marker!r}"


def test_the_notebooks_are_the_generated_student_notebooks(release: Path):
    released = sorted((NOTEBOOKS / ASSIGNMENT).glob("*.ipynb"))
    assert released
    for path in released:
        copy = release / "notebooks" / ASSIGNMENT / path.name
        assert copy.read_bytes() == path.read_bytes()
        nbformat.validate(nbformat.read(copy, as_version=4))


#: Where each planted leak goes, and the start of the line the leak check must report for it.
PLANTS = {
    "solution notebook": "notebooks/answers.ipynb",
    "solution line": "source_lib/activations.py",
    "answer in a doctest": "source_lib/grading/network_exercise.py",
    "instructor module": "softsign_grader/judge.py: an instructor-only module",
}


def test_the_leak_check_finds_every_planted_leak(release: Path, tmp_path: Path):
    """Four leaks of different kinds planted in one copy: each is reported (one check run)."""
    leaky = tmp_path / "leaky"
    shutil.copytree(release, leaky)
    source = SOLUTIONS / ASSIGNMENT / "01_softsign_definition.ipynb"
    shutil.copy2(source, leaky / "notebooks" / "answers.ipynb")
    line = next(line for line in solution_lines(SOLUTIONS) if "np.abs(x)" in line)
    with (leaky / "source_lib" / "activations.py").open("a", encoding="utf-8") as handle:
        handle.write(f"\n\ndef _answer(x):\n    {line}\n")
    target = leaky / "source_lib" / "grading" / "network_exercise.py"
    with target.open("a", encoding="utf-8") as handle:
        handle.write(
            '\n\ndef _example():\n    """\n    >>> def backward(x, W, b, g):\n'
            "    ...     d = g / (1 + np.abs(x @ W + b)) ** 2\n"
            "    ...     return d @ W.T, x.T @ d, d.sum(axis=0)\n"
            '    """\n'
        )
    (leaky / "softsign_grader").mkdir()
    shutil.copy2(REPO_ROOT / "softsign_grader" / "judge.py", leaky / "softsign_grader")
    leaks = release_leaks(leaky, SOLUTIONS)
    missed = [
        plant
        for plant, where in PLANTS.items()
        if not any(leak.startswith(where) for leak in leaks)
    ]
    assert not missed, (missed, leaks)


# --- it works on its own ----------------------------------------------------------------


#: Takes the course's own editable install out of the import system: every ``source_lib``
#: module must then come from the release folder on ``PYTHONPATH``, or not at all.
WITHOUT_THE_COURSE_INSTALL = (
    "import sys\n"
    "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]\n"
    "sys.path_hooks[:] = [h for h in sys.path_hooks if 'editable' not in repr(h).lower()]\n"
    "sys.path_importer_cache.clear()\n"
)


def _release_python(release: Path, code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(release)}
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_THE_COURSE_INSTALL + code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )


def test_the_library_imports_from_the_release(release: Path, tmp_path: Path):
    result = _release_python(
        release,
        f"import source_lib, {', '.join(CHECK_MODULES)}\n"
        "print(source_lib.__file__)\n"
        "print(source_lib.grading.exercises.check_softsign.__name__)",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    path, name = result.stdout.split()
    assert Path(path).is_relative_to(release)
    assert name == "check_softsign"
    for module in INSTRUCTOR_ONLY:
        missing = _release_python(release, f"import {module}", tmp_path)
        assert "ModuleNotFoundError" in missing.stderr, module


def test_a_student_notebook_runs_on_the_release_library(
    release: Path, monkeypatch: pytest.MonkeyPatch
):
    """Notebook 01 of the release, its exercise solved, runs top to bottom, tests included."""
    folder = release / "notebooks" / ASSIGNMENT
    nb = nbformat.read(folder / "01_softsign_definition.ipynb", as_version=4)
    instructor = nbformat.read(SOLUTIONS / ASSIGNMENT / "01_softsign_definition.ipynb", 4)
    answers = {cell.id: cell.source for cell in instructor.cells}
    solved = 0
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = "\n".join(
                line for line in answers[cell.id].splitlines() if "### " not in line
            )
            solved += 1
    assert solved == 1
    where = nbformat.v4.new_code_cell(
        WITHOUT_THE_COURSE_INSTALL + "import source_lib, source_lib.grading.exercises\n"
        f"assert source_lib.__file__.startswith({str(release)!r}), source_lib.__file__"
    )
    nb.cells.insert(0, where)
    monkeypatch.setenv("PYTHONPATH", str(release))
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    tests = [cell for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade")]
    assert len(tests) >= 2
    for cell in tests:
        assert cell.execution_count is not None
        assert not [output for output in cell.outputs if output.output_type == "error"]


# --- what comes with it -----------------------------------------------------------------


def test_the_archive_holds_the_folder(release: Path):
    archive = release.with_suffix(".zip")
    with zipfile.ZipFile(archive) as opened:
        names = {name for name in opened.namelist() if not name.endswith("/")}
    assert names == {f"{release.name}/{name}" for name in _files(release)}


def test_the_pyproject_installs_the_library_without_instructor_extras(
    release: Path, tmp_path: Path
):
    project = tomllib.loads((release / "pyproject.toml").read_text())["project"]
    main = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert "optional-dependencies" not in project
    assert "scripts" not in project
    assert set(project["dependencies"]) <= set(main["dependencies"])
    names = {requirement.split(">")[0].split("<")[0] for requirement in project["dependencies"]}
    assert {"numpy", "jupyterlab", "ipykernel"} <= names
    assert "nbgrader" not in names
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), "."],
        cwd=release,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as opened:
        modules = {name for name in opened.namelist() if name.startswith("source_lib/")}
    expected = {name for name in _files(release) if name.startswith("source_lib/")}
    assert modules == expected


def test_binder_and_conda_open_the_notebooks(release: Path):
    readme = (release / "README.md").read_text()
    url = f"https://mybinder.org/v2/gh/{BINDER_REPO}/HEAD?urlpath=lab/tree/notebooks/"
    assert url in readme
    target = readme.split("urlpath=lab/tree/")[1].split(")")[0]
    assert (release / target).is_file()
    assert "pip install -e ." in readme
    assert "make lab" in readme
    project = tomllib.loads((release / "pyproject.toml").read_text())["project"]
    for path in ("environment.yml", "binder/environment.yml"):
        environment = yaml.safe_load((release / path).read_text())
        listed = [item for item in environment["dependencies"] if isinstance(item, str)]
        assert set(project["dependencies"]) <= set(listed), path
    post_build = release / "binder" / "postBuild"
    assert os.access(post_build, os.X_OK)
    assert "pip install --no-deps ." in post_build.read_text()
    makefile = (release / "Makefile").read_text()
    assert f"--LabApp.default_url=/lab/tree/{target}" in makefile


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_the_branch_is_an_orphan_commit_of_the_folder_and_leaves_the_work_tree(
    release: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    for variable, value in {
        "GIT_AUTHOR_NAME": "Course",
        "GIT_AUTHOR_EMAIL": "course@example.org",
        "GIT_COMMITTER_NAME": "Course",
        "GIT_COMMITTER_EMAIL": "course@example.org",
    }.items():
        monkeypatch.setenv(variable, value)
    repo = tmp_path / "course"
    repo.mkdir()
    _git(repo, "init", "--quiet", "--initial-branch=main")
    (repo / "solutions.txt").write_text("the answers\n")
    _git(repo, "add", "solutions.txt")
    _git(repo, "commit", "--quiet", "-m", "course")
    head = _git(repo, "rev-parse", "HEAD")

    commit = commit_to_branch(release, "student", repo)
    assert _git(repo, "rev-parse", "HEAD") == head
    assert _git(repo, "status", "--porcelain") == ""
    assert _git(repo, "rev-list", "--count", "student") == "1"  # an orphan: no parent
    tree = set(_git(repo, "ls-tree", "-r", "--name-only", "student").splitlines())
    assert tree == _files(release)
    assert commit_to_branch(release, "student", repo) == commit  # nothing changed: no commit
    with pytest.raises(ValueError, match="checked out"):
        commit_to_branch(release, "main", repo)
