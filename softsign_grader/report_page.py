"""The class report's page: one self-contained HTML file, rendered from a jinja2 template.

The template (``templates/report.html.j2``) is autoescaped, so every string of the report,
student ids and messages included, is text. The figures are embedded as PNG images; the
style sheet and the one script (``templates/report.css``, ``templates/report_sort.js``,
which sorts the student table when a heading is clicked) are inline. The page's
Content-Security-Policy allows that script alone, by the hash of the text emitted.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, StrictUndefined

from softsign_grader.report_advice import paragraph
from softsign_grader.report_figures import difficulty_figure, points_figure, totals_figure
from softsign_grader.report_model import ClassReport
from softsign_grader.summary import utc_time

__all__ = ["content_security_policy", "render_html"]

TEMPLATE = "report.html.j2"
STYLE = "report.css"
SCRIPT = "report_sort.js"


@dataclass(frozen=True)
class _Figure:
    png: str  # base64
    alt: str


def content_security_policy(script: str) -> str:
    """The page's policy: nothing from anywhere, the one inline ``script`` (by its hash)."""
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    return (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
        f"form-action 'none'; script-src 'sha256-{digest}'"
    )


@functools.cache
def _environment() -> Environment:
    """The jinja2 environment of the package's templates (autoescaped)."""
    environment = Environment(
        loader=PackageLoader("softsign_grader", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=StrictUndefined,
    )
    environment.filters["g"] = lambda value: f"{value:g}"
    environment.filters["fixed"] = lambda value, digits: f"{value:.{digits}f}"
    return environment


def _source(name: str) -> str:
    """The text of a template file, as is (the page's own style and script)."""
    environment = _environment()
    assert environment.loader is not None
    return environment.loader.get_source(environment, name)[0]


def render_html(report: ClassReport) -> str:
    """Return the report as one self-contained HTML page."""
    whole = len(report.students)
    script = _source(SCRIPT)
    return (
        _environment()
        .get_template(TEMPLATE)
        .render(
            report=report,
            whole=whole,
            mean_total=sum(row.total for row in report.students) / whole if whole else 0.0,
            paragraph=paragraph(report),
            read_at=utc_time(report.read_at),
            totals=_Figure(*totals_figure(report)),
            difficulty=_Figure(*difficulty_figure(report)),
            points=[_Figure(*points_figure(exercise)) for exercise in report.exercises],
            csp=content_security_policy(script),
            style=_source(STYLE),
            script=script,
        )
    )
