"""The notices a student's notebook can open with, written as plain, escaped markdown.

Two kinds, each marked by a cell-metadata key of its own (the judge owns
``cell.metadata["softsign"]`` and clears it): :func:`unreadable_notice`, when a
submitted file could not be read or repaired and the release copy was graded in its
place, and :func:`submission_notice`, when files of the submission folder were not
used (links, FIFOs, devices, files over the caps of :mod:`softsign_grader.submission`).
The feedback page (:mod:`softsign_grader.feedback`) shows both as banners. Everything
quoted in them is student-controlled, so it is escaped for markdown and HTML alike.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import nbformat
from nbformat.notebooknode import NotebookNode

from softsign_grader.submission import Skipped

#: ``cell.metadata[UNREADABLE_KEY]`` holds the reason on the notice cell that
#: :class:`TolerantNotebookExporter` puts first in a notebook graded in place of a broken file
#: (a key of its own: the judge owns ``cell.metadata["softsign"]`` and clears it).
UNREADABLE_KEY = "softsign_unreadable_submission"

#: ``cell.metadata[SUBMISSION_NOTICE_KEY]`` marks a notice cell put first in a notebook whose
#: submission folder held files that were not taken (symbolic links, FIFOs, devices, files
#: over a size cap: :mod:`softsign_grader.submission`); the feedback shows it as a banner.
SUBMISSION_NOTICE_KEY = "softsign_submission_notice"


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
