"""Working answers found by what they compute, in the examples and notebooks of a release.

:func:`answer_leaks` runs every example of a release that defines a function (a
doctest of any docstring, a Python code block of a markdown cell or file), each in a
fresh ``python -I -B`` process with a time limit, and calls every function it makes
on a battery of inputs for each graded function of the registry
(:mod:`source_lib.grading.registry`). It does the same for every function that a
notebook's code cells define (each ``def`` and each ``lambda``, wherever it stands),
taken out of its cell without running the cell (:func:`notebook_candidates`). One
that agrees with an exercise's reference on all of them is a working answer,
whatever its lines look like. The library's own reference implementations, and the
doors that grading withholds with them, are withheld in that process, so code that
calls them is not one. :mod:`softsign_grader.leaks` runs it as part of the
release's leak check.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import doctest
import functools
import inspect
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import numpy as np

from source_lib.grading.registry import EXERCISES, Exercise

__all__ = [
    "Candidate",
    "NotebookCandidates",
    "Snippet",
    "answer_leaks",
    "notebook_candidates",
    "release_snippets",
]

#: Prose files whose fenced code blocks and ``>>>`` examples are run by :func:`answer_leaks`.
PROSE_SUFFIXES = {".md", ".rst", ".txt"}
#: Seconds one snippet may run, its examples and every call of its functions included.
SNIPPET_TIMEOUT = 60.0
#: Seconds one example of a snippet, or one call of a function it defines, may take.
CALL_TIMEOUT = 5.0
#: Seconds one function of a notebook's code cells may run, its definition and every call.
CANDIDATE_TIMEOUT = 20.0
#: How close a snippet's function must come to an exercise's reference, on every input.
AGREEMENT = {"rtol": 1e-6, "atol": 1e-9}
#: Languages of the fenced markdown blocks that are run (the empty one included).
PYTHON_FENCES = {"", "python", "python3", "py", "pycon", "ipython", "ipython3"}


@dataclass(frozen=True)
class Snippet:
    """Example code of the release that is not the library's own module code.

    Attributes
    ----------
    where : str
        The file (relative to the release), line and kind (``"doctest of softsign"``).
    pieces : tuple of str
        The code, run one piece after another in one namespace (one per doctest example).
    module : str or None
        The module whose globals a doctest runs in; None for markdown code.
    """

    where: str
    pieces: tuple[str, ...]
    module: str | None = None


_FENCE = re.compile(
    r"^[ \t]*(?P<fence>```|~~~)[ \t]*(?P<language>[\w+-]*)[^\n]*\n(?P<code>.*?)^[ \t]*(?P=fence)",
    re.MULTILINE | re.DOTALL,
)


def _defines_functions(piece: str) -> bool:
    """Whether ``piece`` parses and holds a ``def`` or a ``lambda`` (else nothing to call)."""
    try:
        tree = ast.parse(piece)
    except SyntaxError:
        return False
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
    return any(isinstance(node, kinds) for node in ast.walk(tree))


def _examples(text: str, name: str) -> tuple[str, ...]:
    """The sources of the ``>>>`` examples of ``text`` (none when it cannot be parsed)."""
    try:
        return tuple(example.source for example in doctest.DocTestParser().get_examples(text, name))
    except ValueError:
        return ()


def _docstring_snippets(source: str, where: str, module: str | None) -> Iterator[Snippet]:
    """A snippet per docstring of ``source`` whose doctest examples define a function."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    for node in ast.walk(tree):
        if not isinstance(node, kinds):
            continue
        docstring = ast.get_docstring(node)
        name = getattr(node, "name", "the module")
        pieces = _examples(docstring, name) if docstring else ()
        if any(_defines_functions(piece) for piece in pieces):
            line = node.body[0].lineno
            yield Snippet(f"{where}:{line}: doctest of {name}", pieces, module)


def _markdown_snippets(text: str, where: str) -> Iterator[Snippet]:
    """A snippet per Python code block of markdown ``text``, and one for its bare examples."""
    for match in _FENCE.finditer(text):
        if match["language"].lower() not in PYTHON_FENCES:
            continue
        code = "\n".join(
            line for line in match["code"].splitlines() if not line.lstrip().startswith(("%", "!"))
        )
        pieces = _examples(code, where) if ">>>" in code else (code,)
        if any(_defines_functions(piece) for piece in pieces):
            line = text.count("\n", 0, match.start()) + 1
            yield Snippet(f"{where}:{line}: code block", pieces)
    pieces = _examples(_FENCE.sub("", text), where)
    if any(_defines_functions(piece) for piece in pieces):
        yield Snippet(f"{where}: examples", pieces)


def _module_name(release: Path, path: Path) -> str | None:
    """The dotted name ``path`` imports as from ``release``, if it is inside packages."""
    relative = path.relative_to(release).with_suffix("")
    folders = [release.joinpath(*relative.parts[:end]) for end in range(1, len(relative.parts))]
    parts = [part for part in relative.parts if part != "__init__"]
    if not parts or not all((folder / "__init__.py").is_file() for folder in folders):
        return None
    if not all(part.isidentifier() for part in parts):
        return None
    return ".".join(parts)


def release_snippets(release: Path) -> list[Snippet]:
    """The example code of ``release`` that defines functions, file by file.

    The doctests of every docstring of every ``.py`` file (run in their
    module's globals, as doctest runs them) and of every function defined in a
    notebook's code cells; the Python code blocks and the ``>>>`` examples of
    markdown cells and of ``.md``, ``.rst`` and ``.txt`` files. A snippet that
    defines no function (no ``def``, no ``lambda``) has nothing to call and is
    left out. The library's own module code is not example code: it is known,
    and is graded against by withholding it.
    """
    release = Path(release)
    snippets: list[Snippet] = []
    for path in sorted(release.rglob("*")):
        relative = path.relative_to(release).as_posix()
        if not path.is_file() or ".ipynb_checkpoints" in path.parts:
            continue
        if path.suffix == ".py":
            source = path.read_text(encoding="utf-8", errors="replace")
            snippets += _docstring_snippets(source, relative, _module_name(release, path))
        elif path.suffix in PROSE_SUFFIXES:
            text = path.read_text(encoding="utf-8", errors="replace")
            snippets += _markdown_snippets(text, relative)
        elif path.suffix == ".ipynb":
            try:
                cells = nbformat.read(path, as_version=4).cells
            except Exception:  # an unreadable notebook is reported by the line check's reading
                continue
            for number, cell in enumerate(cells, start=1):
                where = f"{relative} (cell {number})"
                if cell.cell_type == "markdown":
                    snippets += _markdown_snippets(cell.source, where)
                elif cell.cell_type == "code":
                    snippets += _docstring_snippets(cell.source, where, None)
    return snippets


@dataclass(frozen=True)
class Candidate:
    """A function that a notebook's code cell defines, taken out of the cell.

    Attributes
    ----------
    where : str
        The notebook (relative to the release), cell (counted from 1), cell id and
        line in the cell: ``"notebooks/x.ipynb (cell 12, id 'abc'):3: code cell"``.
    label : str
        The function's name, or ``"lambda"``.
    source : str
        Code that binds the function to :attr:`name`: the ``def`` without its
        decorators, or ``_candidate_N = <the lambda>``.
    name : str
        The name that :attr:`source` binds.
    """

    where: str
    label: str
    source: str
    name: str


@dataclass(frozen=True)
class NotebookCandidates:
    """Every :class:`Candidate` of one notebook, with the imports of its code cells.

    Attributes
    ----------
    notebook : str
        The notebook, relative to the release.
    imports : tuple of str
        Each ``import`` statement of its code cells (outside functions and classes).
    candidates : tuple of Candidate
        Its functions, cell by cell, in the order they are written.
    """

    notebook: str
    imports: tuple[str, ...]
    candidates: tuple[Candidate, ...]


def _cell_python(source: str) -> str:
    """A code cell's source with IPython's magic and shell lines blanked (line numbers kept)."""
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        lines[0] = ""  # a cell magic: the body is Python (%%time, %%capture) or fails to parse
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)


def _imports(tree: ast.AST) -> Iterator[ast.stmt]:
    """The imports of ``tree`` outside functions and classes (in ``if`` and ``try`` blocks too)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.expr):
            yield from _imports(node)


def notebook_candidates(path: Path, relative: str) -> NotebookCandidates:
    """The functions that the code cells of the notebook at ``path`` define, without running it.

    Every ``def`` (at any level: in a function, a class or a block) and every
    ``lambda`` expression (wherever it stands: passed as an argument, kept in a
    dict or a list, inside a function) is a candidate, made from its own source
    alone (:func:`ast.unparse`; a ``def`` loses its decorators). The cells
    themselves are never run: they plot, time and train. A candidate that needs
    a name of its cell that is neither an import nor its own gets a
    ``NameError`` when it is called, and so agrees with nothing. A cell that
    does not parse (after its magic lines are blanked) gives no candidate.
    """
    imports: dict[str, None] = {}
    candidates: list[Candidate] = []
    cells = nbformat.read(path, as_version=4).cells
    for number, cell in enumerate(cells, start=1):
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(_cell_python(cell.source))
        except SyntaxError:
            continue
        imports.update((ast.unparse(node), None) for node in _imports(tree))
        cell_id = f", id {cell['id']!r}" if cell.get("id") else ""
        functions = [
            node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.Lambda)
        ]
        for node in sorted(functions, key=lambda node: (node.lineno, node.col_offset)):
            where = f"{relative} (cell {number}{cell_id}):{node.lineno}: code cell"
            if isinstance(node, ast.FunctionDef):
                bare = copy.copy(node)
                bare.decorator_list = []
                source = ast.unparse(bare)
                candidates.append(Candidate(where, node.name, source, node.name))
            else:
                name = f"_candidate_{len(candidates)}"
                candidates.append(Candidate(where, "lambda", f"{name} = {ast.unparse(node)}", name))
    return NotebookCandidates(relative, tuple(imports), tuple(candidates))


def release_notebook_candidates(release: Path) -> list[NotebookCandidates]:
    """:func:`notebook_candidates` of every notebook of ``release`` that defines a function."""
    release = Path(release)
    found = []
    for path in sorted(release.rglob("*.ipynb")):
        if not path.is_file() or ".ipynb_checkpoints" in path.parts:
            continue
        try:
            candidates = notebook_candidates(path, path.relative_to(release).as_posix())
        except Exception:  # an unreadable notebook is reported by the line check's reading
            continue
        if candidates.candidates:
            found.append(candidates)
    return found


def _battery(name: str) -> list[tuple[Any, ...]]:
    """The arguments each graded function is called with, by exercise name.

    Built fresh on every call (a function may modify its arguments). Each set
    of inputs is chosen so that the usual wrong formulas differ from the right
    one somewhere: negative, zero, tiny, large and integer inputs; a cubic with
    a large step, on which a one-sided or exact derivative differs from the
    centred difference.
    """
    xs = np.array([-1e3, -7.5, -2.0, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.25, 1.0, 3.0, 42.0])
    ys = np.array([-0.999, -0.9, -0.5, -0.1, 0.0, 0.2, 0.75, 0.99])
    rng = np.random.default_rng(20100513)
    elementwise = [(xs,), (xs.reshape(3, 4),), (np.arange(-3, 4),), (2.5,)]

    def layer(n: int, d_in: int, d_out: int) -> tuple[Any, ...]:
        shapes = ((n, d_in), (d_in, d_out), (d_out,), (n, d_out))
        return tuple(rng.normal(0.0, 2.0, shape) for shape in shapes)

    def cubic(x: Any) -> Any:
        return x**3 - 2.0 * x

    batteries: dict[str, list[tuple[Any, ...]]] = dict(
        softsign=elementwise,
        abs_derivative=elementwise,
        softsign_derivative=elementwise,
        tanh_derivative=elementwise,
        softsign_inverse=[(ys,), (ys.reshape(2, 4),), (-0.25,)],
        numerical_derivative=[
            (cubic, xs[1:-1], 0.1),
            (np.sin, xs[1:-1], 1e-3),
            (np.exp, ys, 1e-4),
            (np.tanh, xs[1:-1]),
        ],
        softsign_layer_backward=[layer(3, 2, 4), layer(1, 3, 1), layer(5, 4, 3)],
    )
    return batteries[name]


def _encode(value: Any) -> Any:
    """A JSON form of a function's result: a tuple of arrays part by part, else one array."""
    arrays = isinstance(value, list) and value and all(isinstance(v, np.ndarray) for v in value)
    if isinstance(value, tuple) or arrays:
        return {"parts": [_encode(part) for part in value]}
    result = np.asarray(value, dtype=np.float64)
    return {"shape": list(result.shape), "values": result.ravel().tolist()}


def _agrees(got: Any, want: Any) -> bool:
    """Whether two :func:`_encode`\\ d results agree within :data:`AGREEMENT`."""
    if "parts" in want or "parts" in got:
        parts, wanted = got.get("parts", []), want.get("parts", [])
        return len(parts) == len(wanted) and all(map(_agrees, parts, wanted))
    if got["shape"] != want["shape"]:
        return False
    return bool(np.allclose(got["values"], want["values"], equal_nan=True, **AGREEMENT))


class _Registrar(ast.NodeTransformer):
    """Rewrites a snippet so that every function it makes is handed to ``__leak_register__``.

    A ``def`` (at any depth) gets the registrar as its outermost decorator; a
    ``lambda`` is wrapped in a call to it. A function is registered when it is
    made, with its defaults and closure, so a lambda that is passed on and then
    dropped is still caught.
    """

    def _label(self, node: ast.AST, name: str) -> ast.Constant:
        return ast.Constant(f"{name} (line {getattr(node, 'lineno', '?')})")

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        self.generic_visit(node)
        register = ast.Call(
            ast.Name("__leak_register__", ast.Load()), [self._label(node, node.name)], []
        )
        node.decorator_list.insert(0, register)
        return node

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        self.generic_visit(node)
        return ast.Call(
            ast.Name("__leak_register__", ast.Load()), [self._label(node, "lambda"), node], []
        )


def _limited(seconds: float, call: Any) -> Any:
    """``call()``, interrupted by ``TimeoutError`` after ``seconds`` (in the runner only)."""
    import signal

    def expire(*_: Any) -> None:
        raise TimeoutError(f"ran past {seconds} s")

    signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return call()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _withhold(references: list[str], doors: list[str]) -> None:
    """Make each library reference, and each door, raise: calling one answers nothing.

    A door (:attr:`~source_lib.grading.registry.Exercise.doors`) is named without
    its module: it is withheld in every module of the references' packages that
    is imported by then.
    """
    import importlib

    def withheld(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("withheld")

    functions = []
    for dotted in references:
        where, _, name = dotted.rpartition(".")
        try:
            functions.append(getattr(importlib.import_module(where), name))
        except Exception:  # not in this release: nothing to withhold
            continue
    packages = {dotted.partition(".")[0] for dotted in references}
    for module_name, module in list(sys.modules.items()):
        if module_name.partition(".")[0] in packages:
            functions += [getattr(module, door) for door in doors if hasattr(module, door)]
    for function in functions:
        try:
            function.__code__ = withheld.__code__
        except Exception:  # not a plain function (or a closure): nothing to withhold
            continue


def _run_job(job_file: str) -> None:
    """The runner's main: run one snippet (or a notebook's candidates) and call its functions."""
    import contextlib
    import importlib
    import os

    job = json.loads(Path(job_file).read_text(encoding="utf-8"))
    sys.path.insert(0, job["release"])
    made: list[tuple[str, Any]] = []
    example = [0]

    def register(label: str, function: Any = None) -> Any:
        if function is None:
            return lambda decorated: register(label, decorated)
        made.append((f"{label} of example {example[0]}" if example[0] else label, function))
        return function

    namespace: dict[str, Any] = {"np": np, "numpy": np, "__name__": "__snippet__"}
    with (
        open(os.devnull, "w", encoding="utf-8") as silent,
        contextlib.redirect_stdout(silent),
        contextlib.redirect_stderr(silent),
    ):
        if "candidates" in job:
            _run_candidates(job, namespace)
            return
        if job["module"]:
            with contextlib.suppress(Exception):
                namespace = dict(vars(importlib.import_module(job["module"])))
        namespace["__leak_register__"] = register
        for number, piece in enumerate(job["pieces"], start=1):
            example[0] = number if len(job["pieces"]) > 1 else 0
            try:
                tree = ast.fix_missing_locations(_Registrar().visit(ast.parse(piece)))
                code = compile(tree, "<snippet>", "exec")
                _limited(job["call_timeout"], lambda code=code: exec(code, namespace))
            except BaseException:  # a doctest may show an error on purpose: run the next piece
                continue
        _withhold(job["references"], job["doors"])
        results = [(label, _outputs(function, job)) for label, function in made]
    Path(job["out"]).write_text(json.dumps(results), encoding="utf-8")


def _run_candidates(job: dict[str, Any], namespace: dict[str, Any]) -> None:
    """Define a notebook's candidates one at a time and call each; a line of ``out`` per step.

    The notebook's imports run first (each on its own: one that fails is
    skipped), then the references and doors are withheld. Each candidate is
    defined in a namespace of its own that holds those imports only. For each
    one, ``{"start": index}`` is written before it is defined and
    ``{"done": index, "found": ...}`` after its last call, so that the
    supervisor knows which candidate was running if the process has to be
    stopped.
    """
    for source in job["imports"]:
        try:
            exec(compile(source, "<imports>", "exec"), namespace)
        except BaseException:  # a framework that is not installed, say: the rest still run
            continue
    _withhold(job["references"], job["doors"])
    with open(job["out"], "a", encoding="utf-8") as out:
        for index, candidate in job["candidates"]:
            out.write(json.dumps({"start": index}) + "\n")
            out.flush()
            found: dict[str, list[Any]] = {}
            scope = dict(namespace)  # the imports, and nothing of another candidate
            try:
                code = compile(candidate["source"], "<candidate>", "exec")
                _limited(job["call_timeout"], lambda code=code, scope=scope: exec(code, scope))
                found = _outputs(scope[candidate["name"]], job)
            except BaseException:  # it cannot be made, or it stops the calls: no answer
                pass
            out.write(json.dumps({"done": index, "found": found}) + "\n")
            out.flush()


def _fits(function: Any, arguments: tuple[Any, ...]) -> bool:
    """Whether ``function`` can be called with ``arguments`` (when its signature is known)."""
    import inspect

    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return True
    try:
        signature.bind(*arguments)
    except TypeError:
        return False
    return True


def _outputs(function: Any, job: dict[str, Any]) -> dict[str, list[Any]]:
    """What ``function`` returns on each exercise's battery (only where every call returned).

    Only the exercises whose every set of inputs fits its signature are tried.
    A call that runs past the time limit ends the search of ``function``: a
    function that slow is nobody's answer.
    """
    found: dict[str, list[Any]] = {}
    if not callable(function):
        return found
    for name in job["exercises"]:
        battery = _battery(name)
        if not all(_fits(function, args) for args in battery):
            continue
        try:
            found[name] = [
                _encode(_limited(job["call_timeout"], lambda args=args: function(*args)))
                for args in battery
            ]
        except TimeoutError:
            break
        except BaseException:  # an error: it does not compute this exercise
            continue
    return found


#: The runner that :func:`answer_leaks` starts for each snippet, in a fresh interpreter.
_RUNNER_PARTS = (
    _battery,
    _encode,
    _Registrar,
    _limited,
    _withhold,
    _run_job,
    _run_candidates,
    _fits,
    _outputs,
)


def _runner_source() -> str:
    header = (
        "from __future__ import annotations\n"
        "import ast, json, sys\nfrom pathlib import Path\nfrom typing import Any\n"
        "import numpy as np\n\n"
    )
    parts = "\n\n".join(inspect.getsource(part) for part in _RUNNER_PARTS)
    return header + parts + "\n\n_run_job(sys.argv[1])\n"


def _supervised(
    job: dict[str, Any], runner: Path, scratch: Path, first: float, step: float
) -> tuple[list[dict[str, Any]], str | None]:
    """Run ``runner`` on ``job`` in its own process group; its progress lines and why it stopped.

    The process may run ``first`` seconds before it writes its first line to
    ``job["out"]``, then ``step`` seconds from each line to the next; past that,
    its whole process group is killed (a function that catches the runner's
    alarm, or hangs inside C code, is stopped all the same). Its output goes to
    files, so that a child it leaves behind cannot hold the build up either.
    Returns the complete JSON lines it wrote, and None when it ended on its own
    with exit status 0, else why it stopped.
    """
    job_file, out, errors = scratch / "job.json", Path(job["out"]), scratch / "stderr.txt"
    out.write_text("", encoding="utf-8")
    job_file.write_text(json.dumps(job), encoding="utf-8")
    environment = dict(os.environ, MPLBACKEND="Agg")
    with errors.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-I", "-B", str(runner), str(job_file)],
            cwd=scratch,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=environment,
            start_new_session=True,
        )
    size, deadline, stopped = 0, time.monotonic() + first, None
    while process.poll() is None:
        now = time.monotonic()
        grown = out.stat().st_size if out.exists() else 0
        if grown != size:
            size, deadline = grown, now + step
        if now > deadline:
            limit = step if size else first
            stopped = f"ran past {limit:g} s"
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            break
        time.sleep(0.02)
    text = out.read_text(encoding="utf-8") if out.exists() else ""
    lines = [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]
    if stopped is None and process.returncode != 0:
        tail = errors.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        stopped = f"the runner stopped ({(tail or [f'exit status {process.returncode}'])[-1]})"
    return lines, stopped


def _job(release: Path, exercises: tuple[Exercise, ...], out: Path) -> dict[str, Any]:
    """What every job of the runner is told: the release, the exercises and their references."""
    return {
        "release": str(release.resolve()),
        "exercises": [entry.name for entry in exercises],
        "references": [entry.reference for entry in exercises],
        "doors": sorted({door for entry in exercises for door in entry.doors}),
        "call_timeout": CALL_TIMEOUT,
        "out": str(out),
    }


def _run_snippet(
    snippet: Snippet, release: Path, exercises: tuple[Exercise, ...], runner: Path
) -> list[tuple[str, dict[str, list[Any]]]] | str:
    """The outputs of ``snippet``'s functions on the batteries, or why they could not be had."""
    with tempfile.TemporaryDirectory(prefix="softsign-leak-") as folder:
        scratch = Path(folder)
        job = _job(release, exercises, scratch / "out.json")
        job.update(module=snippet.module, pieces=list(snippet.pieces))
        _, stopped = _supervised(job, runner, scratch, SNIPPET_TIMEOUT, SNIPPET_TIMEOUT)
        out = scratch / "out.json"
        if stopped is not None or not out.stat().st_size:
            return stopped or "the runner stopped (no results)"
        return [(label, found) for label, found in json.loads(out.read_text(encoding="utf-8"))]


def _run_notebook(
    notebook: NotebookCandidates,
    release: Path,
    exercises: tuple[Exercise, ...],
    runner: Path,
    verdict: Callable[[str, str, dict[str, list[Any]]], list[str]],
) -> list[str]:
    """The working answers among ``notebook``'s candidates, and those that could not be checked.

    One process defines and calls the candidates one after another, each
    within :data:`CANDIDATE_TIMEOUT` seconds (the notebook's imports within
    :data:`SNIPPET_TIMEOUT`). If the process has to be stopped, or dies, the
    candidate it was running is reported as not checked, and a fresh process
    goes on with the rest.
    """
    problems: list[str] = []
    remaining = list(enumerate(notebook.candidates))
    while remaining:
        with tempfile.TemporaryDirectory(prefix="softsign-leak-") as folder:
            scratch = Path(folder)
            job = _job(release, exercises, scratch / "out.jsonl")
            job.update(
                imports=list(notebook.imports),
                candidates=[
                    (index, {"source": candidate.source, "name": candidate.name})
                    for index, candidate in remaining
                ],
            )
            lines, stopped = _supervised(job, runner, scratch, SNIPPET_TIMEOUT, CANDIDATE_TIMEOUT)
        done = {line["done"]: line["found"] for line in lines if "done" in line}
        for index, found in done.items():
            candidate = notebook.candidates[index]
            problems += verdict(candidate.where, candidate.label, found)
        started = [line["start"] for line in lines if "start" in line and line["start"] not in done]
        if stopped is None and not started:
            break
        if not started:
            problems.append(
                f"{notebook.notebook}: its code cells could not be checked for working "
                f"answers: {stopped or 'the runner stopped'}"
            )
            break
        blamed = notebook.candidates[started[0]]
        problems.append(
            f"{blamed.where}: {blamed.label} could not be checked for working answers: "
            f"{stopped or 'the runner stopped'}"
        )
        remaining = [(i, c) for i, c in remaining if i not in done and i != started[0]]
    return problems


def answer_leaks(
    release: Path, exercises: Iterable[Exercise] = EXERCISES, *, workers: int = 2
) -> list[str]:
    """Working answers that the release's example code or notebook code defines; empty if none.

    Every :func:`release_snippets` snippet runs in its own interpreter
    (``python -I -B``: no ``__pycache__`` is written into the release; a
    scratch working folder; :data:`SNIPPET_TIMEOUT` seconds),
    which records every function the snippet makes (``def`` and ``lambda``, at
    any depth) and calls each on every exercise's battery (:func:`_battery`)
    whose inputs fit its signature, :data:`CALL_TIMEOUT` seconds a call, after
    making the library's references and the exercises' doors raise (code that
    calls the library is no answer: grading withholds the library). The
    functions of every notebook's code cells (:func:`notebook_candidates`) are
    called in the same way, one interpreter per notebook, :data:`CANDIDATE_TIMEOUT`
    seconds a function. A function whose results agree with the exercise's
    reference on every input (:data:`AGREEMENT`) is a leak, named with its file
    (for a notebook: cell, cell id and line) and name. A snippet or function
    that cannot be run to the end is reported too: it was not checked.

    Raises
    ------
    ValueError
        When an exercise of ``exercises`` has no battery.
    """
    exercises = tuple(exercises)
    wanted = {}
    for entry in exercises:
        try:
            arguments = _battery(entry.name)
        except KeyError:
            raise ValueError(
                f"exercise {entry.name!r} has no battery of inputs in "
                "softsign_grader.answer_search._battery: add one, so that the release is "
                "searched for its working answers"
            ) from None
        wanted[entry.name] = [_encode(entry.reference_function()(*args)) for args in arguments]

    def verdict(where: str, label: str, found: dict[str, list[Any]]) -> list[str]:
        return [
            f"{where}: {label} computes {name} (agrees with the reference on every input "
            "of the battery): a working answer"
            for name, outputs in found.items()
            if len(outputs) == len(wanted[name]) and all(map(_agrees, outputs, wanted[name]))
        ]

    def snippet_problems(snippet: Snippet, runner: Path) -> list[str]:
        outcome = _run_snippet(snippet, release, exercises, runner)
        if isinstance(outcome, str):
            return [f"{snippet.where}: could not be checked for working answers: {outcome}"]
        return [
            problem for label, found in outcome for problem in verdict(snippet.where, label, found)
        ]

    release = Path(release)
    with tempfile.TemporaryDirectory(prefix="softsign-leak-runner-") as folder:
        runner = Path(folder) / "runner.py"
        runner.write_text(_runner_source(), encoding="utf-8")
        tasks: list[Callable[[], list[str]]] = [
            functools.partial(snippet_problems, snippet, runner)
            for snippet in release_snippets(release)
        ]
        tasks += [
            functools.partial(_run_notebook, notebook, release, exercises, runner, verdict)
            for notebook in release_notebook_candidates(release)
        ]
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            outcomes = list(pool.map(lambda task: task(), tasks))
    return [problem for outcome in outcomes for problem in outcome]
