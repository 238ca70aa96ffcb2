"""Working answers found by what they compute, in the examples of a student release.

:func:`answer_leaks` runs every example of a release that defines a function (a
doctest of any docstring, a Python code block of a markdown cell or file), each in a
fresh ``python -I -B`` process with a time limit, and calls every function it makes
on a battery of inputs for each graded function of the registry
(:mod:`source_lib.grading.registry`). One that agrees with an exercise's reference
on all of them is a working answer, whatever its lines look like. The library's own
reference implementations are withheld in that process, so an example that calls
them is not one. :mod:`softsign_grader.leaks` runs it as part of the release's
leak check.
"""

from __future__ import annotations

import ast
import doctest
import functools
import inspect
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import numpy as np

from source_lib.grading.registry import EXERCISES, Exercise

__all__ = ["Snippet", "answer_leaks", "release_snippets"]

#: Prose files whose fenced code blocks and ``>>>`` examples are run by :func:`answer_leaks`.
PROSE_SUFFIXES = {".md", ".rst", ".txt"}
#: Seconds one snippet may run, its examples and every call of its functions included.
SNIPPET_TIMEOUT = 60.0
#: Seconds one example of a snippet, or one call of a function it defines, may take.
CALL_TIMEOUT = 5.0
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


def _withhold(references: list[str]) -> None:
    """Make each library reference raise, so a snippet that only calls one matches nothing."""
    import importlib

    def withheld(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("withheld")

    for dotted in references:
        module, _, name = dotted.rpartition(".")
        try:
            function = getattr(importlib.import_module(module), name)
            function.__code__ = withheld.__code__
        except Exception:  # not in this release, or not a plain function: nothing to withhold
            continue


def _run_job(job_file: str) -> None:
    """The runner's main: run one snippet, then call each function it made on the batteries."""
    import contextlib
    import importlib
    import io

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
    silent = io.StringIO()
    with contextlib.redirect_stdout(silent), contextlib.redirect_stderr(silent):
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
        _withhold(job["references"])
        results = [(label, _outputs(function, job)) for label, function in made]
    Path(job["out"]).write_text(json.dumps(results), encoding="utf-8")


def _outputs(function: Any, job: dict[str, Any]) -> dict[str, list[Any]]:
    """What ``function`` returns on each exercise's battery (only where every call returned)."""
    found = {}
    for name in job["exercises"]:
        try:
            found[name] = [
                _encode(_limited(job["call_timeout"], lambda args=args: function(*args)))
                for args in _battery(name)
            ]
        except BaseException:  # an error or a timeout: it does not compute this exercise
            continue
    return found


#: The runner that :func:`answer_leaks` starts for each snippet, in a fresh interpreter.
_RUNNER_PARTS = (_battery, _encode, _Registrar, _limited, _withhold, _run_job, _outputs)


def _runner_source() -> str:
    header = (
        "from __future__ import annotations\n"
        "import ast, json, sys\nfrom pathlib import Path\nfrom typing import Any\n"
        "import numpy as np\n\n"
    )
    parts = "\n\n".join(inspect.getsource(part) for part in _RUNNER_PARTS)
    return header + parts + "\n\n_run_job(sys.argv[1])\n"


def _run_snippet(
    snippet: Snippet, release: Path, exercises: tuple[Exercise, ...], runner: Path
) -> list[tuple[str, dict[str, list[Any]]]] | str:
    """The outputs of ``snippet``'s functions on the batteries, or why they could not be had."""
    with tempfile.TemporaryDirectory(prefix="softsign-leak-") as scratch:
        job, out = Path(scratch) / "job.json", Path(scratch) / "out.json"
        job.write_text(
            json.dumps(
                {
                    "release": str(release.resolve()),
                    "module": snippet.module,
                    "pieces": list(snippet.pieces),
                    "exercises": [entry.name for entry in exercises],
                    "references": [entry.reference for entry in exercises],
                    "call_timeout": CALL_TIMEOUT,
                    "out": str(out),
                }
            ),
            encoding="utf-8",
        )
        try:
            result = subprocess.run(
                [sys.executable, "-I", "-B", str(runner), str(job)],
                cwd=scratch,
                capture_output=True,
                text=True,
                timeout=SNIPPET_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return f"ran past {SNIPPET_TIMEOUT:g} s"
        if not out.is_file():
            tail = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
            return f"the runner stopped ({tail})"
        return [(label, found) for label, found in json.loads(out.read_text(encoding="utf-8"))]


def answer_leaks(
    release: Path, exercises: Iterable[Exercise] = EXERCISES, *, workers: int = 2
) -> list[str]:
    """Working answers that the release's example code defines; empty when there are none.

    Every :func:`release_snippets` snippet runs in its own interpreter
    (``python -I -B``: no ``__pycache__`` is written into the release; a
    scratch working folder; :data:`SNIPPET_TIMEOUT` seconds),
    which records every function the snippet makes (``def`` and ``lambda``, at
    any depth) and calls each on every exercise's battery (:func:`_battery`),
    :data:`CALL_TIMEOUT` seconds a call, after making the library's references
    raise (a snippet that calls the library is no answer: grading withholds the
    library). A function whose results agree with the exercise's reference on
    every input (:data:`AGREEMENT`) is a leak, named with its file, line and
    name. A snippet that cannot be run to the end is reported too: it was not
    checked.

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
    snippets = release_snippets(release)
    with tempfile.TemporaryDirectory(prefix="softsign-leak-runner-") as folder:
        runner = Path(folder) / "runner.py"
        runner.write_text(_runner_source(), encoding="utf-8")
        run = functools.partial(_run_snippet, release=release, exercises=exercises, runner=runner)
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            outcomes = list(pool.map(run, snippets))
    problems = []
    for snippet, outcome in zip(snippets, outcomes, strict=True):
        if isinstance(outcome, str):
            problems.append(f"{snippet.where}: could not be checked for working answers: {outcome}")
            continue
        for label, found in outcome:
            for name, outputs in found.items():
                if len(outputs) == len(wanted[name]) and all(map(_agrees, outputs, wanted[name])):
                    problems.append(
                        f"{snippet.where}: {label} computes {name} (agrees with the reference "
                        "on every input of the battery): a working answer"
                    )
    return problems
