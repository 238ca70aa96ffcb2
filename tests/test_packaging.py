"""The project's two package lists (pip and conda) and its set-up files agree."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from source_lib.instructor.course import REPO_ROOT

REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$")


def _split(requirement: str) -> tuple[str, str]:
    match = REQUIREMENT_NAME.match(requirement)
    assert match, f"cannot parse requirement {requirement!r}"
    name, spec = match.groups()
    return name.lower().replace("_", "-"), spec.split("#")[0].strip().replace(" ", "")


def _pyproject() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def _conda_dependencies() -> dict[str, str]:
    """Top-level conda dependencies of environment.yml, without the pip section."""
    dependencies: dict[str, str] = {}
    in_dependencies = False
    for line in (REPO_ROOT / "environment.yml").read_text().splitlines():
        if line.startswith("dependencies:"):
            in_dependencies = True
            continue
        if in_dependencies and re.match(r"^  - [^ ]", line):
            entry = line[4:].split("#")[0].strip()
            if entry.startswith("pip:") or not entry:
                continue
            name, spec = _split(
                entry.replace("=", "==", 1)
                if "=" in entry and ">" not in entry and "<" not in entry
                else entry
            )
            dependencies[name] = spec
    return dependencies


def test_conda_and_pip_list_the_same_runtime_packages():
    pip_side = dict(_split(r) for r in _pyproject()["project"]["dependencies"])
    conda_side = _conda_dependencies()
    conda_side.pop("python", None)
    conda_side.pop("pip", None)
    assert pip_side == conda_side, (
        "environment.yml and pyproject.toml disagree:\n"
        f"  only in pyproject.toml: {sorted(set(pip_side) - set(conda_side))}\n"
        f"  only in environment.yml: {sorted(set(conda_side) - set(pip_side))}\n"
        f"  different versions: "
        f"{sorted(n for n in set(pip_side) & set(conda_side) if pip_side[n] != conda_side[n])}"
    )


def test_conda_environment_installs_the_course_library():
    text = (REPO_ROOT / "environment.yml").read_text()
    assert re.search(r"^\s+- -e \.", text, re.MULTILINE), "environment.yml must pip-install -e ."


def test_python_version_agrees():
    requires = _pyproject()["project"]["requires-python"]
    text = (REPO_ROOT / "environment.yml").read_text()
    conda_python = re.search(r"- python=(\d+\.\d+)", text).group(1)
    assert requires == f">={conda_python}"


def test_ci_runs_the_readme_test_command():
    readme = (REPO_ROOT / "README.md").read_text()
    assert "make test" in readme
    assert "make lab" in readme
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert re.search(r"^\s*make test\b", ci, re.MULTILINE)


def test_makefile_lab_allows_root_only_when_root():
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "--allow-root" in makefile
    assert re.search(r"filter 0,\$\(shell id -u\)", makefile)


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_is_clean_notebooks_included(command):
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run(
        [str(ruff), *command, "."], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
