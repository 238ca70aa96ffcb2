"""Call a student's functions and return what they gave back, as plain data.

This is the only grading code that runs inside the student's kernel during
``nbgrader autograde``. It decides nothing: the judge
(:mod:`softsign_grader.judge`) sends it a list of calls, it runs them and
publishes the results as one JSON document, and the judge, in the nbgrader
process, compares them with its own reference. Whatever the student's code
does to this module, to NumPy or to the kernel can change only the data that
comes back, never the verdict: wrong data loses points, it cannot earn them.

The module depends on nothing but the standard library and NumPy, because the
judge sends its source text to the kernel with every graded cell: the
collector never relies on anything a student's notebook could have replaced
before it ran. The same :func:`encode` and :func:`decode` serve both sides,
and :func:`call` is also how the checks call a student's function in
JupyterLab, so both places run the student's code the same way.

Wire format
-----------
Every value is a small JSON object with a type tag ``"t"``: ``none``,
``bool``, ``int``, ``float`` (hexadecimal, so nan, inf and -0.0 survive),
``complex``, ``str`` (short), ``scalar`` and ``array`` (NumPy dtype string,
shape and base64 bytes; only boolean, integer, float and complex dtypes),
``tuple`` and ``list`` (up to :data:`MAX_ITEMS` items, nested at most two
levels), ``function`` (an input only: one of the test functions in
:data:`TEST_FUNCTIONS`, by name) and ``other`` (anything else, by type name).
:func:`decode` refuses anything outside this, so a forged document can carry
values, never objects.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import linecache
import math
import os
import re
import signal
import sys
import sysconfig
import threading
import types
import warnings
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # the kernel runs this module's source with nothing of source_lib
    from source_lib._types import Activation

__all__ = [
    "MAX_ITEMS",
    "MIME_TYPE",
    "TEST_FUNCTIONS",
    "Outcome",
    "WireError",
    "call",
    "decode",
    "encode",
    "ipython_shell",
    "no_kernel_exit",
    "outcome_from_wire",
    "outcome_to_wire",
    "run",
    "strided",
    "student_line",
]

#: The mime type of the one display output the collector publishes per graded cell.
MIME_TYPE = "application/x-softsign-collected"

#: Longest tuple or list carried over the wire (a backward pass returns three arrays).
MAX_ITEMS = 8

#: Largest array (in bytes) carried over the wire in either direction.
MAX_ARRAY_BYTES = 16 * 2**20

#: At most this many evaluations of a test function are reported per call.
MAX_EVALUATIONS = 64

#: Characters kept of an exception's message (enough for any message Python or NumPy gives).
MAX_MESSAGE = 600

#: Characters kept of the student's source line named in :attr:`Outcome.where`.
MAX_SOURCE_LINE = 40

_DTYPE_KINDS = "biufc"


def _cube(x: Any) -> Any:
    return x * x * x


#: Test functions passed to a student's ``numerical_derivative``, by wire name.
TEST_FUNCTIONS: dict[str, Activation] = {
    "x**3": _cube,
    "np.sin": np.sin,
    "np.tanh": np.tanh,
    "np.exp": np.exp,
}


class WireError(ValueError):
    """A document does not follow the wire format (forged, truncated or too large)."""


# ---------------------------------------------------------------------------
# Values <-> plain data
# ---------------------------------------------------------------------------


def _bytes_of(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def encode(value: Any, depth: int = 0) -> dict[str, Any]:
    """Return the wire form of ``value`` (see the module docstring).

    Examples
    --------
    >>> encode(-0.0)
    {'t': 'float', 'v': '-0x0.0p+0'}
    >>> encode((1, None))
    {'t': 'tuple', 'items': [{'t': 'int', 'v': '1'}, {'t': 'none'}]}
    """
    if value is None:
        return {"t": "none"}
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in _DTYPE_KINDS or value.nbytes > MAX_ARRAY_BYTES:
            return {"t": "other", "name": f"ndarray of {value.dtype.name}"[:60]}
        return {
            "t": "array",
            "dtype": value.dtype.str,
            "shape": list(value.shape),
            "b": _bytes_of(value),
            "readonly": not value.flags.writeable,
            "strided": value.size > 1 and not value.flags.c_contiguous,
        }
    if isinstance(value, np.generic):
        if value.dtype.kind not in _DTYPE_KINDS:
            return {"t": "other", "name": type(value).__name__[:60]}
        return {"t": "scalar", "dtype": value.dtype.str, "b": _bytes_of(np.asarray(value))}
    if isinstance(value, bool):
        return {"t": "bool", "v": value}
    if isinstance(value, int):
        if abs(value) >= 10**40:
            return {"t": "other", "name": "int (more than 40 digits)"}
        return {"t": "int", "v": str(value)}
    if isinstance(value, float):
        return {"t": "float", "v": float.hex(value)}
    if isinstance(value, complex):
        return {"t": "complex", "re": float.hex(value.real), "im": float.hex(value.imag)}
    if isinstance(value, tuple | list) and depth < 2 and len(value) <= MAX_ITEMS:
        return {
            "t": "tuple" if isinstance(value, tuple) else "list",
            "items": [encode(item, depth + 1) for item in value],
        }
    if isinstance(value, str):
        return {"t": "str", "v": value[:200]}
    label = getattr(value, "wire_name", None)
    if isinstance(label, str) and label in TEST_FUNCTIONS:
        return {"t": "function", "name": label}
    return {"t": "other", "name": type(value).__name__[:60]}


def _dtype(text: Any) -> np.dtype:
    if not isinstance(text, str) or len(text) > 8:
        raise WireError(f"bad dtype {text!r}")
    try:
        dtype = np.dtype(text)
    except TypeError as error:
        raise WireError(f"bad dtype {text!r}") from error
    if dtype.kind not in _DTYPE_KINDS or dtype.fields is not None or dtype.itemsize > 16:
        raise WireError(f"dtype {text!r} is not a number type")
    return dtype


def _raw(text: Any, limit: int = MAX_ARRAY_BYTES) -> bytes:
    if not isinstance(text, str) or len(text) > limit * 4 // 3 + 8:
        raise WireError("bad or oversized array data")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as error:
        raise WireError("bad array data") from error


def strided(array: np.ndarray) -> np.ndarray:
    """Return a non-contiguous view holding ``array``'s values (same shape and dtype).

    The checks give students such arrays, and the wire rebuilds them the same way.
    """
    base = np.zeros((*array.shape, 2), dtype=array.dtype)
    base[..., 0] = array
    return base[..., 0]


class _Foreign:
    """Stands for a returned object that is not a number (only its type name crossed)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object>"


def _foreign(name: Any) -> Any:
    text = name if isinstance(name, str) else "object"
    text = "".join(ch for ch in text[:60] if ch.isalnum() or ch in "_ ") or "object"
    return type(text, (_Foreign,), {})()


def _decode_number(kind: str, data: dict[str, Any]) -> int | float | complex:
    """Rebuild an ``int``, ``float`` or ``complex`` from its wire form."""
    if kind == "int":
        text = data.get("v")
        if not isinstance(text, str) or len(text) > 45:
            raise WireError("bad int")
        try:
            return int(text)
        except ValueError as error:
            raise WireError("bad int") from error
    try:
        if kind == "float":
            return float.fromhex(str(data.get("v"))[:40])
        return complex(float.fromhex(str(data["re"])[:40]), float.fromhex(str(data["im"])[:40]))
    except (KeyError, ValueError, OverflowError) as error:
        raise WireError(f"bad {kind}") from error


def _decode_array(data: dict[str, Any]) -> np.ndarray:
    """Rebuild an array from its wire form: dtype, shape, bytes, and how it was given."""
    dtype = _dtype(data.get("dtype"))
    shape = data.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) > 8
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
    ):
        raise WireError("bad array shape")
    count = math.prod(shape)
    if count * dtype.itemsize > MAX_ARRAY_BYTES:
        raise WireError("array too large")
    raw = _raw(data.get("b"))
    if len(raw) != count * dtype.itemsize:
        raise WireError("array data does not match its shape")
    array = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    if data.get("strided") is True:
        array = strided(array)
    if data.get("readonly") is True:
        array.flags.writeable = False
    return array


def decode(data: Any, depth: int = 0) -> Any:
    """Rebuild a value from its wire form; raise :class:`WireError` on anything else.

    A ``function`` entry becomes the named test function, wrapped so that it
    remembers the points it was evaluated at.

    Examples
    --------
    >>> decode(encode(np.arange(3.0)))
    array([0., 1., 2.])
    >>> decode({"t": "pickle", "v": "..."})
    Traceback (most recent call last):
    ...
    source_lib.grading.collector.WireError: unknown value type 'pickle'
    """
    if not isinstance(data, dict):
        raise WireError("a value must be a JSON object")
    kind = data.get("t")
    if kind == "none":
        return None
    if kind == "bool":
        return bool(data.get("v"))
    if kind in ("int", "float", "complex"):
        return _decode_number(kind, data)
    if kind == "str":
        return str(data.get("v", ""))[:200]
    if kind == "scalar":
        dtype = _dtype(data.get("dtype"))
        raw = _raw(data.get("b"), 16)
        if len(raw) != dtype.itemsize:
            raise WireError("scalar data does not match its dtype")
        return np.frombuffer(raw, dtype=dtype)[0]
    if kind == "array":
        return _decode_array(data)
    if kind in ("tuple", "list"):
        items = data.get("items")
        if depth >= 2 or not isinstance(items, list) or len(items) > MAX_ITEMS:
            raise WireError("bad sequence")
        values = [decode(item, depth + 1) for item in items]
        return tuple(values) if kind == "tuple" else values
    if kind == "function":
        name = data.get("name")
        if name not in TEST_FUNCTIONS:
            raise WireError(f"unknown test function {name!r}")
        return _Evaluations(str(name))
    if kind == "other":
        return _foreign(data.get("name"))
    raise WireError(f"unknown value type {kind!r}")


class _Evaluations:
    """A test function that remembers the points it was evaluated at."""

    def __init__(self, name: str) -> None:
        self.wire_name = name
        self.function = TEST_FUNCTIONS[name]
        self.points: list[np.ndarray] = []

    def __call__(self, x: Any) -> Any:
        if len(self.points) < MAX_EVALUATIONS:
            self.points.append(np.array(x, dtype=np.float64, copy=True).ravel()[:4096])
        return self.function(x)

    def __repr__(self) -> str:
        return self.wire_name


# ---------------------------------------------------------------------------
# Calling the student's function
# ---------------------------------------------------------------------------


class Outcome:
    """What one call of a student's function did.

    ``kind`` is one of ``"value"`` (``value`` holds the result), ``"missing"``
    (no such function), ``"not_callable"``, ``"not_implemented"``,
    ``"timeout"``, ``"exit"`` (``sys.exit()``, ``exit()``...) and ``"raised"``
    (``error`` and ``message`` name the exception, and ``where`` the student's
    own line it came from, when there is one: :func:`student_line`).
    """

    __slots__ = ("error", "evaluations", "kind", "message", "mutated", "value", "where")

    def __init__(
        self,
        kind: str,
        value: Any = None,
        *,
        error: str = "",
        message: str = "",
        mutated: Mapping[int, np.ndarray] | None = None,
        evaluations: Mapping[int, list[np.ndarray]] | None = None,
        where: str = "",
    ) -> None:
        self.kind = kind
        self.value = value
        self.error = error
        self.message = message
        self.where = where
        self.mutated = dict(mutated or {})
        self.evaluations = dict(evaluations or {})

    def __repr__(self) -> str:
        return f"Outcome({self.kind!r}, {self.value!r}, error={self.error!r})"


class _TimeUp(BaseException):
    """Raised inside the student's function when its time is up."""


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    usable = (
        seconds > 0
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise _TimeUp

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Discard what the call prints and ignore its warnings and floating-point errors."""
    sink = io.StringIO()
    with (
        contextlib.redirect_stdout(sink),
        contextlib.redirect_stderr(sink),
        warnings.catch_warnings(),
        np.errstate(all="ignore"),
    ):
        warnings.simplefilter("ignore")
        yield


def _library_folders() -> tuple[str, ...]:
    """Folders whose code is not the student's: Python's own, installed packages, NumPy,
    ``source_lib`` (wherever this kernel imports it from) and this module."""
    folders = {sysconfig.get_paths().get(key, "") for key in ("stdlib", "purelib", "platlib")}
    for name in ("numpy", "source_lib"):
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if isinstance(path, str):
            folders.add(os.path.dirname(os.path.realpath(path)))
    return tuple(folder + os.sep for folder in folders if folder)


def _is_students(filename: str, library: tuple[str, ...]) -> bool:
    if filename == "softsign_collector" or filename.startswith("<frozen"):
        return False
    if filename.startswith("<__array_function__"):
        return False
    if filename == globals().get("__file__"):
        return False
    return not os.path.realpath(filename).startswith(library) if os.sep in filename else True


def _cell_name(filename: str) -> str:
    """How the student knows the file ``filename``: ``"your cell In[5]"``, or the file's name."""
    shell = ipython_shell()
    label = None
    with contextlib.suppress(Exception):
        label = shell.compile.format_code_name(filename) if shell is not None else None
    if label is not None:
        return f"your cell {label[1]}"
    found = re.match(r"<ipython-input-(\d+)-", filename)
    if found:
        return f"your cell In[{found.group(1)}]"
    return os.path.basename(filename) if os.sep in filename else filename


def student_line(traceback: types.TracebackType | None) -> str:
    """Where in the student's own code an exception came from, or "" when nowhere.

    The innermost frame of ``traceback`` whose code is neither Python's, an
    installed package's, NumPy's, ``source_lib``'s nor this module's, as
    ``your cell In[5], line 3: `return x ^ 2``` (IPython names a notebook's
    cells; elsewhere the file's name), its source line cut to
    :data:`MAX_SOURCE_LINE` characters.

    Examples
    --------
    >>> def broken(x):
    ...     return x ^ 2.0
    >>> try:
    ...     broken(3.0)
    ... except TypeError as error:
    ...     print(student_line(error.__traceback__))
    <doctest ...>, line 2: `return x ^ 2.0`
    """
    library = _library_folders()
    found = None
    while traceback is not None:
        code = traceback.tb_frame.f_code
        if _is_students(code.co_filename, library):
            found = (code.co_filename, traceback.tb_lineno, traceback.tb_frame.f_globals)
        traceback = traceback.tb_next
    if found is None:
        return ""
    filename, line, namespace = found
    where = f"{_cell_name(filename)}, line {line}"
    source = " ".join(linecache.getline(filename, line, namespace).split())
    if len(source) > MAX_SOURCE_LINE:
        source = source[: MAX_SOURCE_LINE - 3].rstrip(" .,") + "..."
    return f"{where}: `{source}`" if source and "`" not in source else where


def _snapshot(value: Any) -> bytes | None:
    if isinstance(value, np.ndarray) and value.flags.writeable:
        return value.tobytes()
    return None


def call(func: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], time_limit: float) -> Outcome:
    """Call ``func(*args, **kwargs)`` and describe what happened as an :class:`Outcome`.

    Printed output is discarded, warnings are ignored, and the call is stopped
    after ``time_limit`` seconds (on POSIX, in the main thread). Writeable
    array arguments that the call changed are reported in ``mutated``.

    Examples
    --------
    >>> call(lambda x: 2 * x, (3,), {}, 1.0).value
    6
    >>> call(lambda x: 1 / 0, (3,), {}, 1.0).error
    'ZeroDivisionError'
    """
    if not callable(func):
        return Outcome("not_callable", error=type(func).__name__)
    before = [_snapshot(arg) for arg in args]
    try:
        with _quiet(), _time_limit(time_limit):
            value = func(*args, **dict(kwargs))
    except NotImplementedError as error:
        return Outcome("not_implemented", message=str(error)[:300])
    except _TimeUp:
        return Outcome("timeout")
    except SystemExit:
        return Outcome("exit")
    except BaseException as error:  # the student's code may raise anything
        where = ""
        with contextlib.suppress(Exception):
            where = student_line(error.__traceback__)
        return Outcome(
            "raised",
            error=type(error).__name__[:60],
            message=" ".join(str(error).split())[:MAX_MESSAGE],
            where=where,
        )
    mutated = {
        index: np.array(arg, copy=True)
        for index, (arg, snapshot) in enumerate(zip(args, before, strict=True))
        if snapshot is not None and arg.tobytes() != snapshot
    }
    evaluations = {
        index: list(arg.points) for index, arg in enumerate(args) if isinstance(arg, _Evaluations)
    }
    return Outcome("value", value, mutated=mutated, evaluations=evaluations)


def outcome_to_wire(outcome: Outcome) -> dict[str, Any]:
    """Return the wire form of an :class:`Outcome`."""
    return {
        "kind": outcome.kind,
        "value": encode(outcome.value) if outcome.kind == "value" else {"t": "none"},
        "error": outcome.error,
        "message": outcome.message,
        "where": outcome.where,
        "mutated": {str(i): encode(a) for i, a in outcome.mutated.items()},
        "evaluations": {
            str(i): [encode(point) for point in points[:MAX_EVALUATIONS]]
            for i, points in outcome.evaluations.items()
        },
    }


_KINDS = ("value", "missing", "not_callable", "not_implemented", "timeout", "exit", "raised")


def outcome_from_wire(data: Any) -> Outcome:
    """Rebuild an :class:`Outcome` from its wire form; raise :class:`WireError` otherwise."""
    if not isinstance(data, dict) or data.get("kind") not in _KINDS:
        raise WireError("bad outcome")
    mutated_data = data.get("mutated") or {}
    evaluations_data = data.get("evaluations") or {}
    if not isinstance(mutated_data, dict) or not isinstance(evaluations_data, dict):
        raise WireError("bad outcome")
    mutated = {}
    for key, value in list(mutated_data.items())[:MAX_ITEMS]:
        array = decode(value)
        if not str(key).isdigit() or not isinstance(array, np.ndarray):
            raise WireError("bad mutated argument")
        mutated[int(key)] = array
    evaluations: dict[int, list[np.ndarray]] = {}
    for key, points in list(evaluations_data.items())[:MAX_ITEMS]:
        if not str(key).isdigit() or not isinstance(points, list):
            raise WireError("bad evaluations")
        decoded = [decode(point) for point in points[:MAX_EVALUATIONS]]
        if not all(isinstance(point, np.ndarray) for point in decoded):
            raise WireError("bad evaluations")
        evaluations[int(key)] = decoded
    return Outcome(
        str(data["kind"]),
        decode(data.get("value", {"t": "none"})),
        error=str(data.get("error", ""))[:60],
        message=str(data.get("message", ""))[:MAX_MESSAGE],
        mutated=mutated,
        evaluations=evaluations,
        where=str(data.get("where", ""))[:300],
    )


def _run_one(entry: Mapping[str, Any], namespace: Mapping[str, Any], limit: float) -> Any:
    func = namespace.get(entry["function"])
    if func is None:
        return outcome_to_wire(Outcome("missing"))
    args = tuple(decode(arg) for arg in entry["args"])
    kwargs = {key: decode(value) for key, value in entry["kwargs"].items()}
    return outcome_to_wire(call(func, args, kwargs, limit))


def _refuse_exit(*args: Any, **kwargs: Any) -> None:
    raise SystemExit


def ipython_shell() -> Any:
    """The running IPython shell, or None (without importing IPython)."""
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    return get_ipython() if callable(get_ipython) else None


@contextlib.contextmanager
def no_kernel_exit() -> Iterator[None]:
    """Make IPython's ``exit()``/``quit()`` raise SystemExit instead of ending the kernel."""
    shell = ipython_shell()
    if shell is None or not hasattr(shell, "ask_exit"):
        yield
        return
    had_own = "ask_exit" in vars(shell)
    previous = vars(shell).get("ask_exit")
    shell.ask_exit = _refuse_exit
    try:
        yield
    finally:
        if had_own:
            shell.ask_exit = previous
        else:
            vars(shell).pop("ask_exit", None)


def run(request: str, namespace: Mapping[str, Any]) -> None:
    """Kernel side: run the calls in ``request`` (JSON) and publish their outcomes.

    Each call names a function in ``namespace`` (the notebook's globals) and
    carries its arguments; the outcomes are published as one display output
    of type :data:`MIME_TYPE`, echoing the request's ``nonce``. After a call
    that runs out of time, the remaining calls are not run.
    """
    document = json.loads(request)
    limit = float(document.get("time_limit", 3.0))
    outcomes = []
    timed_out = False
    with no_kernel_exit():
        for entry in document["calls"]:
            # A check stops at the first call that ran out of time, so the calls after it
            # would only burn the cell's time budget: they are reported as timed out too.
            outcome = outcome_to_wire(Outcome("timeout")) if timed_out else None
            if outcome is None:
                outcome = _run_one(entry, namespace, limit)
                timed_out = outcome["kind"] == "timeout"
            outcomes.append(outcome)
    reply = json.dumps({"nonce": document["nonce"], "outcomes": outcomes})
    from IPython.display import publish_display_data

    publish_display_data({MIME_TYPE: reply})
