"""The project's two package lists (pip and conda) and its set-up files agree."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from repo_root import REPO_ROOT

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


# --------------------------------------------------------------------------- make targets


def _make_dry_run(*arguments: str) -> str:
    """The commands ``make -n`` would run here, with this interpreter's environment as .venv."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    environment = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS"}}
    result = subprocess.run(
        ["make", "-n", "--no-print-directory", f"VENV={sys.prefix}", *arguments],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env=environment,
        check=True,
    )
    return result.stdout


#: ``make -o`` arguments that take both install stamps as done (this interpreter is the venv).
_INSTALLED = ("-o", f"{sys.prefix}/.installed-lab", "-o", f"{sys.prefix}/.installed-dev")


def _pytest_commands(dry_run: str) -> list[str]:
    return [line for line in dry_run.splitlines() if " -m pytest" in line]


def test_make_check_is_the_fast_lane():
    (command,) = _pytest_commands(_make_dry_run(*_INSTALLED, "check"))
    assert '-m "not slow and not browser"' in command
    assert "--nbval" not in command
    markers = {
        line.split(":")[0] for line in _pyproject()["tool"]["pytest"]["ini_options"]["markers"]
    }
    assert {"slow", "browser"} <= markers


def test_make_test_runs_lint_and_every_test_with_nbval():
    dry_run = _make_dry_run(*_INSTALLED, "test")
    for tool in ("ruff check .", "ruff format --check .", "-m mypy"):
        assert tool in dry_run, f"make test does not run {tool}"
    (command,) = _pytest_commands(dry_run)
    assert " -m " not in command.split("pytest", 1)[1], "make test must not deselect tests"
    for option in (
        "--nbval",
        "--nbval-current-env",
        "--nbval-sanitize-with=tests/nbval_sanitize.cfg",
        "--nbval-cell-timeout=",
    ):
        assert option in command


def test_pytest_runs_without_nbval_when_asked():
    """addopts leave nbval to the Makefile, so ``-p no:nbval`` works."""
    addopts = _pyproject()["tool"]["pytest"]["ini_options"]["addopts"]
    assert not [option for option in addopts if option.startswith("--nbval")]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:nbval",
            "--noconftest",  # quicker: the fixtures import nbgrader
            "--collect-only",
            "-q",
            "tests/test_validation.py",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_install_uses_the_constraints():
    makefile = (REPO_ROOT / "Makefile").read_text()
    for stamp in ("LAB_STAMP", "DEV_STAMP"):
        assert re.search(rf"^\$\({stamp}\):.*\bconstraints\.txt\b", makefile, re.MULTILINE)
    # The pip runs each target makes, with the constraints: the two tests below.


@pytest.mark.parametrize("target", ["lab", "grade", "grade-demo", "report"])
def test_the_course_targets_install_no_developer_tools(target: str):
    dry_run = _make_dry_run("-W", "constraints.txt", target)
    assert re.search(r"pip install .*-c constraints\.txt -e \.$", dry_run, re.MULTILINE), dry_run
    assert "[dev]" not in dry_run


@pytest.mark.parametrize("target", ["install", "check", "lint", "test"])
def test_the_developer_targets_install_the_dev_extra(target: str):
    dry_run = _make_dry_run("-W", "constraints.txt", target)
    assert re.search(r"pip install .*-c constraints\.txt -e \"\.\[dev\]\"", dry_run), dry_run


# --------------------------------------------------------------------------- metadata and pins


def _requirements() -> dict[str, Requirement]:
    """Every requirement of the course, runtime and extras, by normalised name."""
    project = _pyproject()["project"]
    found = {}
    for text in [
        *project["dependencies"],
        *itertools.chain(*project["optional-dependencies"].values()),
    ]:
        requirement = Requirement(text)
        if canonicalize_name(requirement.name) != canonicalize_name(project["name"]):
            found[canonicalize_name(requirement.name)] = requirement
    return found


def test_the_license_is_spdx_mit_with_its_file():
    project = _pyproject()["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    text = (REPO_ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "the softsign course authors" in text
    build = _pyproject()["build-system"]["requires"]
    (setuptools,) = (Requirement(r) for r in build if Requirement(r).name == "setuptools")
    assert setuptools.specifier.contains("77.0.0")  # the first to read SPDX license fields
    assert not setuptools.specifier.contains("76.1.0")


def test_test_and_dev_tools_are_extras_not_runtime_dependencies():
    project = _pyproject()["project"]
    runtime = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    extras = project["optional-dependencies"]
    test = {canonicalize_name(Requirement(r).name) for r in extras["test"]}
    dev = {canonicalize_name(Requirement(r).name) for r in extras["dev"]}
    tools = {"pytest", "hypothesis", "nbval", "playwright", "pytest-timeout", "ruff", "mypy"}
    assert not runtime & tools, f"test tools among the runtime dependencies: {runtime & tools}"
    assert {"pytest", "hypothesis", "nbval", "playwright", "pytest-timeout"} <= test
    assert {"softsign-course", "ruff", "mypy"} <= dev


@pytest.mark.parametrize(
    ("name", "allowed", "refused"),
    [
        ("numpy", ["2.0.0"], ["1.26.4"]),  # the doctests print NumPy 2 reprs
        ("nbgrader", ["0.9.5", "0.9.6"], ["0.9.4", "0.10.0"]),  # the plugins use 0.9 internals
        ("jupyterlab", ["4.2.0"], ["4.1.8", "5.0.0"]),  # nbgrader 0.9.5's own bounds
    ],
)
def test_bounds_match_what_is_tested(name, allowed, refused):
    specifier = _requirements()[name].specifier
    assert all(specifier.contains(version) for version in allowed), specifier
    assert not any(specifier.contains(version) for version in refused), specifier


def test_constraints_pin_every_requirement_within_its_bounds():
    pins: dict[str, Version] = {}
    for line in (REPO_ROOT / "constraints.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line.strip())
        assert match, f"constraints.txt pins exact versions only (name==version), got {line!r}"
        pins[canonicalize_name(match[1])] = Version(match[2])
    for name, requirement in _requirements().items():
        assert name in pins, f"constraints.txt does not pin {name}: run `make constraints`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, outside {requirement}"
        )
