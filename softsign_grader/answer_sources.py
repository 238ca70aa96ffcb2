"""The functions a release's examples and notebooks define, found by reading them with ast.

:func:`release_snippets` gathers the example code of a release that defines a
function (``def`` or ``lambda``): the doctests of every docstring of its ``.py``
files and of its notebooks' code cells, the Python code blocks and the ``>>>``
examples of markdown cells and of ``.md``, ``.rst`` and ``.txt`` files, each a
:class:`Snippet`. :func:`notebook_candidates` takes every function that a
notebook's code cells define out of its cell, without running the cell, each a
:class:`Candidate`. Nothing here runs any of it: :mod:`softsign_grader.answer_search`
does, in the runner of :mod:`softsign_grader.answer_runner`.
"""

from __future__ import annotations

import ast
import copy
import doctest
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat

__all__ = [
    "Candidate",
    "NotebookCandidates",
    "Snippet",
    "notebook_candidates",
    "release_notebook_candidates",
    "release_snippets",
]

#: Prose files whose fenced code blocks and ``>>>`` examples are run by
#: :func:`softsign_grader.answer_search.answer_leaks`.
PROSE_SUFFIXES = {".md", ".rst", ".txt"}
#: Languages of the fenced markdown blocks that are run (the empty one included).
PYTHON_FENCES = {"", "python", "python3", "py", "pycon", "ipython", "ipython3"}


@dataclass(frozen=True)
class Snippet:
    """Example code of the release that is not the library's own module code.

    Attributes
    ----------
    where : str
        The file (relative to the release), line and kind (``"doctest of softsign"``).
    pieces : tuple of str
        The code, run one piece after another in one namespace (one per doctest example).
    module : str or None
        The module whose globals a doctest runs in; None for markdown code.
    """

    where: str
    pieces: tuple[str, ...]
    module: str | None = None


_FENCE = re.compile(
    r"^[ \t]*(?P<fence>```|~~~)[ \t]*(?P<language>[\w+-]*)[^\n]*\n(?P<code>.*?)^[ \t]*(?P=fence)",
    re.MULTILINE | re.DOTALL,
)


def _defines_functions(piece: str) -> bool:
    """Whether ``piece`` parses and holds a ``def`` or a ``lambda`` (else nothing to call)."""
    try:
        tree = ast.parse(piece)
    except SyntaxError:
        return False
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
    return any(isinstance(node, kinds) for node in ast.walk(tree))


def _examples(text: str, name: str) -> tuple[str, ...]:
    """The sources of the ``>>>`` examples of ``text`` (none when it cannot be parsed)."""
    try:
        return tuple(example.source for example in doctest.DocTestParser().get_examples(text, name))
    except ValueError:
        return ()


def _docstring_snippets(source: str, where: str, module: str | None) -> Iterator[Snippet]:
    """A snippet per docstring of ``source`` whose doctest examples define a function."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    for node in ast.walk(tree):
        if not isinstance(node, kinds):
            continue
        docstring = ast.get_docstring(node)
        name = getattr(node, "name", "the module")
        pieces = _examples(docstring, name) if docstring else ()
        if any(_defines_functions(piece) for piece in pieces):
            line = node.body[0].lineno
            yield Snippet(f"{where}:{line}: doctest of {name}", pieces, module)


def _markdown_snippets(text: str, where: str) -> Iterator[Snippet]:
    """A snippet per Python code block of markdown ``text``, and one for its bare examples."""
    for match in _FENCE.finditer(text):
        if match["language"].lower() not in PYTHON_FENCES:
            continue
        code = "\n".join(
            line for line in match["code"].splitlines() if not line.lstrip().startswith(("%", "!"))
        )
        pieces = _examples(code, where) if ">>>" in code else (code,)
        if any(_defines_functions(piece) for piece in pieces):
            line = text.count("\n", 0, match.start()) + 1
            yield Snippet(f"{where}:{line}: code block", pieces)
    pieces = _examples(_FENCE.sub("", text), where)
    if any(_defines_functions(piece) for piece in pieces):
        yield Snippet(f"{where}: examples", pieces)


def _module_name(release: Path, path: Path) -> str | None:
    """The dotted name ``path`` imports as from ``release``, if it is inside packages."""
    relative = path.relative_to(release).with_suffix("")
    folders = [release.joinpath(*relative.parts[:end]) for end in range(1, len(relative.parts))]
    parts = [part for part in relative.parts if part != "__init__"]
    if not parts or not all((folder / "__init__.py").is_file() for folder in folders):
        return None
    if not all(part.isidentifier() for part in parts):
        return None
    return ".".join(parts)


def release_snippets(release: Path) -> list[Snippet]:
    """The example code of ``release`` that defines functions, file by file.

    The doctests of every docstring of every ``.py`` file (run in their
    module's globals, as doctest runs them) and of every function defined in a
    notebook's code cells; the Python code blocks and the ``>>>`` examples of
    markdown cells and of ``.md``, ``.rst`` and ``.txt`` files. A snippet that
    defines no function (no ``def``, no ``lambda``) has nothing to call and is
    left out. The library's own module code is not example code: it is known,
    and is graded against by withholding it.
    """
    release = Path(release)
    snippets: list[Snippet] = []
    for path in sorted(release.rglob("*")):
        relative = path.relative_to(release).as_posix()
        if not path.is_file() or ".ipynb_checkpoints" in path.parts:
            continue
        if path.suffix == ".py":
            source = path.read_text(encoding="utf-8", errors="replace")
            snippets += _docstring_snippets(source, relative, _module_name(release, path))
        elif path.suffix in PROSE_SUFFIXES:
            text = path.read_text(encoding="utf-8", errors="replace")
            snippets += _markdown_snippets(text, relative)
        elif path.suffix == ".ipynb":
            try:
                cells = nbformat.read(path, as_version=4).cells
            except Exception:  # an unreadable notebook is reported by the line check's reading
                continue
            for number, cell in enumerate(cells, start=1):
                where = f"{relative} (cell {number})"
                if cell.cell_type == "markdown":
                    snippets += _markdown_snippets(cell.source, where)
                elif cell.cell_type == "code":
                    snippets += _docstring_snippets(cell.source, where, None)
    return snippets


@dataclass(frozen=True)
class Candidate:
    """A function that a notebook's code cell defines, taken out of the cell.

    Attributes
    ----------
    where : str
        The notebook (relative to the release), cell (counted from 1), cell id and
        line in the cell: ``"notebooks/x.ipynb (cell 12, id 'abc'):3: code cell"``.
    label : str
        The function's name, or ``"lambda"``.
    source : str
        Code that binds the function to :attr:`name`: the ``def`` without its
        decorators, or ``_candidate_N = <the lambda>``.
    name : str
        The name that :attr:`source` binds.
    """

    where: str
    label: str
    source: str
    name: str


@dataclass(frozen=True)
class NotebookCandidates:
    """Every :class:`Candidate` of one notebook, with the imports of its code cells.

    Attributes
    ----------
    notebook : str
        The notebook, relative to the release.
    imports : tuple of str
        Each ``import`` statement of its code cells (outside functions and classes).
    candidates : tuple of Candidate
        Its functions, cell by cell, in the order they are written.
    """

    notebook: str
    imports: tuple[str, ...]
    candidates: tuple[Candidate, ...]


def _cell_python(source: str) -> str:
    """A code cell's source with IPython's magic and shell lines blanked (line numbers kept)."""
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        lines[0] = ""  # a cell magic: the body is Python (%%time, %%capture) or fails to parse
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)


def _imports(tree: ast.AST) -> Iterator[ast.stmt]:
    """The imports of ``tree`` outside functions and classes (in ``if`` and ``try`` blocks too)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.expr):
            yield from _imports(node)


def notebook_candidates(path: Path, relative: str) -> NotebookCandidates:
    """The functions that the code cells of the notebook at ``path`` define, without running it.

    Every ``def`` (at any level: in a function, a class or a block) and every
    ``lambda`` expression (wherever it stands: passed as an argument, kept in a
    dict or a list, inside a function) is a candidate, made from its own source
    alone (:func:`ast.unparse`; a ``def`` loses its decorators). The cells
    themselves are never run: they plot, time and train. A candidate that needs
    a name of its cell that is neither an import nor its own gets a
    ``NameError`` when it is called, and so agrees with nothing. A cell that
    does not parse (after its magic lines are blanked) gives no candidate.
    """
    imports: dict[str, None] = {}
    candidates: list[Candidate] = []
    cells = nbformat.read(path, as_version=4).cells
    for number, cell in enumerate(cells, start=1):
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(_cell_python(cell.source))
        except SyntaxError:
            continue
        imports.update((ast.unparse(node), None) for node in _imports(tree))
        cell_id = f", id {cell['id']!r}" if cell.get("id") else ""
        functions = [
            node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.Lambda)
        ]
        for node in sorted(functions, key=lambda node: (node.lineno, node.col_offset)):
            where = f"{relative} (cell {number}{cell_id}):{node.lineno}: code cell"
            if isinstance(node, ast.FunctionDef):
                bare = copy.copy(node)
                bare.decorator_list = []
                source = ast.unparse(bare)
                candidates.append(Candidate(where, node.name, source, node.name))
            else:
                name = f"_candidate_{len(candidates)}"
                candidates.append(Candidate(where, "lambda", f"{name} = {ast.unparse(node)}", name))
    return NotebookCandidates(relative, tuple(imports), tuple(candidates))


def release_notebook_candidates(release: Path) -> list[NotebookCandidates]:
    """:func:`notebook_candidates` of every notebook of ``release`` that defines a function."""
    release = Path(release)
    found = []
    for path in sorted(release.rglob("*.ipynb")):
        if not path.is_file() or ".ipynb_checkpoints" in path.parts:
            continue
        try:
            candidates = notebook_candidates(path, path.relative_to(release).as_posix())
        except Exception:  # an unreadable notebook is reported by the line check's reading
            continue
        if candidates.candidates:
            found.append(candidates)
    return found
