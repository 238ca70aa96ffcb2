"""Build what students receive: the notebooks and the library, without the answers.

Run it as ``make student-release`` (or ``python -m softsign_grader.student_release``).
This repository holds ``solutions/``, the worked answers and the hidden tests;
students get a folder made from it instead, ``dist/student-release/`` by default,
and a zip archive of it beside it, and optionally a commit on a branch of its
own (``--branch NAME``), which a Binder link or a course's student repository
can point at. The folder holds:

* ``notebooks/``: the student notebooks, as ``make notebooks`` generated them;
* ``source_lib/``: the modules students and their test cells import, found by
  following the imports of the notebooks and of the student mathematics at
  the top of ``source_lib`` (:func:`student_modules`); never the grading
  engine (``softsign_grader/``), which only instructors and nbgrader run;
* ``README.md`` (how to start, locally or on Binder), ``pyproject.toml``
  (the library and the packages it needs, no instructor or test extras),
  ``environment.yml``, ``binder/`` (a Binder configuration that opens the
  notebooks), a ``Makefile`` with ``make lab``, ``.gitignore`` and ``LICENSE``.

Before it writes the archive, the build checks its own output with
:func:`~softsign_grader.leaks.release_leaks`: no instructor file, no nbgrader
solution or hidden-test region, no line of any instructor solution or hidden
test, anywhere in the release, and no function in its example code (doctests,
markdown code blocks) or in its notebooks' code cells that computes a graded
function. A leak stops the build
with the list of what leaked.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

import nbformat
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from softsign_grader.course import add_course_root_option, course_root_option, find_course_root
from softsign_grader.leaks import INSTRUCTOR_ONLY, release_leaks, solution_lines
from source_lib.grading.registry import CHECK_MODULES

__all__ = [
    "INSTRUCTOR_ONLY",
    "StudentRelease",
    "build_student_release",
    "commit_to_branch",
    "main",
    "release_leaks",
    "solution_lines",
    "student_modules",
]

#: The package whose student part is released.
PACKAGE = "source_lib"
#: Distributions every student environment needs besides the library's imports.
RUNTIME = ("jupyterlab", "ipykernel")
#: The default output folder, relative to the repository (``dist/`` is git-ignored).
DEFAULT_OUT = Path("dist") / "student-release"
TEMPLATES = Path(__file__).with_name("templates")


# --------------------------------------------------------------------------- modules


def _module_file(package_dir: Path, module: str) -> Path | None:
    """The file of ``module`` (``source_lib.a.b``) under ``package_dir``'s parent, if any."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = package_dir.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(source: str, module: str, is_package: bool) -> Iterator[str]:
    """Every ``source_lib`` module a piece of code may import (``from X import y``: X and X.y)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            yield name
            for alias in node.names:
                yield f"{name}.{alias.name}"


def _code_cells(notebook: Path) -> Iterator[str]:
    """The sources of a notebook's code cells, IPython magics and shell lines left out."""
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type == "code":
            yield "\n".join(
                line
                for line in cell.source.splitlines()
                if not line.lstrip().startswith(("%", "!"))
            )


def student_modules(package_dir: Path, notebooks: Iterable[Path]) -> dict[str, Path]:
    """The modules of ``package_dir`` that students need, by dotted name.

    The roots are the student mathematics (every module at the top of the
    package), the modules of the checks that the test cells call (the
    registry's :data:`~source_lib.grading.registry.CHECK_MODULES`) and every
    ``source_lib`` module the notebooks' code cells import; the imports of each
    module found are followed, and each module's parent packages are added.

    Raises
    ------
    ValueError
        If a module in :data:`INSTRUCTOR_ONLY` is needed, naming who imports it.
    """
    package_dir = Path(package_dir)
    pending: list[tuple[str, str]] = [
        (f"{PACKAGE}.{path.stem}" if path.stem != "__init__" else PACKAGE, "the package")
        for path in sorted(package_dir.glob("*.py"))
    ]
    pending += [(module, "the exercise registry") for module in CHECK_MODULES]
    for notebook in notebooks:
        for source in _code_cells(notebook):
            pending += [(name, notebook.name) for name in _imports(source, "__main__", False)]
    found: dict[str, Path] = {}
    while pending:
        name, importer = pending.pop()
        if any(name == banned or name.startswith(banned + ".") for banned in INSTRUCTOR_ONLY):
            raise ValueError(
                f"{importer} imports {name}, which is instructor-only; the student release "
                "cannot include it (move what students need out of it)"
            )
        path = _module_file(package_dir, name)
        if path is None or name in found:
            continue
        found[name] = path
        is_package = path.name == "__init__.py"
        pending += [
            (imported, name) for imported in _imports(path.read_text("utf-8"), name, is_package)
        ]
        parent = name.rpartition(".")[0]
        if parent:
            pending.append((parent, name))
    return found


def _third_party(sources: Iterable[str]) -> set[str]:
    """The top-level names of the non-``source_lib`` modules that ``sources`` import."""
    names = set()
    for source in sources:
        for name in _imports(source, "__main__", False):
            top = name.split(".")[0]
            if top and top != PACKAGE:
                names.add(top)
    return names


def _requirements(project: dict[str, Any], imported: set[str]) -> list[str]:
    """The course's own requirements (with their bounds) that the student release needs."""
    providers = packages_distributions()  # reads every installed distribution: call it once
    distributions = {
        canonicalize_name(dist) for module in imported for dist in providers.get(module, [])
    } | {canonicalize_name(name) for name in RUNTIME}
    return [
        spec
        for spec in project.get("dependencies", [])
        if canonicalize_name(Requirement(spec).name) in distributions
    ]


# --------------------------------------------------------------------------- build


@dataclass(frozen=True)
class StudentRelease:
    """What :func:`build_student_release` wrote.

    Attributes
    ----------
    folder : Path
        The student folder.
    archive : Path
        Its zip archive (one top-level folder, named like ``folder``).
    modules : list of str
        The ``source_lib`` modules it holds.
    commit : str or None
        The commit written with ``branch``, if any.
    """

    folder: Path
    archive: Path
    modules: list[str]
    commit: str | None = None


def _binder_repository(root: Path) -> str | None:
    """``owner/name`` of the GitHub remote ``origin``, if there is one."""
    try:
        url = subprocess.run(
            ["git", "-C", str(root), "remote", "get-url", "origin"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    match = re.search(r"github\.com[:/]([^/]+/[^/]+?)(?:\.git)?$", url)
    return match.group(1) if match else None


def _render(template: str, **values: str) -> str:
    """The template file with each ``@name@`` replaced by ``values[name]`` (all must be given)."""
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    left = re.findall(r"@[a-z_]+@", text)
    if left:
        raise ValueError(f"template {template}: no value for {', '.join(sorted(set(left)))}")
    return text


def _toml_list(items: Iterable[str]) -> str:
    return "[\n" + "".join(f"    {json.dumps(item)},\n" for item in items) + "]"


def _pyproject(project: dict[str, Any], requirements: list[str]) -> str:
    license_value = project.get("license", "MIT")
    if isinstance(license_value, dict):
        license_value = license_value.get("text", "MIT")
    return (
        "# The student edition of the softsign course: the notebooks' library, without\n"
        "# the instructor tooling. Generated by `make student-release`.\n"
        '[build-system]\nrequires = ["setuptools>=77"]\nbuild-backend = "setuptools.build_meta"\n\n'
        "[project]\n"
        f"name = {json.dumps(project['name'] + '-student')}\n"
        f"version = {json.dumps(project.get('version', '0.1.0'))}\n"
        f"description = {json.dumps('The softsign course for students: notebooks and library.')}\n"
        'readme = "README.md"\n'
        f"requires-python = {json.dumps(project.get('requires-python', '>=3.11'))}\n"
        f"license = {json.dumps(license_value)}\n"
        f"dependencies = {_toml_list(requirements)}\n\n"
        "[tool.setuptools.packages.find]\n"
        f'include = ["{PACKAGE}*"]\n\n'
        "[tool.setuptools.package-data]\n"
        f'{PACKAGE} = ["py.typed"]\n'
    )


def _environment(requirements: list[str], python: str, *, editable: bool) -> str:
    lines = [
        "# Conda environment for the softsign course (students). Generated by",
        "# `make student-release` from the course's pyproject.toml.",
        "name: softsign-course",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        f"  - python={python}",
        *(f"  - {spec}" for spec in requirements),
        "  - pip",
    ]
    if editable:
        lines += ["  - pip:", "      - -e .  # source_lib, the library the notebooks import"]
    return "\n".join(lines) + "\n"


def _copy_notebooks(source: Path, target: Path) -> list[Path]:
    """Copy every assignment folder of ``source`` (``notebooks/``); return the notebooks."""
    copied = []
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    for folder in sorted(path for path in source.iterdir() if path.is_dir()):
        shutil.copytree(folder, target / folder.name, ignore=ignore)
        copied += sorted((target / folder.name).rglob("*.ipynb"))
    if not copied:
        raise ValueError(f"no student notebooks under {source}: run `make notebooks` first")
    return copied


def build_student_release(
    out: Path,
    *,
    root: Path | None = None,
    binder_repository: str | None = None,
    binder_ref: str = "HEAD",
    branch: str | None = None,
    git_dir: Path | None = None,
) -> StudentRelease:
    """Write the student release of the course at ``root`` into ``out`` (replaced).

    Parameters
    ----------
    out : Path
        The folder to write; its zip archive is written beside it (``out.zip``).
    root : Path, optional
        The course repository (``notebooks/``, ``solutions/``, ``source_lib/``); by
        default :func:`~softsign_grader.course.find_course_root`.
    binder_repository : str, optional
        ``owner/name`` on GitHub for the Binder link; by default the ``origin``
        remote. Without either, the README has no Binder link.
    binder_ref : str
        The branch or tag the Binder link opens (``branch`` when one is given).
    branch : str, optional
        Also commit the folder on this git branch (see :func:`commit_to_branch`).
    git_dir : Path, optional
        The repository of ``branch``; by default ``root``'s.

    Raises
    ------
    ValueError
        When the notebooks are missing, an instructor-only module is needed,
        or the release leaks instructor content (the list of leaks).
    """
    root, out = Path(root) if root is not None else find_course_root(), Path(out)
    notebooks_dir = root / "notebooks"
    if not notebooks_dir.is_dir():
        raise ValueError(f"{notebooks_dir} does not exist: run `make notebooks` first")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    notebooks = _copy_notebooks(notebooks_dir, out / "notebooks")
    modules = _copy_library(root, out, notebooks)
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    sources = [path.read_text(encoding="utf-8") for path in modules.values()]
    sources += [source for notebook in notebooks for source in _code_cells(notebook)]
    requirements = _requirements(project, _third_party(sources))
    repository = binder_repository or _binder_repository(root)
    first = _write_readme(out, notebooks, repository, branch or binder_ref)
    _write_environments(out, project, requirements)
    (out / "Makefile").write_text(
        _render("student_Makefile", first_notebook=first), encoding="utf-8"
    )
    (out / ".gitignore").write_text(
        ".venv/\n__pycache__/\n*.egg-info/\n.ipynb_checkpoints/\n", encoding="utf-8"
    )
    if (root / "LICENSE").is_file():
        shutil.copy2(root / "LICENSE", out / "LICENSE")

    leaks = release_leaks(out, root / "solutions")
    if leaks:
        raise ValueError(
            f"the student release in {out} holds instructor content:\n  " + "\n  ".join(leaks)
        )
    archive = Path(shutil.make_archive(str(out), "zip", root_dir=out.parent, base_dir=out.name))
    commit = None
    if branch:
        commit = commit_to_branch(out, branch, git_dir or root)
    return StudentRelease(out, archive, sorted(modules), commit)


def _copy_library(root: Path, out: Path, notebooks: list[Path]) -> dict[str, Path]:
    """Copy the modules of ``source_lib`` that students need; return them by name."""
    package_dir = root / PACKAGE
    modules = student_modules(package_dir, notebooks)
    for path in modules.values():
        target = out / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    for marker in package_dir.rglob("py.typed"):
        if (out / marker.relative_to(root)).parent.is_dir():
            shutil.copy2(marker, out / marker.relative_to(root))
    return modules


def _write_readme(out: Path, notebooks: list[Path], repository: str | None, ref: str) -> str:
    """Write the student README; return the first notebook's path.

    The Binder badge and its instructions are written only when the repository
    is known (``--binder-repo`` or a GitHub ``origin``): a placeholder link is
    one students cannot fix.
    """
    first = notebooks[0].relative_to(out).as_posix()
    badge = start = ""
    if repository:
        binder = f"https://mybinder.org/v2/gh/{repository}/{ref}?urlpath=lab/tree/{first}"
        badge = f"\n[![Open in Binder](https://mybinder.org/badge_logo.svg)]({binder})\n"
        start = (
            "\n**In the browser, nothing to install:** follow the *Open in Binder* link\n"
            f"above. It opens JupyterLab on `{first}`. Binder does not keep your\n"
            "work: download your notebooks (*File > Download*) before you close the tab.\n"
        )
    (out / "README.md").write_text(
        _render(
            "student_README.md",
            binder_badge=badge,
            binder_start=start,
            first_notebook=first,
            notebook_list="\n".join(
                f"- `{path.relative_to(out).as_posix()}`: {_title(path)}" for path in notebooks
            ),
        ),
        encoding="utf-8",
    )
    return first


def _title(notebook: Path) -> str:
    """The text of the notebook's first heading (its title), or its file name."""
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        if cell.get("cell_type") != "markdown":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        for line in source.splitlines():
            if line.startswith("#"):
                return line.lstrip("#").strip()
    return notebook.stem


def _write_environments(out: Path, project: dict[str, Any], requirements: list[str]) -> None:
    """Write ``pyproject.toml``, ``environment.yml`` and Binder's files for ``requirements``."""
    python = project.get("requires-python", ">=3.11").lstrip(">=~ ").split(",")[0]
    (out / "pyproject.toml").write_text(_pyproject(project, requirements), encoding="utf-8")
    (out / "environment.yml").write_text(
        _environment(requirements, python, editable=True), encoding="utf-8"
    )
    (out / "binder").mkdir()
    (out / "binder" / "environment.yml").write_text(
        _environment(requirements, python, editable=False), encoding="utf-8"
    )
    (out / "binder" / "postBuild").write_text(_render("student_postBuild"), encoding="utf-8")
    (out / "binder" / "postBuild").chmod(0o755)


# --------------------------------------------------------------------------- git


def _git(args: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(["git", *args], capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def commit_to_branch(
    folder: Path, branch: str, repository: Path, message: str | None = None
) -> str:
    """Commit ``folder``'s files as the whole tree of ``branch`` in ``repository``; return it.

    The commit is made with a temporary index and ``folder`` as the work
    tree, so the repository's own work tree, index and checked-out branch are
    never touched. A new branch starts with no parent (an orphan, sharing no
    history with the course); an existing one gets a new commit on top, or
    none when the tree has not changed.

    Raises
    ------
    ValueError
        When ``branch`` is the branch checked out in ``repository``.
    RuntimeError
        When git fails (with its message).
    """
    git_dir = _git(["-C", str(repository), "rev-parse", "--absolute-git-dir"], dict(os.environ))
    ref = f"refs/heads/{branch}"
    base = {**os.environ, "GIT_DIR": git_dir}
    _git(["check-ref-format", ref], base)
    head = subprocess.run(
        ["git", "symbolic-ref", "-q", "HEAD"], capture_output=True, text=True, env=base, check=False
    ).stdout.strip()
    if head == ref and _git(["rev-parse", "--is-bare-repository"], base) == "false":
        raise ValueError(f"{branch} is checked out in {repository}; name another branch")
    with tempfile.TemporaryDirectory() as scratch:
        env = {**base, "GIT_INDEX_FILE": str(Path(scratch) / "index"), "GIT_WORK_TREE": str(folder)}
        _git(["-C", str(folder), "add", "--all", "--force", "."], env)
        tree = _git(["write-tree"], env)
    parent = subprocess.run(
        ["git", "rev-parse", "--verify", "-q", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        env=base,
        check=False,
    ).stdout.strip()
    if parent and _git(["rev-parse", f"{parent}^{{tree}}"], base) == tree:
        return parent
    text = message or "Student release of the softsign course (make student-release)"
    commit = _git(["commit-tree", tree, "-m", text, *(["-p", parent] if parent else [])], base)
    _git(["update-ref", ref, commit, *([parent] if parent else [])], base)
    return commit


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m softsign_grader.student_release [--out D] [--branch B]``."""
    parser = argparse.ArgumentParser(
        prog="make student-release",
        description="Write the student release: notebooks and library, without solutions.",
    )
    add_course_root_option(parser)
    parser.add_argument(
        "--out", type=Path, help=f"folder to write, replaced (default: COURSE_ROOT/{DEFAULT_OUT})"
    )
    parser.add_argument("--branch", help="also commit the release on this git branch")
    parser.add_argument(
        "--binder-repo", help="OWNER/NAME on GitHub for the Binder link (default: origin)"
    )
    parser.add_argument(
        "--binder-ref", default="HEAD", help="branch or tag for the Binder link (default: HEAD)"
    )
    args = parser.parse_args(argv)
    root = course_root_option(parser, args)
    try:
        release = build_student_release(
            args.out or root / DEFAULT_OUT,
            root=root,
            binder_repository=args.binder_repo,
            binder_ref=args.binder_ref,
            branch=args.branch,
        )
    except (ValueError, RuntimeError, FileNotFoundError) as error:
        print(f"student release: {error}", file=sys.stderr)
        return 1
    print(f"Wrote {release.folder} ({len(release.modules)} modules) and {release.archive}")
    if release.commit:
        print(f"Branch {args.branch} is at {release.commit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
