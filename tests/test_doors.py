"""Doors, by what the code computes: no library function computes a graded exercise while graded.

The grading sandbox withholds the graded functions *by name* (see
:mod:`softsign_grader.sandbox`). A door is a library function that computes an
exercise under another name or with a parameter, e.g. ``family.algebraic_family(x, 1)``,
which *is* softsign. This module searches for doors by what the code computes: for each
graded exercise it imports a kernel edition of ``source_lib`` in a subprocess (the
edition's folder first on ``sys.path``), enumerates every callable the library defines
(module functions, classes and their static and class methods, the functions held in
module-level dicts, lists and tuples, in every module, private ones included), and calls
each with the exercise's arguments placed on its parameters in every order-preserving
way, the other parameters filled with common values (their default, 1, 1.0, 2, 0,
True, False, None, activation names, a few callables). A call reproduces the exercise
when its result (or an item of a returned tuple, or a field of a returned object) is
``np.allclose`` to the exercise's reference on random inputs with negative values, zero
and large values. It is a *half* door when it reproduces the exercise on the positive
inputs only (the exercises are odd or even, so the rest is a sign away).

The test runs the search twice per exercise: on an edition that withholds nothing (the
library as it is: it must find the reference itself, and every door it finds must
reproduce the exercise with the real package too), and on the edition that withholds
the exercise's check's ``withholds``: there it must find no door but those of
:data:`source_lib.grading.framework.ACCEPTED_DOORS`, and every door of the open library
must raise the withheld stub's :class:`NotImplementedError`.

Run as a script, this file is the search itself (``python test_doors.py find|replay
EDITION_PARENT EXERCISE``); it imports ``source_lib`` only then, after the path is set.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import inspect
import io
import itertools
import json
import os
import pkgutil
import signal
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

if __name__ == "__main__":
    EXERCISES: tuple[str, ...] = ()  # the search imports source_lib only after the path is set
else:
    from source_lib.grading.registry import GRADED_FUNCTIONS as EXERCISES

#: Seconds one call may take before the function is given up (the search skips it after).
CALL_SECONDS = 0.5
#: Seconds all the calls of one function may take before it is given up (listed as slow).
#: Every exercise's reference takes microseconds on these inputs; the functions given up are
#: the library's slow ones (a training run, the animation and GIF writers, the data loader,
#: the timing of the family), and limits of 0.5 s found the same doors as 1 s and 2 s, in a
#: third of the time.
FUNCTION_SECONDS = 0.5
#: Seconds one search (one exercise, one edition) may take.
SEARCH_SECONDS = 420
#: The most combinations of fill values tried for one placement of the arguments.
MAX_COMBINATIONS = 600
#: Parameters considered per callable (the rest keep their defaults).
MAX_PARAMETERS = 6

STEP = 0.1  # numerical_derivative's h: large, so that only a central difference with this h matches


# ----------------------------------------------------------------------------------------------
# The exercises: inputs, argument tuples and references (NumPy formulas; test_formulas_are_the_
# references checks them against source_lib's own implementations)
# ----------------------------------------------------------------------------------------------


def _softsign(x: Any) -> Any:
    return x / (1.0 + np.abs(x))


def _dfo_softsign(a: Any) -> Any:
    return (1.0 - np.abs(a)) ** 2


def _student_f(v: Any) -> Any:
    """A function a student might differentiate numerically (its f''' is far from 0)."""
    return np.sin(3.0 * v) + v**3


def _central(f: Callable[[Any], Any], x: Any, h: float) -> Any:
    return (f(x + h) - f(x - h)) / (2 * h)


def _pool() -> dict[str, Any]:
    """Every input of every exercise (fixed seed, so the search and the replay agree)."""
    rng = np.random.default_rng(20240611)
    specials = [0.0, 1e-3, -1e-3, 0.5, -0.5, 2.0, -2.0, 30.0, -30.0, 1e6, -1e6]
    x = np.concatenate([rng.normal(0.0, 3.0, 24), specials])
    y = np.concatenate(
        [rng.uniform(-0.999, 0.999, 24), [0.0, 1e-3, -1e-3, 0.5, -0.5, 0.9, -0.9, 0.999, -0.999]]
    )
    layer_x = rng.normal(size=(5, 3))
    layer_w = rng.normal(size=(3, 4))
    layer_b = rng.normal(size=4)
    layer_g = rng.normal(size=(5, 4))
    a = _softsign(layer_x @ layer_w + layer_b)
    return {
        "x": x,
        "softsign(x)": _softsign(x),
        "tanh(x)": np.tanh(x),
        "y": y,
        "f": _student_f,
        "h": STEP,
        "layer_x": layer_x,
        "W": layer_w,
        "b": layer_b,
        "grad_output": layer_g,
        "a": a,
    }


def _layer_reference(pool: dict[str, Any]) -> tuple[Any, ...]:
    delta = pool["grad_output"] * _dfo_softsign(pool["a"])
    return delta @ pool["W"].T, pool["layer_x"].T @ delta, delta.sum(axis=0)


@dataclasses.dataclass(frozen=True)
class Exercise:
    name: str
    #: Argument tuples, each a tuple of pool names, tried in turn.
    variants: tuple[tuple[str, ...], ...]
    #: The pool name of the input the half-door mask is taken on (None: no half doors).
    half_on: str | None

    def reference(self, pool: dict[str, Any]) -> Any:
        x, y = pool["x"], pool["y"]
        return {
            "softsign": lambda: _softsign(x),
            "abs_derivative": lambda: np.sign(x),
            "softsign_derivative": lambda: 1.0 / (1.0 + np.abs(x)) ** 2,
            "numerical_derivative": lambda: _central(_student_f, x, STEP),
            "tanh_derivative": lambda: 1.0 - np.tanh(x) ** 2,
            "softsign_inverse": lambda: y / (1.0 - np.abs(y)),
            "softsign_layer_backward": lambda: _layer_reference(pool),
        }[self.name]()


EXERCISE = {
    e.name: e
    for e in (
        Exercise("softsign", (("x",),), "x"),
        Exercise("abs_derivative", (("x",),), None),  # +1 on positive inputs is no door
        Exercise("softsign_derivative", (("x",), ("softsign(x)",)), "x"),
        Exercise("numerical_derivative", (("f", "x", "h"),), None),
        Exercise("tanh_derivative", (("x",), ("tanh(x)",)), "x"),
        Exercise("softsign_inverse", (("y",),), "y"),
        Exercise(
            "softsign_layer_backward",
            (("layer_x", "W", "b", "grad_output"), ("layer_x", "W", "a", "grad_output")),
            None,
        ),
    )
}

_DEFAULT = "<default>"

#: Values for the parameters that no argument of the exercise takes: label -> value.
FILLS: dict[str, Any] = {
    "1": 1,
    "1.0": 1.0,
    "2": 2,
    "0": 0,
    "0.5": 0.5,
    "-1": -1,
    "True": True,
    "False": False,
    "None": None,
    **{
        repr(name): name
        for name in (
            "softsign",
            "tanh",
            "logistic",
            "algebraic_sigmoid",
            "arctan_sigmoid",
            "hard_tanh",
            "abs",
            "derivative",
            "inverse",
        )
    },
    "np.abs": np.abs,
    "np.tanh": np.tanh,
    "np.sin": np.sin,
    "student softsign": _softsign,
    "student softsign' from output": _dfo_softsign,
}


# ----------------------------------------------------------------------------------------------
# The search (runs in the subprocess)
# ----------------------------------------------------------------------------------------------


class _Timeout(BaseException):
    pass


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Timeout


@contextlib.contextmanager
def _bounded(seconds: float) -> Iterator[None]:
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _is_library(value: Any) -> bool:
    module = getattr(value, "__module__", None)
    return isinstance(module, str) and (module == "source_lib" or module.startswith("source_lib."))


def _canonical(value: Any, path: list[Any]) -> str:
    if isinstance(value, (types.FunctionType, type)) and _is_library(value):
        return f"{value.__module__}.{value.__qualname__}"
    return _describe_path(path)


def _describe_path(path: list[Any]) -> str:
    text = path[0]
    for kind, step in path[1:]:
        text += f".{step}" if kind == "attr" else f"[{step!r}]"
    return text


def _resolve(path: list[Any]) -> Any:
    value: Any = importlib.import_module(path[0])
    for kind, step in path[1:]:
        value = getattr(value, step) if kind == "attr" else value[step]
    return value


def _callables(package: types.ModuleType) -> dict[str, tuple[Any, list[Any]]]:
    """Every callable the library defines: canonical name -> (callable, access path)."""
    found: dict[int, tuple[str, Any, list[Any]]] = {}

    def add(value: Any, path: list[Any]) -> None:
        if not callable(value) or id(value) in found:
            return
        if isinstance(value, type) and not _is_library(value):
            return
        if isinstance(value, types.FunctionType) and not _is_library(value):
            return
        found[id(value)] = (_canonical(value, path), value, path)
        if isinstance(value, type):
            for attribute, member in vars(value).items():
                if isinstance(member, (staticmethod, classmethod)):
                    add(getattr(value, attribute), [*path, ("attr", attribute)])

    modules = [package]
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        with contextlib.suppress(Exception):
            modules.append(importlib.import_module(info.name))
    for module in modules:
        for key, value in sorted(vars(module).items()):
            if key.startswith("__"):
                continue
            path: list[Any] = [module.__name__, ("attr", key)]
            if isinstance(value, types.ModuleType):
                continue
            if callable(value) and (_is_library(value) or not isinstance(value, type)):
                if isinstance(value, (types.FunctionType, type)) and not _is_library(value):
                    continue  # imported from elsewhere (numpy, the standard library)
                if not isinstance(value, (types.FunctionType, type)) and not _is_library(
                    type(value)
                ):
                    continue  # numpy ufuncs, typing objects, functools helpers...
                add(value, path)
            elif isinstance(value, dict):
                for item, member in value.items():
                    members = member if isinstance(member, (tuple, list)) else (member,)
                    for index, part in enumerate(members):
                        step = [*path, ("key", item)]
                        if isinstance(member, (tuple, list)):
                            step.append(("key", index))
                        add(part, step)
            elif isinstance(value, (tuple, list)):
                for index, part in enumerate(value):
                    add(part, [*path, ("key", index)])
    return {name: (value, path) for name, value, path in found.values()}


def _parameters(func: Any) -> list[inspect.Parameter] | None:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    named = [
        p
        for p in signature.parameters.values()
        if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    return named[:MAX_PARAMETERS]


def _fill_choices(parameter: inspect.Parameter, labels: list[str]) -> list[str]:
    if parameter.default is not inspect.Parameter.empty:
        return [_DEFAULT, *labels]
    return labels


def _assignments(
    parameters: list[inspect.Parameter], taken: set[str], labels: list[str]
) -> Iterator[dict[str, str]]:
    """Fill-value labels for the parameters no argument takes: all combinations when few."""
    free = [p for p in parameters if p.name not in taken]
    choices = [_fill_choices(p, labels) for p in free]
    total = 1
    for options in choices:
        total *= len(options)
    if total <= MAX_COMBINATIONS:
        for combination in itertools.product(*choices):
            yield {p.name: label for p, label in zip(free, combination, strict=True)}
        return
    base = {p.name: options[0] for p, options in zip(free, choices, strict=True)}
    yield dict(base)
    for p, options in zip(free, choices, strict=True):
        for label in options[1:]:
            yield {**base, p.name: label}


def _calls(
    parameters: list[inspect.Parameter], variant: tuple[str, ...], labels: list[str]
) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """(placement, fills): the variant's inputs on parameters in their order, the rest filled."""
    for chosen in itertools.combinations(parameters, len(variant)):
        placement = {p.name: source for p, source in zip(chosen, variant, strict=True)}
        for fills in _assignments(parameters, set(placement), labels):
            yield placement, fills


def _invoke(
    func: Any,
    parameters: list[inspect.Parameter],
    placement: dict[str, str],
    fills: dict[str, str],
    pool: dict[str, Any],
    override: dict[str, Any] | None = None,
) -> Any:
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    positional = True
    for p in parameters:
        if p.name in placement:
            source = placement[p.name]
            value = (override or {}).get(source, pool[source])
            value = value.copy() if isinstance(value, np.ndarray) else value
        elif fills[p.name] == _DEFAULT:
            positional = False
            continue
        else:
            value = FILLS[fills[p.name]]
        if positional and p.kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            args.append(value)
        else:
            kwargs[p.name] = value
    return func(*args, **kwargs)


def _candidates(result: Any) -> Iterator[Any]:
    yield result
    if isinstance(result, (tuple, list)) and len(result) <= 16:
        yield from result
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        for field in dataclasses.fields(result):
            yield getattr(result, field.name, None)
    elif hasattr(result, "__dict__") and not isinstance(result, (type, types.ModuleType)):
        yield from list(vars(result).values())[:16]


def _as_floats(value: Any) -> np.ndarray | None:
    if callable(value) or isinstance(value, (str, bytes, dict)):
        return None
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return None
    return array


def _close(got: Any, want: np.ndarray) -> np.ndarray | None:
    """Element-wise agreement (booleans shaped like ``want``); None if ``got`` is no such array."""
    array = _as_floats(got)
    if array is None or array.size != want.size:
        return None
    with np.errstate(all="ignore"):
        return np.isclose(array.reshape(want.shape), want, equal_nan=True)


def _reproduces(result: Any, expected: Any, mask: np.ndarray | None) -> str | None:
    """'full' when a candidate equals the reference, 'half' when only where ``mask`` holds."""
    if isinstance(expected, tuple):  # the layer's three gradients
        for candidate in _candidates(result):
            if isinstance(candidate, (tuple, list)) and len(candidate) >= len(expected):
                agree = [_close(c, e) for c, e in zip(candidate, expected, strict=False)]
                if all(a is not None and a.all() for a in agree):
                    return "full"
        return None
    kind = None
    for candidate in _candidates(result):
        agree = _close(candidate, expected)
        if agree is None:
            continue
        if agree.all():
            return "full"
        if mask is not None and mask.any() and agree[mask].all():
            kind = "half"
    return kind


def _elementwise_result(
    func: Any,
    parameters: list[inspect.Parameter],
    placement: dict[str, str],
    fills: dict[str, str],
    pool: dict[str, Any],
    source: str,
    expected: np.ndarray,
    probe: int,
) -> np.ndarray | None:
    """The results one element at a time (for functions that take scalars only), or None."""
    values = pool[source]
    with np.errstate(all="ignore"):
        first = _invoke(func, parameters, placement, fills, pool, {source: float(values[probe])})
    agree = _close(first, expected[probe : probe + 1])
    if agree is None or not agree.all():
        return None
    results = np.full(values.shape, np.nan)
    for index, value in enumerate(values):
        try:
            with np.errstate(all="ignore"):
                got = _invoke(func, parameters, placement, fills, pool, {source: float(value)})
            results[index] = float(np.asarray(got, dtype=np.float64))
        except (_Timeout, KeyboardInterrupt):
            raise
        except BaseException:
            continue
    return results


def _describe_call(
    name: str, parameters: list[inspect.Parameter], placement: dict[str, str], fills: dict[str, str]
) -> str:
    parts = []
    for p in parameters:
        if p.name in placement:
            parts.append(f"{p.name}={placement[p.name]}")
        elif fills[p.name] != _DEFAULT:
            parts.append(f"{p.name}={fills[p.name]}")
    return f"{name}({', '.join(parts)})"


def _withheld_error(error: BaseException) -> bool:
    return isinstance(error, NotImplementedError) and "withheld" in str(error)


def _fills_for(exercise: Exercise, pool: dict[str, Any], expected: Any) -> list[str]:
    """The fill labels for an exercise: without a callable that computes the exercise itself
    (the student's own formula, e.g. (1 - |a|)**2 on softsign(x), is no door)."""
    labels = []
    for label, value in FILLS.items():
        own = False
        if callable(value):
            for variant in exercise.variants:
                if len(variant) == 1:
                    with np.errstate(all="ignore"):
                        result = value(pool[variant[0]])
                    own = own or _reproduces(result, expected, None) is not None
        if not own:
            labels.append(label)
    return labels


def search(exercise_name: str) -> dict[str, Any]:
    """Call every library callable with the exercise's arguments; return the doors found."""
    import source_lib

    # Never call the instructor tooling blindly (it writes course folders and git branches):
    # the search runs only in a kernel edition, which has none.
    if (Path(source_lib.__file__).parent / "instructor").exists():
        raise SystemExit(f"not a kernel edition: {source_lib.__file__}")
    exercise = EXERCISE[exercise_name]
    pool = _pool()
    expected = exercise.reference(pool)
    labels = _fills_for(exercise, pool, expected)
    signal.signal(signal.SIGALRM, _on_alarm)
    doors: dict[str, dict[str, Any]] = {}
    slow: list[str] = []
    withheld: set[str] = set()
    calls = 0
    found = _callables(source_lib)
    for name, (func, path) in sorted(found.items()):
        parameters = _parameters(func)
        if parameters is None:
            continue
        give_up = False
        started = time.perf_counter()
        for index, variant in enumerate(exercise.variants):
            mask = None
            if exercise.half_on is not None:
                mask = pool[exercise.half_on] > 0
            elementwise = len(variant) == 1 and exercise.half_on is not None
            for placement, fills in _calls(parameters, variant, labels):
                calls += 1
                if time.perf_counter() - started > FUNCTION_SECONDS:
                    slow.append(name)
                    give_up = True
                    break
                result: Any = None
                try:
                    with _bounded(CALL_SECONDS), np.errstate(all="ignore"):
                        result = _invoke(func, parameters, placement, fills, pool)
                except _Timeout:
                    slow.append(name)
                    give_up = True
                    break
                except BaseException as error:
                    if _withheld_error(error):
                        withheld.add(name)
                        give_up = True
                        break
                    if not elementwise:
                        continue
                    try:
                        probe = int(np.flatnonzero(mask)[0]) if mask is not None else 0
                        with _bounded(CALL_SECONDS):
                            result = _elementwise_result(
                                func,
                                parameters,
                                placement,
                                fills,
                                pool,
                                variant[0],
                                expected,
                                probe,
                            )
                    except _Timeout:
                        slow.append(name)
                        give_up = True
                        break
                    except BaseException as inner:
                        if _withheld_error(inner):
                            withheld.add(name)
                            give_up = True
                            break
                        continue
                    if result is None:
                        continue
                try:
                    kind = _reproduces(result, expected, mask)
                except Exception:  # odd results are no door
                    kind = None
                if kind is None:
                    continue
                known = doors.get(name)
                if known is None or (known["kind"] == "half" and kind == "full"):
                    doors[name] = {
                        "name": name,
                        "path": path,
                        "kind": kind,
                        "variant": index,
                        "placement": placement,
                        "fills": fills,
                        "call": _describe_call(_describe_path(path), parameters, placement, fills),
                    }
                if kind == "full":
                    give_up = True
                    break
            if give_up:
                break
    return {
        "file": source_lib.__file__,
        "callables": sorted(found),
        "calls": calls,
        "doors": sorted(doors.values(), key=lambda door: door["name"]),
        "slow": sorted(set(slow)),
        "withheld": sorted(withheld),
    }


def replay(exercise_name: str, doors: list[dict[str, Any]]) -> dict[str, Any]:
    """Make each door's call again: 'full'/'half' (reproduces), 'withheld', or what else."""
    import source_lib

    exercise = EXERCISE[exercise_name]
    pool = _pool()
    expected = exercise.reference(pool)
    mask = pool[exercise.half_on] > 0 if exercise.half_on is not None else None
    signal.signal(signal.SIGALRM, _on_alarm)
    outcomes = {}
    for door in doors:
        variant = exercise.variants[door["variant"]]
        if door["path"][0].startswith(("softsign_grader", "source_lib.grading")):
            raise SystemExit(f"not replayed: {door['path']}")
        try:
            func = _resolve(door["path"])
            parameters = _parameters(func) or []
            with _bounded(10 * CALL_SECONDS), np.errstate(all="ignore"):
                try:
                    result = _invoke(func, parameters, door["placement"], door["fills"], pool)
                except BaseException as error:
                    if _withheld_error(error) or exercise.half_on is None or len(variant) != 1:
                        raise
                    probe = int(np.flatnonzero(mask)[0]) if mask is not None else 0
                    result = _elementwise_result(
                        func,
                        parameters,
                        door["placement"],
                        door["fills"],
                        pool,
                        variant[0],
                        expected,
                        probe,
                    )
                    if result is None:
                        raise
            outcome = _reproduces(result, expected, mask) or "no longer reproduces"
        except BaseException as error:
            outcome = "withheld" if _withheld_error(error) else f"{type(error).__name__}: {error}"
        outcomes[door["name"]] = outcome
    return {"file": source_lib.__file__, "outcomes": outcomes}


def _main(argv: list[str]) -> None:
    mode, parent, exercise_name, output = argv[:4]
    if parent != "-":
        sys.path.insert(0, parent)
    os.environ.setdefault("MPLBACKEND", "Agg")
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        if mode == "find":
            answer = search(exercise_name)
        else:
            answer = replay(exercise_name, json.loads(Path(argv[4]).read_text(encoding="utf-8")))
    Path(output).write_text(json.dumps(answer), encoding="utf-8")
    sys.stdout.flush()
    os._exit(0)  # skip atexit handlers and threads some library call may have left


# ----------------------------------------------------------------------------------------------
# The tests (run in pytest)
# ----------------------------------------------------------------------------------------------


def _run(mode: str, parent: str, exercise: str, doors: list[dict[str, Any]] | None = None) -> Any:
    with tempfile.TemporaryDirectory(prefix="softsign-doors-") as folder:
        output = Path(folder) / "answer.json"
        command = [sys.executable, str(Path(__file__).resolve()), mode, parent, exercise]
        command.append(str(output))
        if doors is not None:
            given = Path(folder) / "doors.json"
            given.write_text(json.dumps(doors), encoding="utf-8")
            command.append(str(given))
        work = Path(folder) / "work"
        work.mkdir()
        completed = subprocess.run(
            command,
            cwd=work,
            capture_output=True,
            text=True,
            timeout=SEARCH_SECONDS,
            env={**os.environ, "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1"},
            check=False,
        )
        assert completed.returncode == 0, completed.stderr[-3000:]
        assert output.exists(), completed.stderr[-3000:]
        answer = json.loads(output.read_text(encoding="utf-8"))
    if parent != "-":
        assert answer["file"].startswith(parent), (answer["file"], parent)
    return answer


def withholds_of(exercise: str) -> tuple[str, ...]:
    """What the sandbox withholds while a check of ``exercise`` grades (as the judge does)."""
    import source_lib.grading.exercises
    import source_lib.grading.network_exercise  # noqa: F401 - registers its check
    from source_lib.grading.framework import CHECKS

    names = {
        name for check in CHECKS.values() if check.exercise == exercise for name in check.withholds
    }
    assert exercise in names, f"no check grades {exercise}"
    return tuple(sorted(names))


def _edition_parent(withheld: tuple[str, ...]) -> str:
    from softsign_grader.sandbox import kernel_edition

    return str(kernel_edition(withheld).parent)


@functools.cache
def open_search(exercise: str) -> Any:
    """The search in an edition that withholds nothing: the library as it is."""
    return _run("find", _edition_parent(()), exercise)


@functools.cache
def closed_search(exercise: str) -> Any:
    """The search in the edition the sandbox uses while a check of ``exercise`` grades."""
    return _run("find", _edition_parent(withholds_of(exercise)), exercise)


def _accepted() -> dict[str, str]:
    from source_lib.grading.withholding import ACCEPTED_DOORS

    return ACCEPTED_DOORS


def test_formulas_are_the_references():
    """The search compares with NumPy formulas; they agree with source_lib's references."""
    import source_lib
    from source_lib.network import softsign_layer_backward

    pool = _pool()
    for exercise in EXERCISES:
        want = EXERCISE[exercise].reference(pool)
        if exercise == "numerical_derivative":
            have = source_lib.numerical_derivative(_student_f, pool["x"], STEP)
        elif exercise == "softsign_layer_backward":
            have = softsign_layer_backward(
                pool["layer_x"], pool["W"], pool["b"], pool["grad_output"]
            )
        elif exercise == "softsign_inverse":
            have = source_lib.softsign_inverse(pool["y"])
        else:
            have = getattr(source_lib, exercise)(pool["x"])
        if isinstance(want, tuple):
            assert all(np.allclose(h, w) for h, w in zip(have, want, strict=True)), exercise
        else:
            assert np.allclose(have, want), exercise
    assert not np.allclose(
        _central(_student_f, pool["x"], 1e-5), EXERCISE["numerical_derivative"].reference(pool)
    ), "h must matter"


@pytest.mark.slow
@pytest.mark.parametrize("exercise", EXERCISES)
def test_search_finds_the_reference_in_the_open_library(exercise):
    """With nothing withheld the search finds the reference itself: it can see doors."""
    found = open_search(exercise)
    names = {door["name"] for door in found["doors"] if door["kind"] == "full"}
    module = "network" if exercise == "softsign_layer_backward" else "activations"
    assert f"source_lib.{module}.{exercise}" in names, found["doors"]
    assert len(found["callables"]) > 50, found["callables"]


@pytest.mark.slow
@pytest.mark.parametrize("exercise", EXERCISES)
def test_no_door_is_open_while_graded(exercise):
    """In the kernel edition of the exercise's notebook, every door found is an accepted one."""
    accepted = _accepted()
    found = closed_search(exercise)
    open_doors = [door for door in found["doors"] if door["name"] not in accepted]
    assert not open_doors, (
        f"{exercise}: library functions reproduce the exercise while it is graded; withhold "
        f"them (the check's withholds) or list them in ACCEPTED_DOORS: {open_doors}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("exercise", EXERCISES)
def test_every_door_is_real_and_closed(exercise):
    """Each door of the open library reproduces the exercise with the real package, and in
    the kernel edition raises the withheld stub's NotImplementedError (or is accepted)."""
    accepted = _accepted()
    doors = open_search(exercise)["doors"]
    real = _run("replay", "-", exercise, doors)
    assert "softsign-kernel-edition" not in real["file"], real["file"]  # the real package
    for door in doors:
        assert real["outcomes"][door["name"]] == door["kind"], (door, real["outcomes"])
    closed = _run("replay", _edition_parent(withholds_of(exercise)), exercise, doors)
    for door in doors:
        if door["name"] in accepted:
            continue
        assert closed["outcomes"][door["name"]] == "withheld", (
            f"{door['call']} ({door['kind']} door of {exercise}) is not withheld: "
            f"{closed['outcomes'][door['name']]}"
        )


@pytest.mark.slow
def test_accepted_doors_are_doors():
    """ACCEPTED_DOORS lists only functions the search finds as doors of some exercise."""
    accepted = _accepted()
    found = {door["name"] for exercise in EXERCISES for door in open_search(exercise)["doors"]}
    assert set(accepted) <= found, set(accepted) - found
    assert all(reason.strip() for reason in accepted.values())


if __name__ == "__main__":
    _main(sys.argv[1:])
