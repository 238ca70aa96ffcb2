"""The leak check finds working answers by what they compute, not only by their lines.

Each test builds a tiny release in ``tmp_path`` and runs the real check
(:func:`softsign_grader.answer_search.answer_leaks`, one interpreter per snippet). That
the release built from this repository is clean, and that the build runs this
check, is proved on the real release in ``tests/test_student_release.py``.
"""

from __future__ import annotations

import textwrap
import time
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


def _notebook(release: Path, *sources: str, name: str = "lesson.ipynb") -> Path:
    """``release/notebooks/NAME`` whose code cells are ``sources`` (ids ``c1``, ``c2``...)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A lesson")]
    for number, source in enumerate(sources, start=1):
        cell = nbformat.v4.new_code_cell(textwrap.dedent(source))
        cell["id"] = f"c{number}"
        nb.cells.append(cell)
    path = release / "notebooks" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_every_function_of_a_code_cell_is_a_candidate_without_running_the_cell(tmp_path: Path):
    path = _notebook(
        tmp_path,
        """\
        %matplotlib inline
        import numpy as np
        from math import tanh

        FORMS = {"a": lambda x: x, "b": [lambda x: 2 * x]}


        @some_decorator
        def outer(x):
            def inner(y):
                return y
            return inner(x)
        plot(lambda z: z, np.linspace(-1, 1))
        """,
    )
    found = answer_search.notebook_candidates(path, "notebooks/lesson.ipynb")
    assert found.imports == ("import numpy as np", "from math import tanh")
    assert [(c.label, c.where) for c in found.candidates] == [
        ("lambda", "notebooks/lesson.ipynb (cell 2, id 'c1'):5: code cell"),
        ("lambda", "notebooks/lesson.ipynb (cell 2, id 'c1'):5: code cell"),
        ("outer", "notebooks/lesson.ipynb (cell 2, id 'c1'):9: code cell"),
        ("inner", "notebooks/lesson.ipynb (cell 2, id 'c1'):10: code cell"),
        ("lambda", "notebooks/lesson.ipynb (cell 2, id 'c1'):13: code cell"),
    ]
    assert found.candidates[0].source == "_candidate_0 = lambda x: x"
    assert found.candidates[2].source.startswith("def outer(x):")  # without its decorator


def test_a_working_lambda_passed_as_an_argument_in_a_code_cell_is_a_leak(tmp_path: Path):
    _notebook(
        tmp_path,
        "import numpy as np\nx = np.linspace(-3, 3)\n",
        """\
        import matplotlib.pyplot as plt

        plt.plot(x, np.tanh(x))
        compare(x, lambda x: (1 / np.cosh(x)) ** 2, label="slope")
        """,
    )
    (found,) = answer_leaks(tmp_path)
    assert found.startswith("notebooks/lesson.ipynb (cell 3, id 'c2'):4: code cell: lambda")
    assert "computes tanh_derivative" in found


def test_a_working_answer_under_another_name_in_a_code_cell_is_a_leak(tmp_path: Path):
    _notebook(tmp_path, "def my_helper(y):\n    return y / (1 - abs(y))\n")
    (found,) = answer_leaks(tmp_path)
    assert found.startswith("notebooks/lesson.ipynb (cell 2, id 'c1'):1: code cell: my_helper")
    assert "computes softsign_inverse" in found


def test_inline_formulas_and_wrong_lambdas_in_code_cells_are_no_leak(tmp_path: Path):
    """Only functions are candidates: a formula written inline, as the notebooks do, is none."""
    _notebook(
        tmp_path,
        """\
        import numpy as np
        from source_lib.activations import softsign

        x = np.linspace(-5, 5, 11)
        y = x / (1 + np.abs(x))
        slope = 1 / (1 + np.abs(x)) ** 2
        gap = lambda x: 1 - np.tanh(x)
        mine = lambda x: softsign(x)  # calls the library, which grading withholds
        scaled = lambda x: y * x  # needs a name of the cell: fails, agrees with nothing
        """,
    )
    assert answer_leaks(tmp_path) == []


def test_a_candidate_that_never_returns_cannot_hold_up_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A loop is interrupted; one that swallows the interruption is killed with its process."""
    monkeypatch.setattr(answer_search, "CALL_TIMEOUT", 0.2)
    monkeypatch.setattr(answer_search, "CANDIDATE_TIMEOUT", 0.6)
    _notebook(
        tmp_path,
        """\
        import time

        def spin(x):
            while True:
                pass

        def stubborn(x):
            while True:
                try:
                    time.sleep(1)
                except BaseException:
                    pass

        inverse = lambda y: y / (1 - abs(y))
        """,
    )
    started = time.monotonic()
    stubborn, inverse = answer_leaks(tmp_path)
    assert time.monotonic() - started < 10
    assert stubborn == (
        "notebooks/lesson.ipynb (cell 2, id 'c1'):7: code cell: stubborn could not be checked "
        "for working answers: ran past 0.6 s"
    )
    assert inverse.startswith("notebooks/lesson.ipynb (cell 2, id 'c1'):14: code cell: lambda")
    assert "computes softsign_inverse" in inverse
