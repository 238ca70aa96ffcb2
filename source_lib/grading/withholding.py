"""What grading withholds while it grades an exercise, and withholding it in JupyterLab.

While a notebook is graded, the grading kernel's edition of ``source_lib``
(:mod:`softsign_grader.edition`) replaces the course library's implementations of
the notebook's exercises, and their doors (functions that compute an exercise under
another name), with stand-ins that raise. :func:`withheld_names` says which, from
the registry (:mod:`source_lib.grading.registry`); :func:`library_withheld` makes
them raise in the same words while a check calls the student's function in
JupyterLab, so that a function calling one fails there as it fails in grading.
:func:`check_withholds` is what the sandbox withholds while one check grades, and
:data:`ACCEPTED_DOORS` the doors left open on purpose.
:mod:`source_lib.grading.framework` uses them, and exports their names too.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import types
from collections.abc import Iterator, Sequence
from typing import Any

from source_lib.grading.messages import WITHHELD_NOTICE
from source_lib.grading.registry import EXERCISE, exercises_of

__all__ = [
    "ACCEPTED_DOORS",
    "check_withholds",
    "library_withheld",
    "withheld_names",
]

#: Doors left open on purpose: library functions (qualified name, e.g.
#: ``"source_lib.family.algebraic_family"``) that compute a graded exercise under another
#: name or with a parameter, and that the grading sandbox does not withhold while that
#: exercise is graded, each with the reason. Every other door is closed by the exercise's
#: ``doors`` in :mod:`source_lib.grading.registry`; ``tests/test_doors.py`` searches the
#: kernel edition of each exercise for doors and fails on one that is neither withheld nor
#: listed here. None is needed now: no notebook's ordinary cells call a door of an exercise
#: that the same notebook grades.
ACCEPTED_DOORS: dict[str, str] = {}


def check_withholds(name: str, check: str, extra: Sequence[str]) -> tuple[str, ...]:
    """What the sandbox withholds while the check ``check`` of ``name`` grades."""
    entry = EXERCISE.get(name)
    if entry is None:
        return (name, *(other for other in extra if other != name))
    if check != entry.check:
        msg = f"the check of {name} must be named {entry.check} (its registry entry), not {check}"
        raise ValueError(msg)
    unlisted = sorted(set(extra) - set(entry.withholds))
    if unlisted:
        msg = f"{check} withholds {unlisted}: add them to the doors of {name} in the registry"
        raise ValueError(msg)
    return entry.withholds


def withheld_names(name: str) -> frozenset[str]:
    """What grading withholds while it grades the notebook of exercise ``name``.

    The graded functions of that notebook and their doors (the ``withholds`` of
    each of its exercises in :mod:`source_lib.grading.registry`): grading
    withholds them for the whole notebook. Empty for a function the registry
    does not list.
    """
    entry = EXERCISE.get(name)
    if entry is None:
        return frozenset()
    return frozenset(door for other in exercises_of(entry.notebook) for door in other.withholds)


@functools.cache  # a code object never changes: build each stand-in once
def _stand_in_code(name: str, free: int) -> types.CodeType:
    """The code of a function that raises as a withheld stand-in does, with ``free`` free vars."""
    message = WITHHELD_NOTICE.format(name=name)
    cells = [f"_{index}" for index in range(free)]
    source = "def _outer():\n"
    source += "".join(f"    {cell} = None\n" for cell in cells)
    source += "    def withheld(*args, **kwargs):\n"
    if cells:
        source += f"        ({', '.join(cells)},)\n"
    source += f"        raise NotImplementedError({message!r})\n"
    source += "    return withheld\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<withheld source_lib.{name}>", "exec"), namespace)
    code: types.CodeType = namespace["_outer"]().__code__
    return code


#: The last search of :func:`_library_functions` for each ``names``, with the state of
#: ``source_lib``'s modules it searched (which are loaded, and what each global is bound to).
_FOUND: dict[frozenset[str], tuple[tuple[Any, ...], dict[Any, str]]] = {}
#: The names in ``sys.modules`` when :func:`_library_modules` last read them all, and those
#: of ``source_lib``'s modules among them, in ``sys.modules``' order.
_SCANNED: tuple[set[str], list[str]] = (set(), [])


def _library_modules() -> list[tuple[str, types.ModuleType]]:
    """``source_lib``'s modules in ``sys.modules``, as ``(name, module)`` in its order.

    The names are read again only when the names in ``sys.modules`` changed (a module
    imported or removed): comparing them costs a tenth of reading them one by one, in a
    process with thousands of modules. The modules are looked up every time, so a module
    object put in the place of another is seen.
    """
    global _SCANNED
    seen, library = _SCANNED
    if sys.modules.keys() != seen:
        names = list(sys.modules)
        library = [name for name in names if name == "source_lib" or name.startswith("source_lib.")]
        _SCANNED = (set(names), library)
    modules = [(name, sys.modules.get(name)) for name in library]
    return [(name, module) for name, module in modules if isinstance(module, types.ModuleType)]


def _library_functions(names: frozenset[str]) -> dict[types.FunctionType, str]:
    """The functions of ``source_lib`` that grading withholds for ``names``, each with its name.

    As the grading kernel's edition finds them: a module global under one of
    ``names``, and a function whose own name is one of ``names``, as a module
    global or held in a module-level dict (or a tuple in it), in every module of
    ``source_lib`` imported so far. The search runs again only when a module of
    ``source_lib`` was imported, or one of its globals bound to another object (a
    reload, an assignment), since the last one: every check calls this, and the
    search costs milliseconds where comparing the bindings costs microseconds.
    """
    modules = _library_modules()
    state = tuple(
        (name, id(module), *map(id, list(vars(module).values()))) for name, module in modules
    )
    cached = _FOUND.get(names)
    if cached is not None and cached[0] == state:
        return cached[1]
    found: dict[types.FunctionType, str] = {}

    def consider(value: Any, key: str | None) -> None:
        own = getattr(value, "__name__", None)
        if isinstance(value, types.FunctionType) and (own in names or key in names):
            found.setdefault(value, own if own in names else str(key))

    for _, module in modules:
        for key, value in list(vars(module).items()):
            consider(value, key)
            if isinstance(value, dict):
                for member in list(value.values()):
                    for part in member if isinstance(member, tuple) else (member,):
                        consider(part, None)
    _FOUND[names] = (state, found)
    return found


@contextlib.contextmanager
def library_withheld(name: str) -> Iterator[None]:
    """Inside the block, ``source_lib``'s functions that grading withholds for ``name`` raise.

    Each function's code is swapped, in place, for one that raises
    :class:`NotImplementedError` with the message the grading kernel's stand-in
    gives (:data:`source_lib.grading.messages.WITHHELD_NOTICE`), so a call through
    any import path or alias (``from source_lib import softsign as s``, a dict of
    activations, ``np.vectorize``...) meets it, as it does in grading. Only the
    functions of the exercises of ``name``'s notebook and their doors are
    withheld (:func:`withheld_names`): a layer of notebook 05 may still use
    ``softsign``. Every function gets its own code back when the block ends,
    however it ends.
    """
    names = withheld_names(name)
    swapped: list[tuple[types.FunctionType, types.CodeType]] = []
    try:
        for function, label in _library_functions(names).items() if names else ():
            original = function.__code__
            function.__code__ = _stand_in_code(label, len(original.co_freevars))
            swapped.append((function, original))
        yield
    finally:
        for function, original in reversed(swapped):
            function.__code__ = original
