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
    A submitted notebook that is not valid JSON does not abort the student's
    whole submission: the instructor's log says which file is broken and why,
    the notebook is graded as the unanswered release copy (every test cell
    scores 0) with a notice at its top that says so, and the student's other
    notebooks are graded normally. A missing notebook is already scored 0 by
    nbgrader ("No submitted file").

:class:`ConciseFeedback`, :class:`FigureAltText`, :class:`FeedbackExporter` (``generate_feedback``)
    In the feedback HTML, test cells show only their visible part (hidden
    tests are removed with nbgrader's own ``ClearHiddenTests`` delimiters) and
    a failed test shows the judge's message, not a traceback. The page reads
    offline: its mathematics is MathML written when the feedback is generated
    (no MathJax from a CDN), long output lines wrap, every figure has alt text,
    and the notice of an unreadable submission is its first line.
"""

from __future__ import annotations

import copy
import os
import re
from typing import Any

import nbformat
from bs4 import BeautifulSoup, Comment
from jinja2 import pass_context
from latex2mathml.converter import convert as latex_to_mathml
from nbconvert.exporters import HTMLExporter, NotebookExporter
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests, Execute, GetGrades, NbGraderPreprocessor
from traitlets import List

from source_lib.grading import repair
from source_lib.grading.judge import WITHHELD_MESSAGE, JudgedExecute

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
    "SUBMISSION_NOTICE_KEY",
    "UNREADABLE_KEY",
    "ConciseFeedback",
    "FeedbackExporter",
    "FigureAltText",
    "ForgetOldGrades",
    "TolerantNotebookExporter",
    "figure_alt_text",
    "register",
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


class TolerantNotebookExporter(NotebookExporter):
    """Notebook exporter that grades an unreadable submission as an unanswered one."""

    def from_filename(
        self, filename: str, resources: dict[str, Any] | None = None, **kwargs: Any
    ) -> tuple[NotebookNode, dict[str, Any]]:
        """Read ``filename``; if it is not a valid notebook, log why and use the release copy."""
        try:
            with open(filename, encoding="utf-8") as handle:
                nbformat.read(handle, as_version=4)
        except (ValueError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as error:
            reason = " ".join(str(error).split())[:300]
            self.log.error(
                "%s is not a valid notebook (%s: %s); it is graded as the unanswered "
                "release copy, so each of its test cells scores 0",
                filename,
                type(error).__name__,
                reason,
            )
            notebook = self._released_notebook(filename)
            notebook.cells.insert(0, unreadable_notice(os.path.basename(filename), error))
            resources = self._init_resources(resources)
            return self.from_notebook_node(notebook, resources=resources, **kwargs)
        return super().from_filename(filename, resources=resources, **kwargs)

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


def unreadable_notice(name: str, error: BaseException) -> NotebookNode:
    """The markdown cell that tells a student their file ``name`` could not be read.

    Examples
    --------
    >>> cell = unreadable_notice("01_softsign_definition.ipynb", ValueError("Unterminated string"))
    >>> print(cell.source)  # doctest: +NORMALIZE_WHITESPACE
    **Your submitted file `01_softsign_definition.ipynb` could not be read:** it is not a valid
    notebook (ValueError: Unterminated string). It was graded as the unchanged release copy,
    so every test below scores 0.
    >>> cell.metadata[UNREADABLE_KEY]
    'ValueError: Unterminated string'
    """
    reason = f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"
    source = (
        f"**Your submitted file `{name}` could not be read:** it is not a valid\n"
        f"notebook ({reason}). It was graded as the unchanged release copy,\n"
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
.softsign-unreadable { margin: 1em 0; }
"""


class FeedbackExporter(HTMLExporter):
    """nbgrader's feedback page, made to read offline.

    * Mathematics in markdown is MathML, written by ``latex2mathml`` at export
      time; the template's MathJax ``<script>`` from a CDN is removed.
    * Output and code lines wrap (:data:`FEEDBACK_CSS`).
    * A notebook graded in place of an unreadable file (the notice cell of
      :class:`TolerantNotebookExporter`) shows the notice as the page's first line.
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
        """Render the page, then drop MathJax, add the CSS and put a notice first."""
        notice = next(
            (cell.source for cell in nb.cells[:1] if UNREADABLE_KEY in cell.get("metadata", {})),
            None,
        )
        if notice is not None:  # shown once, as the banner
            nb = copy.deepcopy(nb)
            del nb.cells[0]
        output, resources = super().from_notebook_node(nb, resources, **kw)
        soup = BeautifulSoup(output, features="html.parser")
        for script in soup.find_all("script"):
            where = f"{script.get('src') or ''} {script.get('type') or ''}"
            if "mathjax" in where.lower():
                script.decompose()
        for comment in soup.find_all(string=lambda text: isinstance(text, Comment)):
            if "mathjax" in comment.lower():
                comment.extract()
        if soup.head is not None:
            style = soup.new_tag("style")
            style.string = FEEDBACK_CSS
            soup.head.append(style)
        if notice is not None and soup.body is not None:
            banner = BeautifulSoup(
                '<div class="container softsign-unreadable"><div class="alert alert-danger" '
                f'role="alert">{self.markdown2html({}, notice)}</div></div>',
                features="html.parser",
            )
            soup.body.insert(0, banner)
        return str(soup), resources


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
    feedback = list(GenerateFeedback.class_traits()["preprocessors"].default())
    config.GenerateFeedback.preprocessors = [
        *feedback[:1],
        ConciseFeedback,
        FigureAltText,
        *feedback[1:],
    ]
    config.GenerateFeedback.exporter_class = FeedbackExporter
