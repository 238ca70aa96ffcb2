"""Reading an autograded test cell: the check calls its source makes.

A test cell the judge (:mod:`softsign_grader.judge`) can decide holds only a
docstring, imports of check functions from :data:`CHECK_MODULES` and calls
``check_NAME(function, "group")``. This module reads such a source into
:class:`CheckCall` records, and tells a test cell from the other cells of a
notebook. Importing it imports every module of :data:`CHECK_MODULES`, which
registers their checks in :data:`source_lib.grading.framework.CHECKS`.
"""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass

from nbformat.notebooknode import NotebookNode
from nbgrader import utils

from source_lib.grading import registry
from source_lib.grading.framework import CHECKS

__all__ = [
    "CHECK_MODULES",
    "CheckCall",
    "UnjudgeableCell",
    "check_calls",
    "is_autograded_test",
    "parse_check_calls",
]

#: Modules whose check functions a test cell may import (importing them registers
#: their checks in :data:`source_lib.grading.framework.CHECKS`): the registry's.
CHECK_MODULES = registry.CHECK_MODULES

for _module in CHECK_MODULES:
    importlib.import_module(_module)


def is_autograded_test(cell: NotebookNode) -> bool:
    """Whether ``cell`` is an autograded test cell (a grade cell of code, not a solution)."""
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


@dataclass(frozen=True)
class CheckCall:
    """One ``check_NAME(function, group)`` line of a test cell."""

    check: str
    target: str
    group: str


class UnjudgeableCell(ValueError):
    """A test cell holds code the judge cannot run outside the kernel."""


def parse_check_calls(source: str) -> list[CheckCall]:
    """Return the check calls of a test cell's source, in order.

    A test cell may hold a docstring, imports of check functions and calls
    ``check_NAME(function, "group")`` (the group may also be given as
    ``group="..."``). Anything else raises :class:`UnjudgeableCell`, since the
    judge decides outside the kernel and cannot run arbitrary code there.

    Examples
    --------
    >>> parse_check_calls('from source_lib.grading.exercises import check_softsign\\n'
    ...                   'check_softsign(softsign, "values")')
    [CheckCall(check='check_softsign', target='softsign', group='values')]
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise UnjudgeableCell(f"the test cell is not valid Python ({error.msg})") from None
    calls = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module in CHECK_MODULES:
            continue
        if isinstance(node, ast.Import) and all(a.name in CHECK_MODULES for a in node.names):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            call = _check_call(node.value)
            if call is not None:
                calls.append(call)
                continue
        raise UnjudgeableCell(
            f"line {node.lineno} of the test cell is not a check call the judge knows"
        )
    if not calls:
        raise UnjudgeableCell("the test cell calls no check")
    return calls


def check_calls(source: str) -> list[CheckCall]:
    """The check calls of a test cell's ``source``, or none when it cannot be judged."""
    try:
        return parse_check_calls(source)
    except UnjudgeableCell:
        return []


def _check_call(node: ast.Call) -> CheckCall | None:
    if not (isinstance(node.func, ast.Name) and node.func.id in CHECKS):
        return None
    arguments = list(node.args)
    keywords = {keyword.arg: keyword.value for keyword in node.keywords}
    if "func" in keywords:
        arguments.insert(0, keywords.pop("func"))
    if "group" in keywords:
        arguments.append(keywords.pop("group"))
    if keywords or not 1 <= len(arguments) <= 2 or not isinstance(arguments[0], ast.Name):
        return None
    group = "values"
    if len(arguments) == 2:
        if not (isinstance(arguments[1], ast.Constant) and isinstance(arguments[1].value, str)):
            return None
        group = arguments[1].value
    return CheckCall(node.func.id, arguments[0].id, group)
