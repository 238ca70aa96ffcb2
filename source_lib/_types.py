"""Type aliases shared across the package: the mathematics and the grading alike.

Importing this module imports nothing of ``source_lib.grading``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["Activation", "FloatResult"]

#: What an element-wise function returns: an array, or a NumPy float for a scalar input.
FloatResult: TypeAlias = "np.ndarray | np.floating[Any]"

#: An activation, or its derivative: real numbers in, floats of the same shape out,
#: element-wise (``softsign``, ``np.tanh``, a student's ``softsign``...).
Activation: TypeAlias = Callable[[ArrayLike], FloatResult]
