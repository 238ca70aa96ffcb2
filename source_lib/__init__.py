"""source_lib: the reference library of the softsign course.

softsign(x) = x / (1 + |x|). This package holds reference implementations of
every function the course's exercises ask for, a registry of related
activations, and gradient-check helpers. The graders live in
:mod:`source_lib.grading.exercises`; the instructor tooling in its own modules.
"""

from typing import Any

from source_lib.activations import (
    ACTIVATIONS,
    DERIVATIVES,
    abs_derivative,
    numerical_derivative,
    softsign,
    softsign_derivative,
    softsign_derivative_from_output,
    softsign_inverse,
    tanh_derivative,
)
from source_lib.gradcheck import GradientCheck, gradient_check, relative_error

__all__ = [
    "ACTIVATIONS",
    "DERIVATIVES",
    "GradientCheck",
    "abs_derivative",
    "gradient_check",
    "numerical_derivative",
    "relative_error",
    "softsign",
    "softsign_derivative",
    "softsign_derivative_from_output",
    "softsign_inverse",
    "softsign_layer_backward",
    "tanh_derivative",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """Load the deep-network reference (notebook 05) only when it is asked for."""
    if name == "softsign_layer_backward":
        from source_lib.network import softsign_layer_backward

        return softsign_layer_backward
    raise AttributeError(f"module 'source_lib' has no attribute {name!r}")
