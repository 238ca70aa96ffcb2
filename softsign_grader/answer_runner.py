"""The runner of the answer search: the code that runs in a fresh interpreter.

:func:`softsign_grader.answer_search.answer_leaks` writes :func:`runner_source`
to a file and runs it with ``python -I -B``, once per snippet and once per
notebook. The source is this module's functions (:data:`_RUNNER_PARTS`), read with
:func:`inspect.getsource`, under a header that imports ``ast``, ``json``,
``sys``, ``Path``, ``Any`` and NumPy: each of them may use only those names, the
others of :data:`_RUNNER_PARTS`, and what it imports itself. The runner makes
every function a snippet defines (:class:`_Registrar`), withholds the library's
references and doors (:func:`_withhold`), calls each function on the battery of
inputs of every exercise (:func:`battery`) within a time limit
(:func:`_limited`), and writes what it returned as JSON (:func:`encode`).
"""

from __future__ import annotations

import ast
import inspect
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["battery", "encode", "runner_source"]


def battery(name: str) -> list[tuple[Any, ...]]:
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


def encode(value: Any) -> Any:
    """A JSON form of a function's result: a tuple of arrays part by part, else one array."""
    arrays = isinstance(value, list) and value and all(isinstance(v, np.ndarray) for v in value)
    if isinstance(value, tuple) or arrays:
        return {"parts": [encode(part) for part in value]}
    result = np.asarray(value, dtype=np.float64)
    return {"shape": list(result.shape), "values": result.ravel().tolist()}


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
        inputs = battery(name)
        if not all(_fits(function, args) for args in inputs):
            continue
        try:
            found[name] = [
                encode(_limited(job["call_timeout"], lambda args=args: function(*args)))
                for args in inputs
            ]
        except TimeoutError:
            break
        except BaseException:  # an error: it does not compute this exercise
            continue
    return found


#: The runner that :func:`~softsign_grader.answer_search.answer_leaks` starts for each snippet
#: and each notebook, in a fresh interpreter.
_RUNNER_PARTS = (
    battery,
    encode,
    _Registrar,
    _limited,
    _withhold,
    _run_job,
    _run_candidates,
    _fits,
    _outputs,
)


def runner_source() -> str:
    """The runner's source: the header's imports, :data:`_RUNNER_PARTS`, then its main."""
    header = (
        "from __future__ import annotations\n"
        "import ast, json, sys\nfrom pathlib import Path\nfrom typing import Any\n"
        "import numpy as np\n\n"
    )
    parts = "\n\n".join(inspect.getsource(part) for part in _RUNNER_PARTS)
    return header + parts + "\n\n_run_job(sys.argv[1])\n"
