"""The course's exercises, in one place: what is graded, where, and against what.

Each graded function of the course has one :class:`Exercise` in
:data:`EXERCISES`: the notebook that asks for it, the check its test cells
call (``check_NAME``, in the module :attr:`Exercise.check_module`), the
reference implementation in ``source_lib`` that the check compares with, and
what the grading sandbox withholds while that check grades
(:attr:`Exercise.withholds`). Everything else that depends on the list of
exercises is derived from it:

* :func:`source_lib.grading.framework.check_function` gives each registered
  check its ``withholds`` from here;
* the judge's ``CHECK_MODULES`` (:data:`CHECK_MODULES`), the sandbox's
  ``GRADED_FUNCTIONS`` (:data:`GRADED_FUNCTIONS`) and the stand-ins of its
  kernel edition of ``source_lib``;
* the modules the student release always ships (the check modules);
* the tests' lists of graded functions; ``tests/test_registry.py`` compares
  this registry with the README's table of notebooks.

Adding an exercise means adding one entry here and writing its check with
:func:`~source_lib.grading.framework.check_function` in the module the entry
names. An answer graded by hand is no function and has no check: it is listed
in :data:`WRITTEN_ANSWERS`.

Doors
-----
The names an exercise withholds beyond the graded function's own are its
*doors*: library functions that compute the exercise under another name or
with a parameter (``family.algebraic_family(x, 1)`` is softsign), and the
private twins of the reference. ``tests/test_doors.py`` searches the kernel
edition of each exercise for doors and fails on one that is neither withheld
here nor accepted in :data:`source_lib.grading.framework.ACCEPTED_DOORS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

__all__ = [
    "CHECK_MODULES",
    "EXERCISE",
    "EXERCISES",
    "GRADED_FUNCTIONS",
    "WRITTEN_ANSWERS",
    "Exercise",
    "WrittenAnswer",
    "exercises_of",
]

#: The module that holds the checks of the element-wise exercises.
_EXERCISES_MODULE = "source_lib.grading.exercises"


@dataclass(frozen=True)
class Exercise:
    """One graded function: its notebook, its check, its reference and its doors.

    Parameters
    ----------
    name : str
        The function the student writes (``"softsign"``).
    notebook : str
        The notebook that asks for it, without ``.ipynb``
        (``"01_softsign_definition"``).
    reference : str
        The dotted name of the reference implementation in ``source_lib``.
    check_module : str
        The module that defines the check ``check_NAME``.
    doors : tuple of str
        What the sandbox withholds while the check grades, beyond ``name``
        itself (see the module docstring).
    """

    name: str
    notebook: str
    reference: str
    check_module: str = _EXERCISES_MODULE
    doors: tuple[str, ...] = ()

    @property
    def check(self) -> str:
        """The name of the exercise's check, which its test cells call."""
        return f"check_{self.name}"

    @property
    def withholds(self) -> tuple[str, ...]:
        """Everything the sandbox withholds while the check grades: the name, then the doors."""
        return (self.name, *(door for door in self.doors if door != self.name))

    def reference_function(self) -> Callable[..., Any]:
        """Import and return the reference implementation.

        Returns
        -------
        callable
            The function named by :attr:`reference`.
        """
        module, _, attribute = self.reference.rpartition(".")
        function: Callable[..., Any] = getattr(importlib.import_module(module), attribute)
        return function


@dataclass(frozen=True)
class WrittenAnswer:
    """An answer graded by hand (a markdown cell), listed beside the exercises.

    Parameters
    ----------
    grade_id : str
        The nbgrader ``grade_id`` of the answer cell.
    notebook : str
        The notebook that asks for it, without ``.ipynb``.
    description : str
        How the README's table of notebooks names it.
    """

    grade_id: str
    notebook: str
    description: str


#: Every graded function of the course, in the order of the notebooks.
EXERCISES: tuple[Exercise, ...] = (
    Exercise(
        "softsign",
        "01_softsign_definition",
        "source_lib.activations.softsign",
        doors=(
            "_softsign",  # network's private copy: network.HIDDEN_ACTIVATIONS["softsign"][0]
            "_softsign_model",
            "algebraic_family",  # family.algebraic_family(x, 1) is softsign
        ),
    ),
    Exercise(
        "abs_derivative",
        "02_derivative_of_abs",
        "source_lib.activations.abs_derivative",
        doors=("numerical_derivative",),  # numerical_derivative(np.abs, x) is sign(x)
    ),
    Exercise(
        "softsign_derivative",
        "03_quotient_rule_derivation",
        "source_lib.activations.softsign_derivative",
        doors=(
            "algebraic_family_derivative",  # family.algebraic_family_derivative(x, 1)
            "softsign_derivative_from_output",  # of softsign(x), also network's private twin:
            "_softsign_derivative_from_output",  # network.HIDDEN_ACTIVATIONS["softsign"][1]
            "numerical_derivative",  # numerical_derivative(softsign, x), to 1e-5
        ),
    ),
    Exercise(
        "numerical_derivative",
        "03_quotient_rule_derivation",
        "source_lib.activations.numerical_derivative",
    ),
    Exercise(
        "tanh_derivative",
        "04_softsign_vs_tanh",
        "source_lib.activations.tanh_derivative",
        doors=(
            "_tanh_derivative_from_output",  # of np.tanh(x): network.HIDDEN_ACTIVATIONS["tanh"][1]
            "numerical_derivative",  # numerical_derivative(np.tanh, x), to 1e-10
        ),
    ),
    Exercise(
        "softsign_inverse",
        "04_softsign_vs_tanh",
        "source_lib.activations.softsign_inverse",
        doors=("reach",),  # family.reach("softsign", level=y) for y > 0, by bisection
    ),
    Exercise(
        "softsign_layer_backward",
        "05_softsign_in_deep_networks",
        "source_lib.network.softsign_layer_backward",
        check_module="source_lib.grading.network_exercise",
        doors=(
            "layer_backward",  # network.layer_backward(x, W, a, grad_output, softsign's f')
            "numerical_layer_gradients",  # the notebook's self-check, which the check compares with
        ),
    ),
)

#: The exercises by graded function's name.
EXERCISE: Mapping[str, Exercise] = MappingProxyType({entry.name: entry for entry in EXERCISES})

#: The answers graded by hand; they have no check and withhold nothing.
WRITTEN_ANSWERS: tuple[WrittenAnswer, ...] = (
    WrittenAnswer("explain_saturation", "04_softsign_vs_tanh", "a written answer graded by hand"),
)

#: The functions the students write, in the order of the notebooks.
GRADED_FUNCTIONS: tuple[str, ...] = tuple(EXERCISE)

#: The modules that define the checks, each once, in the order of the exercises.
CHECK_MODULES: tuple[str, ...] = tuple(dict.fromkeys(entry.check_module for entry in EXERCISES))


def exercises_of(notebook: str) -> tuple[Exercise, ...]:
    """The exercises of one notebook.

    Parameters
    ----------
    notebook : str
        The notebook's name, with or without ``.ipynb``.

    Returns
    -------
    tuple of Exercise
        Its exercises in the registry's order (empty for a notebook without any).
    """
    stem = notebook.removesuffix(".ipynb")
    return tuple(entry for entry in EXERCISES if entry.notebook == stem)
