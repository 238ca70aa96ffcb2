"""The feedback page: concise, offline, and showing student text as text.

:class:`ConciseFeedback`, :class:`FigureAltText` and :class:`FeedbackExporter` are the
course's ``generate_feedback`` steps: test cells show only their visible part and the
judge's message, mathematics is MathML written at export time, every figure has alt
text, notices are banners, and the page is sanitized with nh3 under a
Content-Security-Policy that forbids every script (:func:`sanitize_feedback_html`).
"""

from __future__ import annotations

import copy
import html
import re
from typing import Any

import mistune
import nh3
from bs4 import BeautifulSoup, Tag
from jinja2 import pass_context
from latex2mathml.converter import convert as latex_to_mathml
from nbconvert.exporters import HTMLExporter
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests, GetGrades, NbGraderPreprocessor
from traitlets import List

from softsign_grader.judge import WITHHELD_MESSAGE
from softsign_grader.notices import (
    SUBMISSION_NOTICE_KEY,
    UNREADABLE_KEY,
)


def _configurable_display_data_priority() -> Any:
    """nbconvert's ``display_data_priority`` as the installed nbgrader's ``GetGrades`` declares it.

    nbgrader's base preprocessor re-declares the trait without ``config=True``,
    so the HTML exporter's ``NbConvertBase.display_data_priority`` setting is
    reported as "not recognized" by every preprocessor of ``generate_feedback``
    that does not declare it configurable again, as ``GetGrades`` does.
    """
    trait = GetGrades.class_traits()["display_data_priority"]
    return List(list(trait.default())).tag(config=True)


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
                if output.output_type == "error" and WITHHELD_MESSAGE in str(output.get("evalue")):
                    output.traceback = [f"\x1b[31m{output.ename}\x1b[39m: {output.evalue}"]
            return cell, resources
        hidden = _HiddenTestDelimiters(config=self.config)
        cell, resources = hidden.preprocess_cell(cell, resources, cell_index)
        cell.source = cell.source.rstrip("\n")
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                output.traceback = [f"\x1b[31m{output.ename}\x1b[39m: {output.evalue}"]
        return cell, resources


class _HiddenTestDelimiters(ClearHiddenTests):
    """nbgrader's ``ClearHiddenTests``, with its configured delimiters, in ``generate_feedback``."""

    display_data_priority = _configurable_display_data_priority()


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


def markdown_to_html(
    source: str,
    *,
    attachments: Any = None,
    path: str = "",
    embed_images: bool = False,
    anchor_link_text: str = "\u00b6",
    exclude_anchor_links: bool = False,
    **lexer_options: Any,
) -> str:
    """Markdown as nbconvert's ``markdown2html`` renders it, with its mathematics as MathML.

    The MathML is written here, so the page needs no MathJax (nor any network) to show
    it; TeX that ``latex2mathml`` cannot read is shown as code. A heading's MathML
    keeps no namespace prefix (see :func:`unprefix_mathml_html`).

    Examples
    --------
    >>> markdown_to_html("Its gap $1/x$.")
    '<p>Its gap <math ...'
    """
    renderer = _MathMLRenderer(
        escape=False,
        attachments=attachments or {},
        embed_images=embed_images,
        path=path,
        anchor_link_text=anchor_link_text,
        exclude_anchor_links=exclude_anchor_links,
        **lexer_options,
    )
    return unprefix_mathml_html(str(MarkdownWithMath(renderer=renderer).render(source)))


def unprefix_mathml_html(fragment: str) -> str:
    """``fragment`` with MathML that ElementTree wrote as ``<ns0:math>`` written as ``<math>``.

    Fragments with no prefixed MathML are returned as they are.
    """
    if ":math" not in fragment:
        return fragment
    soup = BeautifulSoup(fragment, features="html.parser")
    _unprefix_mathml(soup)
    return soup.decode()


#: The metadata key of a cell for graders only: the rubric that formgrader shows beside a
#: written answer (:mod:`softsign_grader.rubric`). The feedback page drops such a cell.
GRADERS_ONLY_KEY = "softsign_graders_only"

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
      time (:func:`markdown_to_html`); the template's MathJax ``<script>`` from a CDN
      is removed.
    * A cell for graders only (:data:`GRADERS_ONLY_KEY`) is left out.
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
        return markdown_to_html(
            source,
            attachments=cell.get("attachments", {}),
            path=context.get("resources", {}).get("metadata", {}).get("path", ""),
            embed_images=self.embed_images,
            anchor_link_text=self.anchor_link_text,
            exclude_anchor_links=self.exclude_anchor_links,
            **self.lexer_options,
        )

    def from_notebook_node(  # type: ignore[override]
        self, nb: NotebookNode, resources: Any = None, **kw: Any
    ) -> tuple[str, Any]:
        """Render the page, then sanitize it, add the CSP and CSS and put the notices first.

        A cell for graders only (:data:`GRADERS_ONLY_KEY`, the rubric formgrader shows
        beside a written answer) is never rendered here, should one reach this exporter.
        """
        if any(GRADERS_ONLY_KEY in cell.get("metadata", {}) for cell in nb.cells):
            nb = copy.deepcopy(nb)
            nb.cells = [c for c in nb.cells if GRADERS_ONLY_KEY not in c.get("metadata", {})]
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
