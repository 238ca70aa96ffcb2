"""``make lab`` starts JupyterLab without an error in its log, on the student notebooks.

The real server is started by ``make lab`` in a scratch copy of the course
(:func:`browser_support.start_lab`); no browser is needed. nbgrader's
formgrader logs an error when the course root is not under the server root,
so the server root is the course root and JupyterLab's default URL opens the
first student notebook. The formgrader still answers there.
"""

from __future__ import annotations

import re
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from browser_support import LabServer, start_lab

pytestmark = pytest.mark.slow

#: A line of the server log at error level, or a Python traceback.
_ALARM = re.compile(r"^\[(E|C) |Traceback \(most recent call last\)|\bERROR\b", re.MULTILINE)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """JupyterLab started by ``make lab`` in a scratch copy of the course; always shut down."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    work = tmp_path_factory.mktemp("make-lab")
    server = start_lab(work, work / "jupyterlab.log")
    try:
        yield server
    finally:
        server.stop()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _get(lab: LabServer, path: str, *, follow: bool = True) -> tuple[int, str, str]:
    """``(status, Location header, body)`` of an authenticated GET."""
    handlers = [] if follow else [_NoRedirect()]
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(
        f"{lab.url}{path}", headers={"Authorization": f"token {lab.token}"}
    )
    try:
        with opener.open(request, timeout=30) as reply:
            return reply.status, reply.headers.get("Location", ""), reply.read().decode()
    except urllib.error.HTTPError as error:  # a redirect not followed, or a failure
        return error.code, error.headers.get("Location", ""), ""


def test_the_log_has_no_error(lab: LabServer) -> None:
    # Every server extension has loaded once the server answers; give late loggers a moment.
    _get(lab, "/lab")
    time.sleep(1.0)
    log = lab.log.read_text(errors="replace")
    assert "nbgrader.server_extensions.formgrader | extension was successfully loaded" in log
    alarms = [line for line in log.splitlines() if _ALARM.search(line)]
    assert not alarms, "make lab logged:\n" + "\n".join(alarms)


def test_the_first_student_notebook_opens_first(lab: LabServer) -> None:
    first = sorted(path.name for path in lab.root.glob("*.ipynb"))[0]
    relative = (lab.root / first).relative_to(lab.course).as_posix()
    status, location, _ = _get(lab, "/", follow=False)
    assert status in (301, 302), f"/ answered {status}"
    assert location.split("?")[0].endswith(f"/lab/tree/{relative}"), location
    status, _, page = _get(lab, f"/lab/tree/{relative}")
    assert status == 200
    assert "JupyterLab" in page
    model = lab.api("GET", f"/api/contents/{relative}?content=0")
    assert model["type"] == "notebook"


def test_formgrader_answers_from_the_course_root(lab: LabServer) -> None:
    status, _, page = _get(lab, "/formgrader/manage_assignments")
    assert status == 200
    assert "Manage Assignments" in page
    assert "not a subdirectory" not in page
