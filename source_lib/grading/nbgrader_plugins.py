"""nbgrader extensions that make the course's autograding trustworthy.

``nbgrader_config.py`` calls :func:`register`, which installs:

:class:`~source_lib.grading.judge.JudgedExecute` (``nbgrader autograde``)
    nbgrader's ``Execute`` preprocessor, with every autograded test cell
    decided by the judge outside the student's kernel, and the kernel run in
    a bubblewrap sandbox (:mod:`source_lib.grading.sandbox`).

:mod:`source_lib.grading.repair` and :class:`ForgetOldGrades` (``nbgrader autograde``)
    Copy-pasted, split and oddly tagged cells grade like the originals; a
    notebook's old automatic scores are cleared before it is graded again.

:class:`TolerantNotebookExporter` (``nbgrader autograde``)
    A submitted notebook that nbgrader cannot read, validate or sanitize (not
    JSON, nested too deeply, null or wrong-typed fields, a folder or a link
    named like a notebook, ...) does not abort the student's whole submission:
    the instructor's log says which file is broken and why, the notebook is
    graded as the unanswered release copy (every test cell scores 0) with a
    notice at its top that says so in plain words, and the student's other
    notebooks are graded normally. Files the staging of the submission left out
    are listed in a notice at the top too. A missing notebook is already scored
    0 by nbgrader ("No submitted file").

:class:`ConciseFeedback`, :class:`FigureAltText`, :class:`FeedbackExporter` (``generate_feedback``)
    In the feedback HTML, test cells show only their visible part (hidden
    tests are removed with nbgrader's own ``ClearHiddenTests`` delimiters) and
    a failed test shows the judge's message, not a traceback. The page reads
    offline: its mathematics is MathML written when the feedback is generated
    (no MathJax from a CDN), long output lines wrap, every figure has alt text,
    and the notices of an unreadable submission or of files not taken are its first
    lines. Nothing a student wrote runs there: the page is sanitized and runs no script.
"""

from __future__ import annotations

import copy
import datetime
import html
import os
import re
import stat
from collections.abc import Sequence
from typing import Any

import mistune
import nbformat
import nh3
from bs4 import BeautifulSoup, Tag
from jinja2 import pass_context
from latex2mathml.converter import convert as latex_to_mathml
from nbconvert.exporters import HTMLExporter, NotebookExporter
from nbconvert.exporters.exporter import ResourcesDict
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbconvert.preprocessors import Preprocessor
from nbformat import ValidationError
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests, Execute, GetGrades, NbGraderPreprocessor
from sqlalchemy.exc import SQLAlchemyError
from traitlets import List

from source_lib.grading import repair, submission
from source_lib.grading.judge import WITHHELD_MESSAGE, JudgedExecute
from source_lib.grading.submission import Skipped, UnsafeFile, read_text, skipped_manifest

#: Part of the message of a function withheld in the grading sandbox.
WITHHELD_MARK = WITHHELD_MESSAGE

#: ``cell.metadata[UNREADABLE_KEY]`` holds the reason on the notice cell that
#: :class:`TolerantNotebookExporter` puts first in a notebook graded in place of a broken file
#: (a key of its own: the judge owns ``cell.metadata["softsign"]`` and clears it).
UNREADABLE_KEY = "softsign_unreadable_submission"

#: ``cell.metadata[SUBMISSION_NOTICE_KEY]`` marks a notice cell put first in a notebook whose
#: submission folder held files that were not taken (symbolic links, FIFOs, devices, files
#: over a size cap: :mod:`source_lib.grading.submission`); the feedback shows it as a banner.
SUBMISSION_NOTICE_KEY = "softsign_submission_notice"

__all__ = [
    "MAX_JSON_DEPTH",
    "SUBMISSION_NOTICE_KEY",
    "UNREADABLE_KEY",
    "ConciseFeedback",
    "FeedbackExporter",
    "FigureAltText",
    "ForgetOldGrades",
    "MalformedNotebook",
    "TolerantNotebookExporter",
    "figure_alt_text",
    "notebook_shape_problem",
    "read_submitted_notebook",
    "register",
    "sanitize_feedback_html",
    "submission_notice",
    "unreadable_notice",
]


def _configurable_display_data_priority() -> Any:
    """nbconvert's ``display_data_priority`` as the installed nbgrader's ``GetGrades`` declares it.

    nbgrader's base preprocessor re-declares the trait without ``config=True``,
    so the HTML exporter's ``NbConvertBase.display_data_priority`` setting is
    reported as "not recognized" by every preprocessor of ``generate_feedback``
    that does not declare it configurable again, as ``GetGrades`` does.
    """
    trait = GetGrades.class_traits()["display_data_priority"]
    return List(list(trait.default())).tag(config=True)


class ForgetOldGrades(NbGraderPreprocessor):
    """Clear a notebook's automatic scores before it is graded again.

    Runs first in ``nbgrader autograde``. If the new grading then fails, the
    gradebook shows no score for the notebook's cells (and flags them for
    manual grading) instead of keeping the marks of an earlier run that no
    longer stand. Manual scores and comments are left as they are.
    """

    def preprocess(self, nb: NotebookNode, resources: Any) -> tuple[NotebookNode, Any]:
        """Reset ``auto_score`` of every grade of this submitted notebook."""
        from nbgrader.api import Gradebook, MissingEntry

        info = (resources or {}).get("nbgrader", {})
        try:
            with Gradebook(info["db_url"]) as gradebook:
                notebook = gradebook.find_submission_notebook(
                    info["notebook"], info["assignment"], info["student"]
                )
                for grade in notebook.grades:
                    if grade.auto_score is not None:
                        grade.auto_score = None
                        grade.needs_manual_grade = True
                gradebook.db.commit()
        except (KeyError, MissingEntry):
            pass
        return nb, resources


class MalformedNotebook(ValueError):
    """A submitted file that is not a gradable notebook; the message says why, in plain words."""


#: JSON nested deeper than this is refused before nbformat reads it: nbformat,
#: ``copy.deepcopy`` and the schema validator recurse once or more per level (a
#: ``RecursionError`` deep inside nbconvert otherwise), and no notebook needs it.
MAX_JSON_DEPTH = 64

#: What reading a submitted file raises when the file, not the course, is at fault.
_UNREADABLE: tuple[type[BaseException], ...] = (
    OSError,  # UnsafeFile too: a link, FIFO, device or folder, a file over the cap
    ValueError,  # NotJSONError, UnicodeDecodeError, NBFormatError, MalformedNotebook
    RecursionError,
    TypeError,
    KeyError,
    AttributeError,
    IndexError,
    ValidationError,
)


class TolerantNotebookExporter(NotebookExporter):
    """Notebook exporter that grades an ungradable submitted notebook as an unanswered one.

    ``nbgrader autograde`` converts each notebook twice: from ``submitted/``
    with ``Autograde.sanitize_preprocessors``, then the result, from
    ``autograded/``, with ``autograde_preprocessors``. A notebook that cannot
    be read (not a regular file, not UTF-8, not JSON, nested too deeply, not
    shaped like a notebook: :func:`read_submitted_notebook`), or whose sanitize
    steps fail (a step raises, or nbconvert's validation after a step does), is
    replaced by its release copy with :func:`unreadable_notice` first: each of
    its test cells scores 0, and the student's other notebooks are graded as
    usual. The instructor's log gets one error line naming the file and the
    reason. The second pass is not guarded: the first one validated its input.

    In the first pass, when the staging of the submission folder left files out
    (a ``FOLDER.skipped.json`` manifest beside it,
    :func:`source_lib.grading.submission.skipped_manifest`), the notebook gets
    a :func:`submission_notice` at its top (after the unreadable notice, if any).
    """

    def from_filename(
        self, filename: str, resources: dict[str, Any] | None = None, **kwargs: Any
    ) -> tuple[NotebookNode, dict[str, Any]]:
        """Convert ``filename``; if it cannot be graded, log why and use the release copy."""
        resources = _file_resources(filename, resources)
        sanitizing = getattr(self.parent, "_sanitizing", False) is True
        try:
            notebook = read_submitted_notebook(filename)
        except _UNREADABLE as error:
            return self._graded_as_release(filename, resources, error, None, sanitizing, **kwargs)
        if not sanitizing:
            return self.from_notebook_node(notebook, resources=resources, **kwargs)
        try:
            for cell in notebook.cells:  # a notice the student wrote is not the course's
                metadata = cell.get("metadata") if isinstance(cell, dict) else None
                if isinstance(metadata, dict):
                    metadata.pop(UNREADABLE_KEY, None)
                    metadata.pop(SUBMISSION_NOTICE_KEY, None)
            self._add_notices(notebook, filename)
            return self.from_notebook_node(notebook, resources=copy.deepcopy(resources), **kwargs)
        except SQLAlchemyError:
            raise  # the gradebook's fault, not the student's: nbgrader stops the run
        except Exception as error:  # a sanitize step failed on this notebook
            plain = _sanitize_problem(notebook, error)
            return self._graded_as_release(filename, resources, plain, error, True, **kwargs)

    def _graded_as_release(
        self,
        filename: str,
        resources: dict[str, Any],
        error: BaseException,
        cause: BaseException | None,
        sanitizing: bool,
        **kwargs: Any,
    ) -> tuple[NotebookNode, dict[str, Any]]:
        """Log why ``filename`` is not graded, then convert its release copy with the notice."""
        detail = f"{type(error).__name__}: {_one_line(error)}"
        if cause is not None:  # what failed, for the instructor, unless the reason says it
            failure = f"{type(cause).__name__}{_failed_step(cause)}: {_one_line(cause)}"
            detail += "" if failure in detail else f"; {failure}"
        self.log.error(
            "%s is not a valid notebook (%s); it is graded as the unanswered release copy, "
            "so each of its test cells scores 0",
            filename,
            detail,
        )
        notebook = self._released_notebook(filename)
        notice = unreadable_notice(os.path.basename(filename), error)
        if sanitizing:
            self._add_notices(notebook, filename, notice)
        else:
            notebook.cells.insert(0, notice)
        return self.from_notebook_node(notebook, resources=resources, **kwargs)

    def _add_notices(
        self, notebook: NotebookNode, filename: str, unreadable: NotebookNode | None = None
    ) -> None:
        """Put the unreadable notice, then the notice of files left out, first in ``notebook``."""
        cells = [] if unreadable is None else [unreadable]
        skipped = skipped_manifest(os.path.dirname(os.path.abspath(filename)))
        if skipped:
            cells.append(submission_notice(skipped))
        minor = notebook.get("nbformat_minor")
        if not (isinstance(minor, int) and minor >= 5):
            for cell in cells:  # cell ids are nbformat 4.5; older notebooks must not have them
                cell.pop("id", None)
        notebook.cells[:0] = cells

    def _released_notebook(self, filename: str) -> NotebookNode:
        """The notebook as released to students (all exercises unanswered)."""
        coursedir = getattr(self.parent, "coursedir", None)
        if coursedir is not None:
            assignment = os.path.basename(os.path.dirname(os.path.abspath(filename)))
            release = os.path.join(
                coursedir.format_path(coursedir.release_directory, ".", assignment),
                os.path.basename(filename),
            )
            if os.path.exists(release):
                return nbformat.read(release, as_version=4)
            self.log.error("No released copy of %s at %s", filename, release)
        raise ValueError(f"{filename} is not a valid notebook and has no released copy")


def read_submitted_notebook(filename: str | os.PathLike[str]) -> NotebookNode:
    """Read a student's notebook file as nbformat 4, refusing what nbgrader cannot grade.

    The file is read by :func:`source_lib.grading.submission.read_text` (no
    link followed, no FIFO or device opened, size capped); JSON nested deeper
    than :data:`MAX_JSON_DEPTH` and JSON that nbformat cannot read raise
    :class:`MalformedNotebook`, saying what is wrong in plain words. Problems
    the course's repairs fix (cell ids, ``nbgrader`` metadata) are left to them.

    Raises
    ------
    UnsafeFile, OSError, UnicodeDecodeError, NotJSONError, MalformedNotebook
        And, for shapes the checks here do not name, whatever nbformat raises.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "nb.ipynb")
    ...     with open(path, "w", encoding="utf-8") as handle:
    ...         _ = handle.write('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, '
    ...                          '"cells": null}')
    ...     read_submitted_notebook(path)
    Traceback (most recent call last):
    ...
    source_lib.grading.nbgrader_plugins.MalformedNotebook: its cells are not a list (they are null)
    """
    path = os.fspath(filename)
    try:
        text = read_text(path)
    except UnsafeFile as error:
        if stat.S_ISDIR(os.lstat(path).st_mode):
            raise MalformedNotebook("it is a folder, not a file") from error
        raise MalformedNotebook(f"it is {error.reason}") from error
    except UnicodeDecodeError as error:
        raise MalformedNotebook(f"it is not UTF-8 text ({error.reason})") from error
    try:
        data = nbformat.reader.parse_json(text)
    except RecursionError:
        raise MalformedNotebook(
            f"it is nested too deeply (more than {MAX_JSON_DEPTH} levels)"
        ) from None
    if _deeper_than(data, MAX_JSON_DEPTH):
        raise MalformedNotebook(f"it is nested too deeply (more than {MAX_JSON_DEPTH} levels)")
    problem = notebook_shape_problem(data)
    try:
        major, minor = nbformat.reader.get_version(data)
        if major not in nbformat.versions:
            raise MalformedNotebook(f"its nbformat version {major!r} is not one nbformat reads")
        notebook = nbformat.versions[major].to_notebook_json(data, minor=minor)
        return nbformat.convert(notebook, 4)
    except Exception as error:  # nbformat's readers and converters fail in many ways
        if problem is not None:
            raise MalformedNotebook(problem) from error
        if isinstance(error, RecursionError):
            raise MalformedNotebook(f"it is nested too deeply for nbformat ({error})") from error
        if isinstance(error, _UNREADABLE):
            raise
        raise MalformedNotebook(
            f"nbformat could not read it ({type(error).__name__}: {_one_line(error)})"
        ) from error


def _deeper_than(data: Any, limit: int) -> bool:
    """Whether JSON ``data`` nests lists and objects more than ``limit`` deep (no recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _json_kind(value: Any) -> str:
    """What a JSON value is, in words ("null", "a number", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _is_text(value: Any) -> bool:
    """Whether ``value`` is notebook text: a string, or a list of strings."""
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(line, str) for line in value)
    )


def notebook_shape_problem(data: Any) -> str | None:
    """The first thing in parsed JSON ``data`` that no notebook has, in plain words (or None).

    Only what the course's repairs cannot fix is named: cell ids and
    ``nbgrader`` metadata are not checked.

    Examples
    --------
    >>> notebook_shape_problem([1, 2]) is None
    False
    >>> notebook_shape_problem({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
    ...     "cells": [{"cell_type": "markdown", "metadata": {}, "source": 5}]})
    'the source of cell 1 is not text (it is a number)'
    """
    if not isinstance(data, dict):
        return f"it is {_json_kind(data)}, not a notebook (a JSON object)"
    for key in ("nbformat", "nbformat_minor"):
        if not isinstance(data.get(key), int) or isinstance(data.get(key), bool):
            return f"its {key} version is missing or not a number"
    if not isinstance(data.get("metadata"), dict):
        return f"its metadata is not an object (it is {_json_kind(data.get('metadata'))})"
    cells = data.get("cells")
    if not isinstance(cells, list):
        return f"its cells are not a list (they are {_json_kind(cells)})"
    for number, cell in enumerate(cells, 1):
        if not isinstance(cell, dict):
            return f"cell {number} is not an object (it is {_json_kind(cell)})"
        if cell.get("cell_type") not in ("code", "markdown", "raw"):
            return f"cell {number} has no valid cell type"
        if "metadata" not in cell:
            return f"cell {number} has no metadata"
        source = cell.get("source")
        if not _is_text(source):
            kind = "a list of more than text" if isinstance(source, list) else _json_kind(source)
            return f"the source of cell {number} is not text (it is {kind})"
        if cell["cell_type"] != "code":
            continue
        outputs = cell.get("outputs")
        if not isinstance(outputs, list):
            return f"the outputs of cell {number} are not a list (they are {_json_kind(outputs)})"
        if not all(isinstance(output, dict) for output in outputs):
            return f"an output of cell {number} is not an object"
        count = cell.get("execution_count")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool)):
            return f"the execution count of cell {number} is not a number"
    return None


def _sanitize_problem(notebook: Any, error: BaseException) -> MalformedNotebook:
    """Why a sanitize step failed on ``notebook``, in plain words."""
    problem = notebook_shape_problem(notebook)
    if problem is not None:
        return MalformedNotebook(problem)
    if isinstance(error, RecursionError):
        return MalformedNotebook(f"it is nested too deeply (more than {MAX_JSON_DEPTH} levels)")
    if isinstance(error, ValidationError):
        where = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}"
            for part in getattr(error, "absolute_path", [])
        ).lstrip(".")
        at = f" at {where}" if where else ""
        return MalformedNotebook(f"it does not follow the notebook format ({error.message}{at})")
    return MalformedNotebook(
        f"nbgrader could not prepare it for grading ({type(error).__name__}"
        f"{_failed_step(error)}: {_one_line(error)})"
    )


def _failed_step(error: BaseException) -> str:
    """`` in STEP``, the preprocessor whose code raised ``error``, if one did."""
    step = None
    traceback = error.__traceback__
    while traceback is not None:
        owner = traceback.tb_frame.f_locals.get("self")
        if isinstance(owner, Preprocessor):
            step = type(owner).__name__
        traceback = traceback.tb_next
    return "" if step is None else f" in {step}"


def _one_line(error: BaseException) -> str:
    """``str(error)`` on one line, at most 300 characters."""
    return " ".join(str(error).split())[:300]


def _file_resources(filename: str, resources: dict[str, Any] | None) -> dict[str, Any]:
    """``resources`` with the file's name, folder and date, as nbconvert's ``from_filename``."""
    resources = ResourcesDict() if resources is None else resources
    if not resources.get("metadata"):
        resources["metadata"] = ResourcesDict()
    path, basename = os.path.split(filename)
    resources["metadata"]["name"] = os.path.splitext(basename)[0]
    resources["metadata"]["path"] = path
    try:
        modified = datetime.datetime.fromtimestamp(os.lstat(filename).st_mtime, tz=datetime.UTC)
    except OSError:
        return resources
    resources["metadata"]["modified_date"] = modified.strftime("%B %-d, %Y")
    return resources


def _code_span(text: str) -> str:
    """``text`` as a markdown code span, whatever it holds (backticks, HTML, control characters).

    Examples
    --------
    >>> print(_code_span("a.txt"), _code_span("x`y"), _code_span("<b>\\n"))
    `a.txt` ``x`y`` `<b>\\x0a`
    """
    printable = "".join(char if char.isprintable() else f"\\x{ord(char):02x}" for char in text)
    longest = max((len(run) for run in re.findall("`+", printable)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if printable[:1] in ("`", " ") or printable[-1:] in ("`", " ") else ""
    return f"{fence}{pad}{printable}{pad}{fence}"


#: Characters that markdown (with ``$`` math, as nbconvert and JupyterLab read it) or HTML
#: would take as markup, and the character references that write them as text instead.
_MARKDOWN_LITERAL = str.maketrans(
    {char: f"&#{ord(char)};" for char in "\\`*_[]<>&$|~"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
)


def _markdown_text(text: str) -> str:
    """``text`` on one line, written so that markdown shows it as it is: no markup, HTML or math.

    Examples
    --------
    >>> _markdown_text("a <img src=x onerror=f()> *b* $c$")
    'a &lt;img src=x onerror=f()&gt; &#42;b&#42; &#36;c&#36;'
    """
    printable = "".join(char if char.isprintable() else " " for char in text)
    return " ".join(printable.split()).translate(_MARKDOWN_LITERAL)


def submission_notice(skipped: Sequence[Skipped]) -> NotebookNode:
    """The markdown cell that lists the files of a submission that were not graded, and why.

    Examples
    --------
    >>> cell = submission_notice([Skipped("a.txt", "a symbolic link, not followed")])
    >>> print(cell.source)
    **These files of your submission were not used:** `a.txt` (a symbolic link, not followed).
    >>> cell.metadata[SUBMISSION_NOTICE_KEY]
    [{'path': 'a.txt', 'reason': 'a symbolic link, not followed'}]
    """
    items = ", ".join(
        f"{_code_span(item.path)} ({_markdown_text(item.reason)})" for item in skipped
    )
    source = f"**These files of your submission were not used:** {items}."
    record = [{"path": item.path, "reason": item.reason} for item in skipped]
    return nbformat.v4.new_markdown_cell(source, metadata={SUBMISSION_NOTICE_KEY: record})


def unreadable_notice(name: str, error: BaseException) -> NotebookNode:
    """The markdown cell that tells a student their file ``name`` could not be read.

    The file name and the parser's error (which quotes the file's first bytes) are
    student-controlled: both are quoted as text, never as markdown or HTML, so the
    notice reads the same in the feedback page and in JupyterLab.

    Examples
    --------
    >>> cell = unreadable_notice("01_softsign_definition.ipynb", ValueError("Unterminated string"))
    >>> print(cell.source)  # doctest: +NORMALIZE_WHITESPACE
    **Your submitted file `01_softsign_definition.ipynb` could not be read:** it is not a valid
    notebook (ValueError: Unterminated string). It was graded as the unchanged release copy,
    so every test below scores 0.
    >>> cell.metadata[UNREADABLE_KEY]
    'ValueError: Unterminated string'
    >>> cell = unreadable_notice("<b>.ipynb", ValueError("<img src=x>"))
    >>> print(cell.source.splitlines()[1])
    notebook (ValueError: &lt;img src=x&gt;). It was graded as the unchanged release copy,
    """
    reason = f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"
    source = (
        f"**Your submitted file {_code_span(name)} could not be read:** it is not a valid\n"
        f"notebook ({_markdown_text(reason)}). It was graded as the unchanged release copy,\n"
        "so every test below scores 0."
    )
    return nbformat.v4.new_markdown_cell(source, metadata={UNREADABLE_KEY: reason})


class ConciseFeedback(NbGraderPreprocessor):
    """Feedback without hidden tests and without tracebacks in test cells."""

    display_data_priority = _configurable_display_data_priority()

    def preprocess_cell(
        self, cell: NotebookNode, resources: Any, cell_index: int
    ) -> tuple[NotebookNode, Any]:
        """Strip hidden-test regions and shorten error outputs of a test cell.

        In other cells, an error raised by a ``source_lib`` function that the
        grading sandbox withheld is shortened to its one-line message too.
        """
        if cell.cell_type != "code":
            return cell, resources
        if not utils.is_grade(cell):
            for output in cell.get("outputs", []):
                if output.output_type == "error" and WITHHELD_MARK in str(output.get("evalue")):
                    output.traceback = [f"\x1b[31m{output.ename}\x1b[39m: {output.evalue}"]
            return cell, resources
        cell.source = _hidden_region(self.config).sub("", cell.source).rstrip("\n")
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                output.traceback = [f"\x1b[31m{output.ename}\x1b[39m: {output.evalue}"]
        return cell, resources


class _HiddenTestDelimiters(ClearHiddenTests):
    """``ClearHiddenTests``, read for its configured delimiters in ``generate_feedback``."""

    display_data_priority = _configurable_display_data_priority()


def _hidden_region(config: Any) -> re.Pattern[str]:
    """The hidden-tests region, with the delimiters nbgrader is configured to use."""
    clear = _HiddenTestDelimiters(config=config)
    begin, end = (
        re.escape(text) for text in (clear.begin_test_delimeter, clear.end_test_delimeter)
    )
    return re.compile(
        rf"^[ \t]*#+[ \t]*{begin}.*?^[ \t]*#+[ \t]*{end}[^\n]*\n?", re.MULTILINE | re.DOTALL
    )


#: The figure sentence of a markdown cell: "*Figure: ...*" up to the end of its paragraph.
_FIGURE_SENTENCE = re.compile(r"\bFigure\b[:.]?\s*(.+?)(?:\n\s*\n|\Z)", re.DOTALL)
#: Image outputs that take alt text from their metadata (nbconvert's classic and lab templates).
_IMAGE_TYPES = ("image/png", "image/jpeg")


def figure_alt_text(markdown: str) -> str | None:
    """The plain text of the last "Figure: ..." paragraph of a markdown cell, if it has one.

    Examples
    --------
    >>> figure_alt_text("Text.\\n\\n*Figure: softsign (solid) and\\ntanh (dashed) pass $0$.*")
    'Figure: softsign (solid) and tanh (dashed) pass 0.'
    >>> figure_alt_text("No figure here.") is None
    True
    """
    matches = list(_FIGURE_SENTENCE.finditer(markdown))
    if not matches:
        return None
    text = re.sub(r"[*_`$]", "", matches[-1].group(1))
    return "Figure: " + " ".join(text.split())


class FigureAltText(NbGraderPreprocessor):
    """Give every figure of the feedback alt text.

    The course's notebooks describe each figure in the markdown cell before
    it ("*Figure: ...*"); that sentence becomes the image's alt text
    (nbconvert's ``alt`` output metadata). An image with no such sentence
    before it gets "Figure from cell N". Alt text already set is kept.
    """

    display_data_priority = _configurable_display_data_priority()

    def preprocess(self, nb: NotebookNode, resources: Any) -> tuple[NotebookNode, Any]:
        """Set ``output.metadata[mimetype]["alt"]`` of each image output that lacks it."""
        description: str | None = None
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "markdown":
                description = figure_alt_text(cell.source)
                continue
            if cell.cell_type != "code":
                continue
            for output in cell.get("outputs", []):
                for mimetype in _IMAGE_TYPES:
                    if mimetype not in output.get("data", {}):
                        continue
                    metadata = output.setdefault("metadata", NotebookNode())
                    image = metadata.setdefault(mimetype, NotebookNode())
                    if not image.get("alt"):
                        image["alt"] = description or f"Figure from cell {index + 1}"
        return nb, resources


class _MathMLRenderer(IPythonRenderer):
    """nbconvert's markdown renderer, with its math written as MathML instead of TeX for MathJax."""

    def _mathml(self, tex: str, display: str) -> str:
        try:
            return str(latex_to_mathml(tex, display=display))
        except Exception:  # latex2mathml raises many types; the TeX is then shown as code
            return f'<code class="tex">{self.escape_html(tex)}</code>'

    def block_math(self, body: str) -> str:
        """Display math, ``$$...$$`` or ``\\[...\\]``."""
        return self._mathml(body, "block")

    def inline_math(self, body: str) -> str:
        """Inline math, ``$...$`` or ``\\(...\\)``."""
        return self._mathml(body, "inline")

    def latex_environment(self, name: str, body: str) -> str:
        """A LaTeX environment, ``\\begin{name}...\\end{name}``."""
        return self._mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", "block")


#: The feedback page's own CSS: output and code lines wrap instead of running off the edge.
FEEDBACK_CSS = """
div.output_area pre, div.output_subarea pre, div.input_area pre, .rendered_html pre {
  white-space: pre-wrap;
  overflow-wrap: anywhere;
}
div.output_subarea { max-width: 100%; overflow-x: hidden; }
math[display="block"] { margin: 0.5em 0; }
.softsign-unreadable, .softsign-notice { margin: 1em 0; }
.softsign-notice code { overflow-wrap: anywhere; }
"""

#: The feedback page's Content-Security-Policy (the first element of its ``<head>``): the
#: page needs no script at all, loads nothing, and shows only embedded (``data:``) images;
#: its styles are the template's and :data:`FEEDBACK_CSS`, inline.
FEEDBACK_CSP = (
    "default-src 'none'; script-src 'none'; object-src 'none'; style-src 'unsafe-inline'; "
    "img-src data:; font-src data:; base-uri 'none'; form-action 'none'"
)

#: MathML elements (as ``latex2mathml`` writes them, and their MathML Core kin) and the
#: attributes each may keep. No ``annotation-xml`` (it can hold HTML) and no ``href``.
_MATHML: dict[str, set[str]] = {
    "math": {"display", "xmlns", "alttext"},
    "semantics": set(),
    "annotation": {"encoding"},
    "mrow": set(),
    "mi": {"mathvariant"},
    "mn": {"mathvariant"},
    "mo": {
        "fence", "form", "largeop", "lspace", "maxsize", "minsize", "movablelimits",
        "rspace", "separator", "stretchy", "symmetric", "accent",
    },
    "ms": set(),
    "mtext": {"mathvariant"},
    "mspace": {"width", "height", "depth", "linebreak"},
    "mfrac": {"linethickness", "bevelled"},
    "msqrt": set(),
    "mroot": set(),
    "mstyle": {"displaystyle", "scriptlevel", "mathvariant"},
    "merror": set(),
    "mpadded": {"width", "height", "depth", "lspace", "voffset"},
    "mphantom": set(),
    "mfenced": {"open", "close", "separators"},
    "menclose": {"notation"},
    "msub": set(),
    "msup": set(),
    "msubsup": set(),
    "munder": {"accentunder"},
    "mover": {"accent"},
    "munderover": {"accent", "accentunder"},
    "mmultiscripts": set(),
    "mprescripts": set(),
    "none": set(),
    "mtable": {
        "columnalign", "rowalign", "columnspacing", "rowspacing", "columnlines",
        "rowlines", "frame", "displaystyle", "width",
    },
    "mtr": {"columnalign", "rowalign"},
    "mtd": {"columnalign", "rowalign", "columnspan", "rowspan"},
}  # fmt: skip
_MATHML_NAMESPACE = "http://www.w3.org/1998/Math/MathML"

#: The tags a feedback page keeps: ammonia's default set of harmless HTML, the page's
#: ``main``, and MathML. No script, style, form, input, iframe, object, SVG or link.
_PAGE_TAGS = set(nh3.ALLOWED_TAGS) | {"main", "section"} | set(_MATHML)
#: Tags removed with all they contain (the rest of what is not kept leaves its text).
_PAGE_DROPPED = {"script", "style", "noscript", "template", "iframe", "object", "embed", "svg"}
_PAGE_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()},
    **_MATHML,
    "*": {"class", "id", "title", "lang", "dir", "role", "aria-label", "aria-hidden"},
    "a": {"href", "hreflang", "name"},
}
#: ``data:`` URLs of images only (a ``data:image/svg+xml`` in an ``<img>`` runs no script).
_IMAGE_DATA_URL = re.compile(r"data:image/[a-z0-9.+-]+[;,]", re.IGNORECASE)
_URL_NOISE = re.compile(r"[\x00-\x20]")
#: ``</`` in CSS, written so that it cannot close the ``<style>`` element.
_CSS_END_ESCAPED = "<\\/"


def _safe_url(tag: str, attribute: str, value: str) -> str | None:
    """Keep ``src`` only as an embedded image, and no ``href`` to a ``data:`` URL."""
    if attribute == "src":
        return value if tag == "img" and _IMAGE_DATA_URL.match(value.strip()) else None
    if attribute == "href" and _URL_NOISE.sub("", value).lower().startswith("data:"):
        return None
    return value


def sanitize_feedback_html(fragment: str) -> str:
    """``fragment`` with only harmless HTML and MathML left: nothing in it can run.

    An allow-list, applied by ``nh3`` (the Rust sanitizer ammonia, which parses
    HTML as browsers do, html5ever): other tags leave their text (``script``,
    ``style``, ``svg`` and the like their content too), other attributes (every
    ``on...`` handler, ``style``) go, links keep ``http``, ``https``, ``mailto`` and
    in-page targets, and images only ``data:image/...`` sources.

    Examples
    --------
    >>> sanitize_feedback_html('<p onclick="f()">a<script>f()</script></p><img src=x onerror=f()>')
    '<p>a</p><img>'
    >>> sanitize_feedback_html('<a href="javascript:f()">b</a> <math><mi>x</mi></math>')
    '<a rel="noopener noreferrer">b</a> <math><mi>x</mi></math>'
    """
    return nh3.clean(
        fragment,
        tags=_PAGE_TAGS,
        clean_content_tags=_PAGE_DROPPED,
        attributes=_PAGE_ATTRIBUTES,
        attribute_filter=_safe_url,
        url_schemes={"http", "https", "mailto", "data"},
        strip_comments=True,
        link_rel="noopener noreferrer",
    )


class _TextOnlyRenderer(mistune.HTMLRenderer):
    """Markdown for the notices: formatting and code spans, but raw HTML shows as text."""

    def inline_html(self, html: str) -> str:
        """Inline HTML, as text."""
        return mistune.escape(html)

    def block_html(self, html: str) -> str:
        """A block of HTML, as a paragraph of text."""
        return f"<p>{mistune.escape(html.strip())}</p>\n"


def _notice_banner(cell: NotebookNode) -> str:
    """The banner of a leading notice cell: its markdown, any HTML in it shown as text."""
    unreadable = UNREADABLE_KEY in cell.get("metadata", {})
    kind, alert = (
        ("softsign-unreadable", "danger") if unreadable else ("softsign-notice", "warning")
    )
    text = mistune.create_markdown(renderer=_TextOnlyRenderer(escape=False))(str(cell.source))
    return (
        f'<div class="container {kind}"><div class="alert alert-{alert}" role="alert">'
        f"{text}</div></div>"
    )


def _leading_notices(nb: NotebookNode) -> int:
    """How many cells at the top of ``nb`` are the course's notices (shown as banners)."""
    count = 0
    for cell in nb.cells:
        metadata = cell.get("metadata", {})
        if cell.get("cell_type") != "markdown" or not (
            UNREADABLE_KEY in metadata or SUBMISSION_NOTICE_KEY in metadata
        ):
            break
        count += 1
    return count


def _unprefix_mathml(soup: Tag) -> None:
    """Write MathML that ElementTree serialized with a prefix (``<ns0:math>``) as plain MathML.

    nbconvert adds heading anchors with ElementTree, which writes a heading's
    MathML as ``<ns0:math xmlns:ns0="...">``: HTML knows no such element.
    """
    for tag in soup.find_all(True):
        for name in [name for name in tag.attrs if name.startswith("xmlns:")]:
            if tag.attrs[name] == _MATHML_NAMESPACE:
                del tag.attrs[name]
        prefix, _, local = tag.name.rpartition(":")
        if prefix and local in _MATHML:
            tag.name = local


class FeedbackExporter(HTMLExporter):
    """nbgrader's feedback page, made to read offline and to run nothing a student wrote.

    * Mathematics in markdown is MathML, written by ``latex2mathml`` at export
      time; the template's MathJax ``<script>`` from a CDN is removed.
    * Output and code lines wrap (:data:`FEEDBACK_CSS`).
    * The notice cells at the top of a notebook (a file that could not be read,
      :func:`unreadable_notice`; files of the submission not taken,
      :func:`submission_notice`) are shown as banners, the page's first lines,
      with any HTML in them shown as text.
    * The page runs no script. Its whole ``<body>`` goes through
      :func:`sanitize_feedback_html` after nbconvert rendered it: one allow-list
      over the finished page covers every way student text gets there (markdown,
      HTML, SVG and markdown outputs, JavaScript outputs, metadata the template
      inserts raw such as grade ids and alt text), where sanitizing each fragment
      would miss whatever the template adds unescaped. The ``<head>`` is rebuilt
      from the template's styles only, after a Content-Security-Policy that
      forbids every script (:data:`FEEDBACK_CSP`), should anything slip through.
      An animation (matplotlib's JavaScript player) therefore does not play.
    """

    @pass_context
    def markdown2html(self, context: Any, source: str) -> str:
        """nbconvert's markdown filter, with math as MathML."""
        cell = context.get("cell", {})
        renderer = _MathMLRenderer(
            escape=False,
            attachments=cell.get("attachments", {}),
            embed_images=self.embed_images,
            path=context.get("resources", {}).get("metadata", {}).get("path", ""),
            anchor_link_text=self.anchor_link_text,
            exclude_anchor_links=self.exclude_anchor_links,
            **self.lexer_options,
        )
        return str(MarkdownWithMath(renderer=renderer).render(source))

    def from_notebook_node(  # type: ignore[override]
        self, nb: NotebookNode, resources: Any = None, **kw: Any
    ) -> tuple[str, Any]:
        """Render the page, then sanitize it, add the CSP and CSS and put the notices first."""
        notices = _leading_notices(nb)
        banners = ""
        if notices:  # shown once, as banners
            banners = "".join(_notice_banner(cell) for cell in nb.cells[:notices])
            nb = copy.deepcopy(nb)
            del nb.cells[:notices]
        output, resources = super().from_notebook_node(nb, resources, **kw)
        return self._safe_page(output, banners), resources

    @staticmethod
    def _safe_page(output: str, banners: str) -> str:
        """The page nbconvert rendered, rebuilt: CSP, title and styles, then the clean body."""
        soup = BeautifulSoup(output, features="html.parser")
        title = soup.title.get_text() if soup.title is not None else ""
        styles = [] if soup.head is None else [tag.get_text() for tag in soup.head("style")]
        styles.append(FEEDBACK_CSS)
        body = soup.body if soup.body is not None else soup
        _unprefix_mathml(body)
        head = [
            f'<meta http-equiv="Content-Security-Policy" content="{html.escape(FEEDBACK_CSP)}">',
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(title)}</title>",
            *(f"<style>{css.replace('</', _CSS_END_ESCAPED)}</style>" for css in styles),
        ]
        content = sanitize_feedback_html(banners + body.decode_contents())
        page = ["<!DOCTYPE html>", "<html>", "<head>", *head, "</head>", "<body>", content]
        return "\n".join([*page, "</body>", "</html>"])


def quarantine_unsafe_entries(
    assignment: str = "", student: str = "", notebooks: Any = (), **_: Any
) -> None:
    """``Autograde.pre_convert_hook``: leave only regular files in each submission folder.

    nbgrader calls it per student, just before ``init_assignment`` copies the
    submission's files with ``shutil.copy`` (which follows links and blocks on a FIFO).
    Links, FIFOs, devices, sockets and files over the vetted reader's caps are moved,
    unfollowed, into ``<assignment>.quarantine/`` beside the folder and listed in the
    manifest that the student's feedback shows (:func:`source_lib.grading.submission.quarantine`).
    """
    from traitlets.log import get_logger

    log = get_logger()  # the nbgrader application's log
    folders = {os.path.dirname(os.path.abspath(path)) for path in notebooks or ()}
    for folder in sorted(folders):
        for item in submission.quarantine(folder):
            log.warning("Submission %s: %s moved aside, never read", folder, item)


def register(config: Any) -> None:
    """Install the course's grading extensions into an nbgrader config object ``c``."""
    from nbgrader.converters import Autograde, GenerateFeedback

    steps = Autograde.class_traits()["autograde_preprocessors"].default()
    config.Autograde.autograde_preprocessors = [
        JudgedExecute if step is Execute else step for step in steps
    ]
    # Pasted, split and odd cells first (source_lib.grading.repair); the notebook's
    # format repair must stay first, since nbconvert validates after every step.
    repair.install(config)
    sanitize = list(config.Autograde.sanitize_preprocessors)
    config.Autograde.sanitize_preprocessors = [*sanitize[:1], ForgetOldGrades, *sanitize[1:]]
    config.Autograde.exporter_class = TolerantNotebookExporter
    # nbgrader's own copy of a submission follows links: move them aside first.
    config.Autograde.pre_convert_hook = quarantine_unsafe_entries
    feedback = list(GenerateFeedback.class_traits()["preprocessors"].default())
    config.GenerateFeedback.preprocessors = [
        *feedback[:1],
        ConciseFeedback,
        FigureAltText,
        *feedback[1:],
    ]
    config.GenerateFeedback.exporter_class = FeedbackExporter
