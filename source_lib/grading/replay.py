"""Run one check in two places: plan its calls, then judge the kernel's answers.

Every check reaches the student's function only through
:func:`source_lib.grading.framework.call_student`. In JupyterLab that calls
the function directly. During grading, the judge runs the *same* check twice in
the nbgrader process, never in the student's kernel:

1. **Plan.** With a :class:`Planner` as the current session, each
   ``call_student`` records its arguments (as plain data, see
   :mod:`source_lib.grading.collector`) and answers with the reference
   implementation, so the check runs through all its cases and the judge
   learns every call it will make. The cases come from a seed the judge drew
   for this grading run.
2. **Collect.** The judge sends the recorded calls to the kernel, which runs
   the student's function on them and returns the outcomes as plain data.
3. **Judge.** With a :class:`Replayer` as the current session and the same
   seed, the check runs again; each ``call_student`` now answers with the
   kernel's outcome for that call (and replays what the call did to its
   arguments: an array it modified, the points where it evaluated a test
   function). The check compares them with the reference exactly as it does
   in JupyterLab, and its verdict is the cell's verdict.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from source_lib.grading.collector import Outcome, call, encode

__all__ = ["Planner", "ReplayMismatch", "Replayer", "Session", "current_session", "session"]


class ReplayMismatch(BaseException):
    """The kernel's outcomes do not line up with the planned calls: no verdict."""


class Session:
    """Where ``call_student`` gets its outcomes from while the judge runs a check."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def call(self, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Outcome:
        """Return the outcome of calling the student's ``name`` with these arguments."""
        raise NotImplementedError


class Planner(Session):
    """Record every call a check makes; answer with the reference implementation.

    Parameters
    ----------
    seed : int
        The seed of the check's random cases.
    target : str
        The name of the student's function in the notebook (the first argument
        of the check call in the test cell).
    """

    def __init__(self, seed: int, target: str) -> None:
        super().__init__(seed)
        self.target = target
        self.calls: list[dict[str, Any]] = []

    def call(self, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Outcome:
        """Record the call and return the reference's outcome for it."""
        self.calls.append(
            {
                "function": self.target,
                "args": [encode(arg) for arg in args],
                "kwargs": {key: encode(value) for key, value in kwargs.items()},
            }
        )
        import source_lib

        reference = getattr(source_lib, name)
        copies = tuple(
            np.array(arg, copy=True) if isinstance(arg, np.ndarray) else arg for arg in args
        )
        return call(reference, copies, kwargs, 0)


class Replayer(Session):
    """Answer each call with the kernel's outcome, in the planned order."""

    def __init__(self, seed: int, outcomes: Sequence[Outcome]) -> None:
        super().__init__(seed)
        self.outcomes = list(outcomes)
        self.used = 0

    def call(self, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Outcome:
        """Return the next outcome, after replaying its effects on ``args``."""
        if self.used >= len(self.outcomes):
            raise ReplayMismatch(f"{name}: more calls than the kernel answered")
        outcome = self.outcomes[self.used]
        self.used += 1
        for index, after in outcome.mutated.items():
            given = args[index] if index < len(args) else None
            if (
                isinstance(given, np.ndarray)
                and given.flags.writeable
                and given.shape == after.shape
            ):
                np.copyto(given, after, casting="unsafe")
        for index, points in outcome.evaluations.items():
            function = args[index] if index < len(args) else None
            if callable(function) and hasattr(function, "points"):
                for point in points:
                    function(point)
        return outcome


_CURRENT: contextvars.ContextVar[Session | None] = contextvars.ContextVar(
    "softsign_grading_session", default=None
)


def current_session() -> Session | None:
    """The session the judge set for the running check, or None (JupyterLab)."""
    return _CURRENT.get()


@contextlib.contextmanager
def session(current: Session) -> Iterator[Session]:
    """Make ``current`` the session of the checks run inside the block."""
    token = _CURRENT.set(current)
    try:
        yield current
    finally:
        _CURRENT.reset(token)
