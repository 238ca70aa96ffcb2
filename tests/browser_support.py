"""Helpers for the browser tests in ``tests/test_browser.py``.

Three pieces, none of which imports Playwright at module level (so that this
module loads, and its doctests run, where the browser stack is missing):

* :func:`plan_notebook` reads a student notebook and its instructor version and
  says what a browser run must show: the exercises (from the nbgrader
  metadata: solution cells define the graded functions, test cells have
  ``grade: true``) and the figures (the image outputs of the instructor
  notebook, cell by cell). The rules a run's outputs must follow
  (:func:`unimplemented_exercise_error`, :func:`friendly_failure_problems`) are
  shared with ``tests/test_student_notebooks_run.py``, which runs every
  student notebook in a kernel without a browser.
* :func:`start_lab` starts JupyterLab with ``make lab`` itself, in a scratch copy
  of the course, on a free localhost port with a token; :class:`LabServer`
  talks to its REST API and shuts it down.
* :func:`open_lab` loads JupyterLab in a page; :class:`NotebookUI` then drives
  one notebook in it: opens it from the file browser, waits until it is
  rendered and its kernel is idle, runs cells through the menus, reads prompts
  and outputs, takes screenshots, and closes it without saving.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import nbformat
import pytest
from repo_root import REPO_ROOT

from softsign_grader.course import ASSIGNMENT, make_course

if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import Browser, Locator, Page

__all__ = [
    "ARTIFACTS",
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "STUDENT_DIR",
    "Exercise",
    "LabServer",
    "NotebookPlan",
    "NotebookUI",
    "friendly_failure_problems",
    "headless_chromium",
    "image_outputs",
    "not_implemented",
    "open_lab",
    "plan_notebook",
    "start_lab",
    "student_notebooks",
    "unavailable",
    "unimplemented_exercise_error",
]

#: The student notebooks, as released to students (what ``make lab`` opens).
STUDENT_DIR = REPO_ROOT / "notebooks" / ASSIGNMENT
#: The instructor notebooks, committed with their outputs (the figures to expect).
SOLUTION_DIR = REPO_ROOT / "solutions" / ASSIGNMENT
#: Screenshots and the JupyterLab log (``test-artifacts/`` is git-ignored).
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
#: Screenshots of the class report (kept apart: the JupyterLab tests clear ``ARTIFACTS``).
REPORT_ARTIFACTS = REPO_ROOT / "test-artifacts" / "report"

#: Each image of a page: loaded, its natural width and its alt text.
IMAGES_JS = """
() => Array.from(document.images).map(image => ({
  complete: image.complete, width: image.naturalWidth, alt: image.alt
}))
"""

#: Command-line switches for Chromium: headless, no GPU, nothing fetched from the network.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

#: Debian's Chromium; another build can be named with the CHROMIUM environment variable.
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))


def unavailable(reason: str) -> NoReturn:
    """Skip, or under CI fail: CI must never skip the browser tests silently."""
    if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
        pytest.fail(f"browser tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def headless_chromium() -> Iterator[Browser]:
    """A headless :data:`CHROMIUM` started with :data:`CHROMIUM_ARGS`, closed afterwards.

    Without Playwright or Chromium the test is skipped (:func:`unavailable`: failed
    under CI).
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed (pip install -e '.[test]')")
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            browser.close()


#: JupyterLab user settings for the test: no news or update pop-up over the notebook.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}

_DEF = re.compile(r"^def\s+(\w+)\s*\(", re.MULTILINE)
_CHECK_CALL = re.compile(r"\bcheck_\w+\(\s*(\w+)\s*,")
_PROMPT = re.compile(r"\[(\d+)\]")
_NOT_IMPLEMENTED = re.compile(r"^NotImplementedError\b", re.MULTILINE)


# --------------------------------------------------------------------------- notebooks


@dataclass(frozen=True)
class Exercise:
    """One graded function of a notebook.

    Attributes
    ----------
    function : str
        The function the student writes (``def NAME(`` in the solution cell).
    solution_cell : int
        Index of the solution cell in the notebook.
    test_cells : tuple of int
        Indices of the test cells (nbgrader ``grade: true``) that check it.
    """

    function: str
    solution_cell: int
    test_cells: tuple[int, ...]


@dataclass(frozen=True)
class NotebookPlan:
    """What a browser run of one student notebook must show.

    Attributes
    ----------
    name : str
        File name, e.g. ``01_softsign_definition.ipynb``.
    cells : tuple
        The notebook's cells (nbformat nodes), in order.
    kernel_display_name : str
        The kernel name JupyterLab shows in the notebook toolbar.
    exercises : tuple of Exercise
        The graded functions, in notebook order.
    figures : dict
        ``{cell index: number of images}`` for every cell whose instructor
        version has image outputs.
    """

    name: str
    cells: tuple[Any, ...]
    kernel_display_name: str
    exercises: tuple[Exercise, ...]
    figures: dict[int, int]

    @property
    def title(self) -> str:
        """The text of the notebook's first ``# `` heading (markdown markup removed)."""
        for cell in self.cells:
            if cell.cell_type == "markdown":
                for line in cell.source.splitlines():
                    if line.startswith("# "):
                        return re.sub(r"[`*_]", "", line[2:]).strip()
        raise ValueError(f"{self.name} has no '# ' title")

    @property
    def code_cells(self) -> list[int]:
        """Indices of the code cells that are not empty (JupyterLab skips empty ones)."""
        return [
            i
            for i, cell in enumerate(self.cells)
            if cell.cell_type == "code" and cell.source.strip()
        ]

    @property
    def markdown_cells(self) -> list[int]:
        """Indices of the markdown cells."""
        return [i for i, cell in enumerate(self.cells) if cell.cell_type == "markdown"]

    @property
    def has_math(self) -> bool:
        """Whether any markdown cell contains TeX math (``$...$``)."""
        return any("$" in self.cells[i].source for i in self.markdown_cells)

    @property
    def solutions(self) -> set[int]:
        """Indices of the solution cells."""
        return {exercise.solution_cell for exercise in self.exercises}

    @property
    def tests(self) -> dict[int, Exercise]:
        """``{test cell index: the exercise it checks}``."""
        return {i: exercise for exercise in self.exercises for i in exercise.test_cells}


def _nbgrader(cell: Any) -> dict[str, Any]:
    return dict(cell.get("metadata", {}).get("nbgrader", {}))


def student_notebooks() -> list[str]:
    """Return the file names of the student notebooks, in course order."""
    return sorted(path.name for path in STUDENT_DIR.glob("*.ipynb"))


def plan_notebook(name: str) -> NotebookPlan:
    """Read the student notebook ``name`` (and its instructor version) into a plan.

    Exercises come from the nbgrader metadata: each solution cell defines one or
    more graded functions (``def NAME(``), and each test cell (``grade: true``)
    checks the function passed to its ``check_...(NAME, ...)`` call. Figures are
    the image outputs of the committed instructor notebook, matched by cell id.

    Raises
    ------
    ValueError
        When a test cell checks no function defined in a solution cell, or an
        exercise has no test cell.
    """
    notebook = nbformat.read(STUDENT_DIR / name, as_version=4)
    cells = tuple(notebook.cells)
    solutions: dict[str, int] = {}
    tests: dict[str, list[int]] = {}
    for index, cell in enumerate(cells):
        meta = _nbgrader(cell)
        if cell.cell_type != "code":
            continue
        if meta.get("solution"):
            for function in _DEF.findall(cell.source):
                solutions[function] = index
        if meta.get("grade"):
            called = _CHECK_CALL.findall(cell.source)
            if not called:
                raise ValueError(f"{name}: test cell {index} calls no check_...(function, ...)")
            tests.setdefault(called[0], []).append(index)
    unknown = sorted(set(tests) - set(solutions))
    if unknown:
        raise ValueError(f"{name}: test cells check {unknown}, defined in no solution cell")
    untested = sorted(set(solutions) - set(tests))
    if untested:
        raise ValueError(f"{name}: exercises without a test cell: {untested}")
    exercises = tuple(
        Exercise(function, solutions[function], tuple(tests[function]))
        for function in sorted(solutions, key=solutions.__getitem__)
    )

    instructor = nbformat.read(SOLUTION_DIR / name, as_version=4)
    images = {
        cell.get("id"): image_outputs(cell) for cell in instructor.cells if cell.cell_type == "code"
    }
    figures = {
        index: images[cell.get("id")]
        for index, cell in enumerate(cells)
        if images.get(cell.get("id"), 0) > 0
    }
    kernelspec = notebook.metadata.get("kernelspec", {})
    return NotebookPlan(
        name=name,
        cells=cells,
        kernel_display_name=kernelspec.get("display_name", "Python 3 (ipykernel)"),
        exercises=exercises,
        figures=figures,
    )


def image_outputs(cell: Any) -> int:
    """How many outputs of a code cell (an nbformat node) hold an image."""
    return sum(
        1
        for output in cell.get("outputs", [])
        if any(mime.startswith("image/") for mime in output.get("data", {}))
    )


def not_implemented(error: str) -> bool:
    """Whether a cell's error text is a ``NotImplementedError`` (a line starts with its name).

    Examples
    --------
    >>> not_implemented("NotImplementedError: "), not_implemented("ValueError: NotImplementedError")
    (True, False)
    """
    return bool(_NOT_IMPLEMENTED.search(error))


def unimplemented_exercise_error(plan: NotebookPlan, index: int, error: str) -> bool:
    """Whether ``error``, shown by cell ``index``, is an exercise not done yet.

    That is the only reason a cell other than a test cell may fail on Run All:
    its source uses a function of one of the notebook's exercises, and the
    error is the ``NotImplementedError`` that function raises until the
    student writes it.
    """
    source = plan.cells[index].source
    uses_exercise = any(re.search(rf"\b{e.function}\b", source) for e in plan.exercises)
    return uses_exercise and not_implemented(error)


def friendly_failure_problems(text: str, function: str) -> list[str]:
    """List what is wrong with a test cell's output for an unimplemented ``function``.

    The output must be the check functions' short message (a ``CheckFailure``,
    an ``AssertionError``, saying ``"<function>: not implemented yet"``), not a
    ``NotImplementedError`` traceback, and must not show frames inside
    ``source_lib``. Returns an empty list when all is well.

    Examples
    --------
    >>> good = '''CheckFailure                              Traceback (most recent call last)
    ... ----> 4 check_softsign(softsign, "values")
    ... CheckFailure: softsign: not implemented yet
    ...   hint:     replace `raise NotImplementedError()` in `softsign` with your code'''
    >>> friendly_failure_problems(good, "softsign")
    []
    >>> bare = '''NotImplementedError                       Traceback (most recent call last)
    ... File source_lib/grading/exercises.py:590, in call_student
    ... NotImplementedError: '''
    >>> len(friendly_failure_problems(bare, "softsign"))
    4
    """
    problems = []
    if f"{function}: not implemented yet" not in text:
        problems.append(f"no '{function}: not implemented yet' message")
    if not re.search(r"^(?:[\w.]+\.)?(?:CheckFailure|AssertionError)\b", text, re.MULTILINE):
        problems.append("the error is not a CheckFailure/AssertionError")
    if not_implemented(text):
        problems.append("a bare NotImplementedError traceback")
    if re.search(r"source_lib[/\\][\w/\\]*\.py", text):
        problems.append("traceback frames inside source_lib")
    if len(text.strip().splitlines()) > 30:
        problems.append("more than 30 lines of output")
    return problems


# --------------------------------------------------------------------------- server


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LabServer:
    """A running JupyterLab started by :func:`start_lab`.

    Attributes
    ----------
    url : str
        Base URL, ``http://127.0.0.1:PORT``.
    token : str
        The server's token.
    course : Path
        The scratch copy of the course (the server's working directory).
    root : Path
        The folder of the student notebooks (``course/notebooks/softsign``).
    runtime_dir : Path
        ``JUPYTER_RUNTIME_DIR`` of the server (kernel connection files).
    process : subprocess.Popen
        ``make lab``, leader of its own process group.
    log : Path
        The server's output.
    """

    url: str
    token: str
    course: Path
    root: Path
    runtime_dir: Path
    process: subprocess.Popen[bytes]
    log: Path

    def api(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        """Call the server's REST API and return the decoded JSON reply (None if empty)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            content = reply.read()
        return json.loads(content) if content else None

    def log_tail(self, lines: int = 40) -> str:
        """The last lines the server wrote."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def restore(self, name: str) -> None:
        """Put back the pristine student notebook ``name`` (earlier tests may have saved it)."""
        shutil.copy2(STUDENT_DIR / name, self.root / name)
        shutil.rmtree(self.root / ".ipynb_checkpoints", ignore_errors=True)

    def shutdown_sessions(self) -> None:
        """Shut down every notebook session and its kernel."""
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}")

    def kernel_commands(self) -> dict[str, list[str]]:
        """Return ``{kernel id: command line}`` of the running kernels (read from ``/proc``)."""
        commands = {}
        for kernel in self.api("GET", "/api/kernels"):
            pid = self._kernel_pid(kernel["id"])
            if pid is not None:
                raw = Path(f"/proc/{pid}/cmdline").read_bytes()
                commands[kernel["id"]] = raw.decode().rstrip("\0").split("\0")
        return commands

    def _kernel_pid(self, kernel_id: str) -> int | None:
        needle = f"kernel-{kernel_id}.json"
        for pid, command in _processes_mentioning(str(self.runtime_dir)):
            if needle in command:
                return pid
        return None

    def stop(self) -> None:
        """Shut the server down: politely through the API, then by signal; kernels too."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError):  # URLError is an OSError
                self.api("POST", "/api/shutdown", timeout=10)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    _signal_group(self.process.pid, signal.SIGKILL)
                    self.process.wait(timeout=10)
        _signal_group(self.process.pid, signal.SIGKILL)  # anything left in make's group
        # Kernels run in sessions of their own: end the ones this server started.
        for pid, _ in _processes_mentioning(str(self.runtime_dir)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _processes_mentioning(text: str) -> list[tuple[int, str]]:
    """Return ``(pid, command line)`` of this user's processes whose command line has ``text``."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            command = (entry / "cmdline").read_bytes().decode(errors="replace").replace("\0", " ")
        except OSError:
            continue
        if text in command:
            found.append((int(entry.name), command))
    return found


def lab_environment(home: Path) -> dict[str, str]:
    """The server's environment: this one, with Jupyter's per-user folders under ``home``.

    User-level kernels, settings and workspaces of whoever runs the tests then
    cannot change what the test sees; the course's ``.venv`` kernel is the only
    ``python3``. Variables of an outer ``make`` are dropped so that the inner
    ``make lab`` sees only its own command line.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"JUPYTER_PATH", "JUPYTER_CONFIG_PATH", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"}
    }
    folders = {
        "JUPYTER_CONFIG_DIR": "config",
        "JUPYTER_DATA_DIR": "data",
        "JUPYTER_RUNTIME_DIR": "runtime",
        "JUPYTERLAB_SETTINGS_DIR": "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
    }
    for variable, folder in folders.items():
        path = home / folder
        path.mkdir(parents=True, exist_ok=True)
        env[variable] = str(path)
    for relative, settings in LAB_SETTINGS.items():
        target = home / "lab-settings" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(settings))
    return env


def lab_command(port: int, token: str) -> list[str]:
    """``make lab`` from the repository's Makefile, with the environment running the tests.

    ``LAB_ARGS`` adds what a test needs on top of the student's command: no
    browser of JupyterLab's own, a fixed localhost port and a token. ``-o``
    marks the environment as installed (it is: these tests run in it).
    """
    venv = Path(sys.prefix)
    lab_args = [
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
    ]
    return [
        "make",
        "--no-print-directory",
        "-f",
        str(REPO_ROOT / "Makefile"),
        "-o",
        f"{venv}/.installed-lab",
        "lab",
        f"VENV={venv}",
        f"LAB_ARGS={' '.join(lab_args)}",
    ]


def start_lab(workdir: Path, log: Path, timeout: float = 120) -> LabServer:
    """Start JupyterLab as ``make lab`` does, in a copy of the course under ``workdir``.

    The copy (``nbgrader_config.py``, ``solutions/``, ``notebooks/``) is the
    server's working directory and root, where nbgrader's validate handler and
    formgrader look for the course; ``make lab`` opens its first student notebook.
    Tests may then run and save notebooks without touching the repository.

    Raises
    ------
    RuntimeError
        If the server exits or does not answer within ``timeout`` seconds (with
        the end of its log).
    """
    course = make_course(workdir / "course", release=True)
    env = lab_environment(workdir / "jupyter-home")
    log.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(24)
    port = free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            lab_command(port, token),
            cwd=course,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LabServer(
        url=f"http://127.0.0.1:{port}",
        token=token,
        course=course,
        root=course / "notebooks" / ASSIGNMENT,
        runtime_dir=Path(env["JUPYTER_RUNTIME_DIR"]),
        process=process,
        log=log,
    )
    deadline = time.monotonic() + timeout
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited early:\n{server.log_tail()}")
            try:
                server.api("GET", "/api/status", timeout=5)
                return server
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"JupyterLab did not answer within {timeout:.0f} s:\n{server.log_tail()}"
                    ) from None
                time.sleep(0.3)
    except BaseException:
        server.stop()
        raise


# --------------------------------------------------------------------------- page

_STATE_JS = """
() => {
  const cells = Array.from(document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell'));
  const toolbar = document.querySelector('.jp-NotebookPanel-toolbar');
  return {
    prompts: cells.map(c => {
      const p = c.querySelector('.jp-InputPrompt');
      return p ? p.textContent.trim() : '';
    }),
    rendered: cells.map(c => c.classList.contains('jp-mod-rendered')),
    kernel: toolbar?.querySelector('.jp-KernelName')?.textContent.trim() ?? '',
    status: toolbar?.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status ?? '',
  };
}
"""

_OUTPUTS_JS = """
cell => Array.from(cell.querySelectorAll('.jp-OutputArea-output')).map(
  o => [o.dataset.mimeType ?? '', o.textContent])
"""

_IMAGES_JS = """
cell => Array.from(cell.querySelectorAll('.jp-OutputArea-output img')).filter(
  i => i.complete && i.naturalWidth > 0).length
"""


def execution_count(prompt: str) -> int | None:
    """The number in an input prompt such as ``[12]:`` (None for ``[ ]:`` or ``[*]:``).

    Examples
    --------
    >>> execution_count("[12]:"), execution_count("[*]:"), execution_count("[ ]:")
    (12, None, None)
    """
    match = _PROMPT.search(prompt)
    return int(match.group(1)) if match else None


def open_lab(page: Page, lab: LabServer, workspace: str, timeout: float = 120) -> None:
    """Load JupyterLab in ``page`` (a new workspace), its file browser in the notebooks' folder."""
    folder = lab.root.relative_to(lab.course).as_posix()
    page.goto(f"{lab.url}/lab/workspaces/{workspace}/tree/{folder}?token={lab.token}")
    page.locator(".jp-DirListing-item").first.wait_for(timeout=timeout * 1000)


class NotebookUI:
    """One notebook in a JupyterLab page, driven the way a student would.

    Parameters
    ----------
    page : playwright.sync_api.Page
        A page showing JupyterLab (see :func:`open_lab`) with no notebook open.
    plan : NotebookPlan
        The notebook's plan (cell count, exercises, figures).
    artifacts : Path
        Folder for this test's screenshots.
    """

    def __init__(self, page: Page, plan: NotebookPlan, artifacts: Path) -> None:
        self.page = page
        self.plan = plan
        self.artifacts = artifacts
        self.artifacts.mkdir(parents=True, exist_ok=True)

    # -- opening and closing ------------------------------------------------

    def open(self, timeout: float = 120) -> None:
        """Open the notebook from the file browser and wait until it is usable.

        Usable means: every cell is in the page, every markdown cell is
        rendered, the toolbar names the notebook's kernel and that kernel is idle.
        """
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        name = self.page.locator(".jp-DirListing-itemText", has_text=self.plan.name)
        panel = self.page.locator(".jp-NotebookPanel")
        for attempt in range(3):  # a listing refreshed mid-double-click swallows it
            self.page.locator(".jp-DirListing-item", has=name).dblclick()
            try:
                panel.first.wait_for(timeout=15_000)
                break
            except PlaywrightTimeout:
                if attempt == 2:
                    raise
        self.wait_for(self._usable, "the notebook to render with an idle kernel", timeout)

    def close(self) -> None:
        """Dismiss any dialog, then close every tab without saving."""
        page = self.page
        while page.locator(".jp-Dialog").count():
            page.keyboard.press("Escape")
            page.wait_for_timeout(200)
        self.menu("File", "application:close-all")
        discard = page.locator(".jp-Dialog .jp-Dialog-button", has_text="Discard")
        deadline = time.monotonic() + 30
        while page.locator(".jp-NotebookPanel").count():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.plan.name} does not close")
            if discard.count():
                discard.first.click()
            page.wait_for_timeout(200)

    def _usable(self, state: dict[str, Any]) -> bool:
        cells = self.plan.cells
        return (
            len(state["prompts"]) == len(cells)
            and all(state["rendered"][i] for i in self.plan.markdown_cells)
            and state["kernel"] == self.plan.kernel_display_name
            and state["status"] == "idle"
        )

    # -- state ---------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Prompts, rendered flags, kernel name and kernel status, read from the page."""
        return dict(self.page.evaluate(_STATE_JS))

    def counts(self) -> list[int | None]:
        """The execution count of every cell (None: not run, running, or markdown)."""
        return [execution_count(prompt) for prompt in self.state()["prompts"]]

    def wait_for(self, condition: Any, what: str, timeout: float, stable: int = 2) -> None:
        """Poll :meth:`state` until ``condition(state)`` holds ``stable`` times in a row.

        Polls quickly at first, then every second, so that long runs leave the
        CPU to the kernel.

        Raises
        ------
        AssertionError
            After ``timeout`` seconds, with the last state and a screenshot.
        """
        start = time.monotonic()
        deadline = start + timeout
        streak = 0
        while True:
            state = self.state()
            streak = streak + 1 if condition(state) else 0
            if streak >= stable:
                return
            if time.monotonic() > deadline:
                shot = self.screenshot("timeout")
                raise AssertionError(
                    f"{self.plan.name}: timed out after {timeout:.0f} s waiting for {what}; "
                    f"kernel {state['kernel']!r} {state['status']!r}, "
                    f"{len(state['prompts'])} of {len(self.plan.cells)} cells; see {shot}"
                )
            waited = time.monotonic() - start
            self.page.wait_for_timeout(1000 * min(1.0, 0.1 + waited / 10))

    def wait_until_run(self, before: int, timeout: float) -> None:
        """Wait until cells ran past execution count ``before`` and nothing is queued."""

        def done(state: dict[str, Any]) -> bool:
            counts = [execution_count(p) for p in state["prompts"]]
            highest = max((c for c in counts if c is not None), default=0)
            queued = any("*" in prompt for prompt in state["prompts"])
            return highest > before and not queued and state["status"] == "idle"

        self.wait_for(done, "the cells to finish running", timeout)

    def highest_count(self) -> int:
        """The highest execution count shown (0 if nothing ran)."""
        return max((c for c in self.counts() if c is not None), default=0)

    # -- acting --------------------------------------------------------------

    def cell(self, index: int) -> Locator:
        """The cell at ``index`` (notebook order)."""
        return self.page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").nth(index)

    def menu(self, menu: str, command: str) -> None:
        """Click ``menu`` in the menu bar, then the item that runs JupyterLab ``command``."""
        self.page.locator(".lm-MenuBar-item", has_text=re.compile(rf"^{menu}$")).click()
        self.page.locator(f".lm-Menu-item[data-command='{command}']").click()

    def select(self, index: int) -> None:
        """Select a code cell by clicking its input prompt (command mode)."""
        self.cell(index).locator(".jp-InputPrompt").first.click()

    def run_all(self, timeout: float = 240) -> int:
        """Run every cell as a student does: *Run All Cells*, then past each error.

        JupyterLab stops at the first cell that raises (an exercise not done
        yet); the student then selects the next cell and uses *Run Selected
        Cell and All Below*, until every code cell has run. Returns how many
        rounds that took.

        Raises
        ------
        AssertionError
            If a round leaves the first unrun cell unrun.
        """
        before = self.highest_count()
        self.menu("Run", "runmenu:run-all")
        self.wait_until_run(before, timeout)
        rounds = 1
        previous = -1
        while True:
            counts = self.counts()
            pending = [i for i in self.plan.code_cells if counts[i] is None]
            if not pending:
                return rounds
            if pending[0] == previous:
                raise AssertionError(f"{self.plan.name}: cell {previous} does not run")
            previous = pending[0]
            before = self.highest_count()
            self.select(pending[0])
            self.menu("Run", "notebook:run-all-below")
            self.wait_until_run(before, timeout)
            rounds += 1

    # -- reading -------------------------------------------------------------

    def outputs(self, index: int) -> list[tuple[str, str]]:
        """``(MIME type, text)`` of every output of cell ``index``."""
        return [(mime, text) for mime, text in self.cell(index).evaluate(_OUTPUTS_JS)]

    def error_text(self, index: int) -> str:
        """The stderr and traceback text of cell ``index`` ('' if none)."""
        return "\n".join(
            text for mime, text in self.outputs(index) if mime == "application/vnd.jupyter.stderr"
        )

    def loaded_images(self, index: int) -> int:
        """How many images in the outputs of cell ``index`` are loaded and decoded."""
        return int(self.cell(index).evaluate(_IMAGES_JS))

    def wait_for_images(self, index: int, expected: int, timeout: float = 15) -> int:
        """Scroll cell ``index`` into view and wait for ``expected`` loaded images."""
        self.cell(index).scroll_into_view_if_needed()
        deadline = time.monotonic() + timeout
        while (count := self.loaded_images(index)) < expected and time.monotonic() < deadline:
            self.page.wait_for_timeout(200)
        return count

    # -- screenshots ---------------------------------------------------------

    def screenshot(self, name: str) -> Path:
        """Save a screenshot of the whole page as ``<artifacts>/<name>.png``."""
        path = self.artifacts / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def output_screenshot(self, index: int, name: str) -> Path:
        """Save a screenshot of the outputs of cell ``index`` (a figure, say)."""
        path = self.artifacts / f"cell-{index:02d}-{name}.png"
        self.cell(index).locator(".jp-Cell-outputArea").screenshot(path=str(path))
        return path

    def fail_at(self, index: int, message: str) -> NoReturn:
        """Photograph cell ``index`` and fail the test with ``message``."""
        shot = self.cell_screenshot(index, "failed")
        raise AssertionError(f"{self.plan.name}, cell {index}: {message}\n(screenshot: {shot})")

    def cell_screenshot(self, index: int, name: str) -> Path:
        """Save a screenshot of cell ``index`` (scrolled into view)."""
        path = self.artifacts / f"cell-{index:02d}-{name}.png"
        self.cell(index).screenshot(path=str(path))
        return path
