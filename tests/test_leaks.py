"""The leak check finds working answers by what they compute, not only by their lines.

Each test builds a tiny release in ``tmp_path`` and runs the real check
(:func:`softsign_grader.answer_search.answer_leaks`, one interpreter per snippet). That
the release built from this repository is clean, and that the build runs this
check, is proved on the real release in ``tests/test_student_release.py``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
import pytest

from softsign_grader import answer_search
from softsign_grader.answer_search import answer_leaks, release_snippets
from source_lib.grading.registry import Exercise


def _module(release: Path, name: str, docstring: str) -> Path:
    """``release/pkg/NAME.py`` whose only content is ``docstring`` (a package of its own)."""
    package = release / "pkg"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    path = package / f"{name}.py"
    path.write_text(f'"""{textwrap.dedent(docstring)}"""\n\nimport numpy as np\n', "utf-8")
    return path


def test_a_doctest_defining_softsign_under_another_name_is_a_leak(tmp_path: Path):
    _module(
        tmp_path,
        "helpers",
        """Helpers.

        >>> def helper(x):
        ...     return x / (1 + abs(x))
        >>> helper(1.0)
        0.5
        """,
    )
    found = answer_leaks(tmp_path)
    assert len(found) == 1, found
    assert found[0].startswith("pkg/helpers.py:1: doctest of the module: helper")
    assert "computes softsign" in found[0]


def test_the_check_leaves_the_release_as_it_was(tmp_path: Path):
    """The snippets import the release's modules, but no ``__pycache__`` is written into it."""
    _module(tmp_path, "example", ">>> double = lambda x: 2 * x\n")
    before = sorted(tmp_path.rglob("*"))
    assert answer_leaks(tmp_path) == []
    assert sorted(tmp_path.rglob("*")) == before


def test_a_doctest_with_a_wrong_formula_is_no_leak(tmp_path: Path):
    _module(
        tmp_path,
        "wrong",
        """A wrong softsign and a one-sided difference.

        >>> def almost(x):
        ...     return x / (1 + x)
        >>> forward = lambda f, x, h=1e-5: (f(x + h) - f(x)) / h
        """,
    )
    assert len(release_snippets(tmp_path)) == 1
    assert answer_leaks(tmp_path) == []


def test_calling_the_library_is_no_leak(tmp_path: Path):
    """Grading withholds the library's references, so a wrapper of one answers nothing."""
    _module(
        tmp_path,
        "wrapper",
        """
        >>> from source_lib.activations import softsign
        >>> def mine(x):
        ...     return softsign(x)
        """,
    )
    assert answer_leaks(tmp_path) == []


def test_a_markdown_code_block_with_a_working_answer_is_a_leak(tmp_path: Path):
    (tmp_path / "NOTES.md").write_text(
        "# Notes\n\nSome prose.\n\n```python\nimport numpy as np\n\n"
        "def slope(x):\n    r = 1 / (1 + np.abs(x))\n    return r * r\n```\n\n"
        "```bash\nmake lab\n```\n",
        encoding="utf-8",
    )
    (found,) = answer_leaks(tmp_path)
    assert found.startswith("NOTES.md:5: code block: slope")
    assert "computes softsign_derivative" in found


def test_a_notebook_markdown_cell_with_a_working_answer_is_a_leak(tmp_path: Path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("The inverse:\n\n```\ninv = lambda y: y / (1 - abs(y))\n```"),
        nbformat.v4.new_code_cell("x = 1"),
    ]
    nbformat.write(nb, tmp_path / "lesson.ipynb")
    (found,) = answer_leaks(tmp_path)
    assert found.startswith("lesson.ipynb (cell 1):3: code block: lambda")
    assert "computes softsign_inverse" in found


def test_a_function_that_never_returns_is_interrupted_and_the_rest_still_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(answer_search, "CALL_TIMEOUT", 0.5)
    _module(
        tmp_path,
        "slow",
        """
        >>> def spin(x):
        ...     while True:
        ...         pass
        >>> import numpy as np
        >>> sign = lambda x: np.sign(x) * 1.0
        """,
    )
    (found,) = answer_leaks(tmp_path)
    assert "lambda (line 1) of example 3 computes abs_derivative" in found


def test_an_exercise_without_a_battery_is_named(tmp_path: Path):
    cube = Exercise("cube", "07_cubes", "math.sqrt")
    with pytest.raises(ValueError, match="exercise 'cube' has no battery"):
        answer_leaks(tmp_path, [cube])
