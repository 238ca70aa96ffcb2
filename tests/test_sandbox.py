"""The grading kernel's sandbox (``softsign_grader.sandbox``), with real kernels.

Every test starts real ipykernels through the kernel managers, inside bubblewrap
(``SandboxedKernelManager``) or not (``UnsandboxedKernelManager``), and asks them
from the outside or from the inside what they can do. Without a working ``bwrap``
the sandbox tests are skipped, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from repo_root import REPO_ROOT

from softsign_grader.bubblewrap import (
    SANDBOX_LIBRARY,
    SANDBOX_MATPLOTLIB_CACHE,
    matplotlib_font_list,
)
from softsign_grader.kernel_provisioner import without_debugger
from softsign_grader.limits import group_mechanism
from softsign_grader.sandbox import (
    NOT_ISOLATED_WARNING,
    SANDBOX_ENV,
    SANDBOX_HOME,
    SANDBOX_WORK,
    SandboxedKernelManager,
    UnsandboxedKernelManager,
    kernel_manager_class,
    sandbox_available,
    sandbox_problem,
)

pytestmark = pytest.mark.slow

UNDER_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
WITHHELD = "is withheld while your notebook is graded"


@pytest.fixture(scope="module")
def require_sandbox() -> None:
    """Skip without a working bwrap, or under CI fail: CI must never skip these silently."""
    if not sandbox_available():
        reason = f"no bubblewrap sandbox on this machine: {sandbox_problem()}"
        if UNDER_CI:
            pytest.fail(f"the sandbox tests cannot run under CI: {reason}", pytrace=False)
        pytest.skip(reason)


class Kernel:
    """A kernel started by a grading kernel manager, driven by a blocking client."""

    def __init__(self, manager_class: type, cwd: Path | None, **traits: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.km = manager_class(**traits)
        self.loop.run_until_complete(self.km.start_kernel(cwd=None if cwd is None else str(cwd)))
        self.kc = self.km.blocking_client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def run(self, code: str, timeout: float = 60) -> tuple[dict[str, Any], str]:
        """Execute ``code``; return the execute_reply's content and everything it printed."""
        printed: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            if msg["msg_type"] == "stream":
                printed.append(msg["content"]["text"])

        reply = self.kc.execute_interactive(code, timeout=timeout, output_hook=hook)
        return reply["content"], "".join(printed)

    def value(self, code: str) -> Any:
        """Execute ``code``, which sets ``result``, and return ``result`` (through JSON)."""
        content, printed = self.run(f"{code}\nimport json\nprint('\\n@@' + json.dumps(result))")
        assert content["status"] == "ok", (content.get("ename"), content.get("evalue"), printed)
        return json.loads(printed.rsplit("\n@@", 1)[1])

    def is_alive(self) -> bool:
        return self.loop.run_until_complete(self.km.is_alive())

    def close(self, now: bool = True) -> None:
        self.kc.stop_channels()
        self.loop.run_until_complete(self.km.shutdown_kernel(now=now))
        self.loop.close()


def _notebook_folder(root: Path) -> Path:
    """A student's notebook folder, with a peer student's folder beside it."""
    folder = root / "submitted" / "alice" / "softsign"
    folder.mkdir(parents=True)
    (folder / "data.txt").write_text("the student's data\n")
    (folder / "sub").mkdir()
    (folder / "sub" / "more.txt").write_text("nested\n")
    peer = root / "submitted" / "bob" / "softsign"
    peer.mkdir(parents=True)
    (peer / "answers.txt").write_text("bob's answers\n")
    return folder


def _listing(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): path.read_text() if path.is_file() else "/"
        for path in sorted(folder.rglob("*"))
    }


def _processes_with(marker: str) -> list[int]:
    """The host's processes whose command line contains ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _wait_until(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _start_daemon(kernel: Kernel, marker: str) -> None:
    """Make the kernel leave a double-forked, setsid daemon behind, and see it on the host."""
    content, printed = kernel.run(
        "import os, sys\n"
        "child = os.fork()\n"
        "if child == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        os.execv(sys.executable,\n"
        f"                 [sys.executable, '-c', 'import time; time.sleep(120)', {marker!r}])\n"
        "    os._exit(0)\n"
        "os.waitpid(child, 0)\n"
    )
    assert content["status"] == "ok", (content, printed)
    assert _wait_until(lambda: _processes_with(marker), 10), "the daemon never started"


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("course")


@pytest.fixture(scope="module")
def folder(course: Path) -> Path:
    return _notebook_folder(course)


@pytest.fixture(scope="module")
def sandboxed(require_sandbox: None, folder: Path) -> Iterator[Kernel]:
    """One sandboxed kernel with the default limits, shared by the read-only checks."""
    kernel = Kernel(SandboxedKernelManager, folder)
    yield kernel
    kernel.close()


# ------------------------------------------------------------------------------------------
# The sandbox
# ------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("require_sandbox")
def test_notebook_runs_numpy_and_matplotlib_on_a_copy_of_its_folder(tmp_path: Path):
    folder = _notebook_folder(tmp_path)
    before = _listing(folder)
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "import os\n"
            "print(open('data.txt').read().strip(), open('sub/more.txt').read().strip())\n"
            "print(os.getcwd())"
        ),
        nbformat.v4.new_code_cell(
            "import numpy as np\n"
            "import matplotlib.pyplot as plt\n"
            "x = np.linspace(-5, 5, 201)\n"
            "rng = np.random.default_rng(0)\n"
            "a = rng.standard_normal((512, 512))\n"
            "print(float(np.abs(a @ a.T - (a @ a.T).T).max()))\n"
            "fig, ax = plt.subplots()\n"
            "ax.plot(x, x / (1 + np.abs(x)))\n"
            "fig.savefig('plot.png')\n"
            "open('new.txt', 'w').write('written by the kernel')\n"
            "open('data.txt', 'a').write('changed')\n"
            "print(plt.get_backend(), sorted(os.listdir('.')))"
        ),
    ]
    client = NotebookClient(
        notebook,
        kernel_manager_class=SandboxedKernelManager,
        timeout=60,
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute()
    # A kernel may split one cell's prints over several stream outputs.
    first, last = (
        "".join(
            output["text"] for output in cell.outputs if output["output_type"] == "stream"
        ).splitlines()
        for cell in notebook.cells[:2]
    )
    assert first == ["the student's data nested", SANDBOX_WORK]
    assert last[0] == "0.0"
    assert last[1] == "agg ['data.txt', 'new.txt', 'plot.png', 'sub']"
    assert _listing(folder) == before, "the kernel changed the real notebook folder"


def test_kernel_runs_as_uid_65534_with_a_tmpfs_home(sandboxed: Kernel):
    name = f"softsign_sandbox_{uuid.uuid4().hex}.py"
    result = sandboxed.value(
        "import os\n"
        "startup = os.path.expanduser('~/.ipython/profile_default/startup')\n"
        "os.makedirs(startup, exist_ok=True)\n"
        f"open(os.path.join(startup, {name!r}), 'w').write('print(1)')\n"
        "mounts = [line.split()[4:5] + line.split(' - ')[1].split()[:1]\n"
        "          for line in open('/proc/self/mountinfo')]\n"
        "result = {'uid': os.getuid(), 'gid': os.getgid(), 'home': os.environ['HOME'],\n"
        "          'written': os.listdir(startup), 'mounts': mounts,\n"
        "          'sandbox': os.environ.get('SOFTSIGN_GRADING_SANDBOX')}"
    )
    assert (result["uid"], result["gid"]) == (65534, 65534)
    assert result["home"] == SANDBOX_HOME
    assert result["sandbox"] == "1"
    assert name in result["written"]
    assert [SANDBOX_HOME, "tmpfs"] in result["mounts"]
    leaked = [path for path in (Path.home() / ".ipython").rglob(name)] + [
        path for path in Path(sandboxed.km.connection_file).parents[1].rglob(name)
    ]
    assert leaked == [], "the kernel's HOME is not a tmpfs"


def test_matplotlib_reads_the_graders_font_list_and_may_write_its_cache(sandboxed: Kernel):
    """The kernel finds the grader's font list (no rebuild in each fresh HOME), read-only,
    and owns its cache folder (matplotlib would otherwise warn and use a temporary one)."""
    font_list = matplotlib_font_list()
    assert font_list is not None
    result = sandboxed.value(
        "import logging, os, io\n"
        "log = io.StringIO()\n"
        "logging.getLogger('matplotlib').addHandler(logging.StreamHandler(log))\n"
        "import matplotlib\n"
        "from matplotlib import font_manager\n"
        "cache = matplotlib.get_cachedir()\n"
        "listed = os.path.join(cache, os.path.basename(" + repr(font_list) + "))\n"
        "try:\n"
        "    open(listed, 'a').close()\n"
        "    overwritable = True\n"
        "except OSError:\n"
        "    overwritable = False\n"
        "result = {'cache': cache, 'listed': os.path.isfile(listed), 'log': log.getvalue(),\n"
        "          'overwritable': overwritable, 'writable': os.access(cache, os.W_OK),\n"
        "          'fonts': len(font_manager.fontManager.ttflist)}"
    )
    assert result["cache"] == SANDBOX_MATPLOTLIB_CACHE
    assert result["listed"]
    assert result["writable"]
    assert not result["overwritable"]
    assert result["fonts"] > 0
    assert result["log"] == ""


def test_the_kernel_starts_without_the_debugger_and_without_its_folder_first(
    sandboxed: Kernel,
):
    """The grading kernel's launcher leaves debugpy unloaded (no kernel is debugged) and,
    like ``ipykernel_launcher``, does not put the working folder first on ``sys.path``
    (a student's ``numpy.py`` shadows nothing the kernel imports); IPython adds it back
    for the notebook's own imports."""
    result = sandboxed.value(
        "import os, sys\n"
        "result = {'debugpy': 'debugpy' in sys.modules and sys.modules['debugpy'] is not None,\n"
        "          'argv': sys.argv[0], 'first': sys.path[0], 'cwd_later': '' in sys.path[1:]}"
    )
    assert result == {"debugpy": False, "argv": "-c", "first": SANDBOX_LIBRARY, "cwd_later": True}


def test_only_ipykernels_launcher_is_replaced():
    launcher = ["/venv/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    replaced = without_debugger(launcher)
    assert replaced[:2] == ["/venv/bin/python", "-c"]
    assert 'sys.modules["debugpy"] = None' in replaced[2]
    assert replaced[3:] == ["-f", "{connection_file}"]
    other = ["/venv/bin/python", "-m", "my_kernel", "-f", "{connection_file}"]
    assert without_debugger(other) == other


def test_course_and_peers_are_invisible(sandboxed: Kernel, folder: Path, course: Path):
    hidden = [
        REPO_ROOT / "nbgrader_config.py",
        REPO_ROOT / "solutions",
        REPO_ROOT / "notebooks",
        REPO_ROOT / "pyproject.toml",
        course / "submitted" / "bob" / "softsign" / "answers.txt",
        course / "submitted" / "bob",
        folder / "data.txt",
        Path("/etc/shadow"),
    ]
    result = sandboxed.value(
        "import os\n"
        f"result = {{'exists': [p for p in {[str(p) for p in hidden]!r} if os.path.exists(p)],\n"
        f"          'root': sorted(os.listdir({str(REPO_ROOT)!r})),\n"
        f"          'engine': os.listdir({str(REPO_ROOT / 'softsign_grader')!r})}}\n"
        "try:\n"
        "    open('../../bob/softsign/answers.txt')\n"
        "    result['peer'] = 'read'\n"
        "except FileNotFoundError:\n"
        "    result['peer'] = 'FileNotFoundError'"
    )
    assert result["exists"] == []
    # The grading engine's folder shows empty: no judge, no sandbox, no course tools.
    assert set(result["root"]) <= {".venv", "source_lib", "softsign_grader"}
    assert result["engine"] == []
    assert result["peer"] == "FileNotFoundError"


def test_source_lib_installation_is_read_only(sandboxed: Kernel):
    result = sandboxed.value(
        "import errno, numpy, source_lib.activations\n"
        "result = {}\n"
        "for path in (source_lib.activations.__file__, numpy.__file__, '/usr/new_file'):\n"
        "    try:\n"
        "        open(path, 'a').write('# changed')\n"
        "        result[path] = 'written'\n"
        "    except OSError as error:\n"
        "        result[path] = errno.errorcode[error.errno]"
    )
    assert len(result) == 3
    assert set(result.values()) <= {"EROFS", "EACCES", "EPERM"}, result


def test_graded_references_are_withheld(sandboxed: Kernel):
    result = sandboxed.value(
        "import source_lib, source_lib.activations, source_lib.grading.exercises\n"
        "from source_lib import softsign\n"
        "def attempt(call):\n"
        "    try:\n"
        "        return repr(call())\n"
        "    except NotImplementedError as error:\n"
        "        return 'withheld: ' + str(error)\n"
        "def backward():\n"
        "    from source_lib.network import softsign_layer_backward\n"
        "    return softsign_layer_backward(1.0, 1.0, 1.0)\n"
        "result = {\n"
        "    'softsign': attempt(lambda: softsign(1.0)),\n"
        "    'registry': attempt(lambda: source_lib.ACTIVATIONS['softsign'](1.0)),\n"
        "    'derivatives': attempt(lambda: source_lib.DERIVATIVES['softsign'](1.0)),\n"
        "    'module': attempt(lambda: source_lib.activations.softsign_inverse(0.5)),\n"
        "    'backward': attempt(backward),\n"
        "    'lazy': attempt(lambda: source_lib.softsign_layer_backward(1.0, 1.0, 1.0)),\n"
        "    'relative_error': source_lib.relative_error(1.0, 2.0),\n"
        "    'tanh': float(source_lib.activations.ACTIVATIONS['tanh'](0.0)),\n"
        "    'checks': source_lib.grading.exercises.__name__,\n"
        "}"
    )
    for name in ("softsign", "registry", "derivatives", "module", "backward", "lazy"):
        assert result[name].startswith("withheld: source_lib."), (name, result[name])
        assert WITHHELD in result[name]
    assert "source_lib.softsign is withheld" in result["softsign"]
    assert "source_lib.softsign_layer_backward is withheld" in result["backward"]
    assert result["relative_error"] == pytest.approx(0.5)
    assert result["tanh"] == 0.0
    assert result["checks"] == "source_lib.grading.exercises"


def test_no_network(sandboxed: Kernel):
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(1.0)
        port = server.getsockname()[1]
        result = sandboxed.value(
            "import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=3).close()\n"
            "    result = {'connect': 'connected'}\n"
            "except OSError as error:\n"
            "    result = {'connect': type(error).__name__}\n"
            "result['interfaces'] = [name for _, name in socket.if_nameindex()]"
        )
        with pytest.raises(TimeoutError):
            server.accept()
    assert result["connect"] != "connected"
    assert result["interfaces"] == ["lo"]


def test_own_pid_namespace(sandboxed: Kernel):
    host_pid = os.getpid()
    result = sandboxed.value(
        "import os, signal\n"
        "result = {'pid': os.getpid(), 'ppid': os.getppid(),\n"
        "          'pids': sorted(int(p) for p in os.listdir('/proc') if p.isdigit())}\n"
        f"if {host_pid} not in result['pids']:\n"
        "    try:\n"
        f"        os.kill({host_pid}, signal.SIGKILL)\n"
        "        result['kill'] = 'sent'\n"
        "    except OSError as error:\n"
        "        result['kill'] = type(error).__name__"
    )
    assert result["ppid"] == 1, "the kernel's parent is not its PID namespace's init"
    assert host_pid not in result["pids"]
    assert max(result["pids"]) < 100, result["pids"]
    assert result["kill"] == "ProcessLookupError"


def test_memory_limit(sandboxed: Kernel):
    result = sandboxed.value(
        "try:\n"
        "    block = bytearray(3 * 2**30)\n"
        "    result = 'allocated'\n"
        "except MemoryError:\n"
        "    result = 'MemoryError'"
    )
    assert result == "MemoryError"
    assert sandboxed.value("result = sum(range(10))") == 45, "the kernel did not survive"


def test_file_size_limit(sandboxed: Kernel):
    result = sandboxed.value(
        "import errno, os\n"
        "try:\n"
        "    with open('big.bin', 'wb') as file:\n"
        "        file.write(bytes(100 * 2**20))\n"
        "    result = 'written'\n"
        "except OSError as error:\n"
        "    result = errno.errorcode[error.errno]\n"
        "os.remove('big.bin')"
    )
    assert result == "EFBIG"


@pytest.mark.usefixtures("require_sandbox")
def test_process_limit():
    kernel = Kernel(SandboxedKernelManager, None, process_limit=40)
    try:
        result = kernel.value(
            "import threading\n"
            "stop, started = threading.Event(), 0\n"
            "try:\n"
            "    for _ in range(500):\n"
            "        threading.Thread(target=stop.wait, daemon=True).start()\n"
            "        started += 1\n"
            "    result = 'unlimited'\n"
            "except RuntimeError:\n"
            "    result = started\n"
            "stop.set()"
        )
        assert result != "unlimited"
        assert 0 < result < 40
        assert kernel.value("result = 2 + 2") == 4
    finally:
        kernel.close()


@pytest.mark.usefixtures("require_sandbox")
def test_daemon_does_not_outlive_shutdown():
    marker = f"softsign-daemon-{uuid.uuid4().hex}"
    kernel = Kernel(SandboxedKernelManager, None)
    try:
        _start_daemon(kernel, marker)
    finally:
        kernel.close(now=False)
    assert _wait_until(lambda: not _processes_with(marker), 5), "a daemon outlived the kernel"


@pytest.mark.usefixtures("require_sandbox")
def test_interrupt():
    kernel = Kernel(SandboxedKernelManager, None)
    try:
        # As nbgrader's nbclient sends cells (allow_errors): an error does not abort the next.
        msg_id = kernel.kc.execute("while True:\n    pass", stop_on_error=False)
        time.sleep(1.0)
        kernel.loop.run_until_complete(kernel.km.interrupt_kernel())
        reply = kernel.kc.get_shell_msg(timeout=10)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        assert kernel.value("result = 6 * 7") == 42
    finally:
        kernel.close()


@pytest.mark.usefixtures("require_sandbox")
def test_wall_clock_kill():
    marker = f"softsign-daemon-{uuid.uuid4().hex}"
    kernel = Kernel(SandboxedKernelManager, None, wall_clock_limit=3)
    try:
        _start_daemon(kernel, marker)
        kernel.kc.execute("import time; time.sleep(60)")
        assert _wait_until(lambda: not kernel.is_alive(), 10), "the kernel outlived its limit"
        assert _wait_until(lambda: not _processes_with(marker), 5), "a daemon outlived the kill"
    finally:
        kernel.close()


# ------------------------------------------------------------------------------------------
# The boundary around everything a student controls: limits for the kernel and all its
# children together (a control group), a size-limited work folder that a restart empties,
# one wall clock for a notebook's kernel and its restarts, and a vetted copy of the
# submission (regular files only, no link followed, never the autograded notebook).
# ------------------------------------------------------------------------------------------


@pytest.fixture
def require_group() -> None:
    """A control group is needed for whole-sandbox limits (CI's machine has cgroup v1)."""
    if group_mechanism() == "none" and not UNDER_CI:
        pytest.skip("no control group here: only per-process limits hold")


@pytest.mark.usefixtures("require_sandbox", "require_group")
def test_memory_limit_holds_for_all_children_together():
    """Five children of 300 MB each cannot all live under a 1 GiB sandbox."""
    kernel = Kernel(SandboxedKernelManager, None, memory_limit=2**30)
    try:
        survivors = kernel.value(
            "import subprocess, sys\n"
            "hold = ('block = bytearray(300 * 2**20)\\n'\n"
            "        'for i in range(0, len(block), 4096): block[i] = 1\\n'\n"
            "        'import time; time.sleep(4)')\n"
            "children = [subprocess.Popen([sys.executable, '-c', hold]) for _ in range(5)]\n"
            "result = sum(1 for child in children if child.wait() == 0)"
        )
        assert survivors <= 3, f"{survivors} children held 300 MB each under a 1 GiB limit"
        assert kernel.value("result = 6 * 7") == 42, "the kernel itself did not survive"
    finally:
        kernel.close()


@pytest.mark.usefixtures("require_sandbox")
def test_work_folder_is_size_limited_and_emptied_by_a_restart(tmp_path: Path):
    (tmp_path / "given.txt").write_text("from the submission\n")
    kernel = Kernel(SandboxedKernelManager, None, tmpfs_size=64 * 2**20, work_source=str(tmp_path))
    try:
        written = kernel.value(
            "import errno\n"
            "written = 0\n"
            "try:\n"
            "    for n in range(20):\n"
            "        with open(f'part{n}.bin', 'wb') as file:\n"
            "            file.write(bytes(10 * 2**20))\n"
            "        written += 10\n"
            "    result = 'unlimited'\n"
            "except OSError as error:\n"
            "    result = [errno.errorcode[error.errno], written]"
        )
        assert written != "unlimited"
        assert written[0] == "ENOSPC"
        assert written[1] <= 64
        kernel.loop.run_until_complete(kernel.km.restart_kernel(now=True))
        kernel.kc.wait_for_ready(timeout=60)
        listing = kernel.value("import os\nresult = sorted(os.listdir('.'))")
        assert listing == ["given.txt"], "files written before the restart survived it"
    finally:
        kernel.close()
    assert (tmp_path / "given.txt").read_text() == "from the submission\n"


@pytest.mark.usefixtures("require_sandbox")
def test_one_wall_clock_covers_restarts():
    """A restart does not start a fresh clock: the notebook's limit is the total."""
    kernel = Kernel(SandboxedKernelManager, None, wall_clock_limit=8)
    try:
        time.sleep(4)
        kernel.loop.run_until_complete(kernel.km.restart_kernel(now=True))
        kernel.kc.wait_for_ready(timeout=60)
        restarted = time.monotonic()
        kernel.kc.execute("import time; time.sleep(60)")
        assert _wait_until(lambda: not kernel.is_alive(), 15), "the kernel outlived its clock"
        lived = time.monotonic() - restarted
        assert lived < 7, f"the restarted kernel lived {lived:.1f} s of an 8 s notebook clock"
        assert kernel.km.wall_clock_left == 0
    finally:
        kernel.close()


@pytest.mark.usefixtures("require_sandbox")
def test_kernel_folder_is_a_vetted_copy_of_the_submission(tmp_path: Path):
    submitted = tmp_path / "submitted"
    submitted.mkdir()
    (submitted / "01_notebook.ipynb").write_text("{}")
    (submitted / "data.txt").write_text("ok\n")
    secret = tmp_path / "gradebook.db"
    secret.write_text("SQLite format 3 secret")
    (submitted / "gradebook.db").symlink_to(secret)
    (submitted / "linked_dir").symlink_to(tmp_path)
    os.mkfifo(submitted / "pipe")
    (submitted / "zero").symlink_to("/dev/zero")
    autograded = tmp_path / "autograded"
    autograded.mkdir()
    (autograded / "01_notebook.ipynb").write_text('{"hidden": "### BEGIN HIDDEN TESTS"}')
    kernel = Kernel(SandboxedKernelManager, autograded, work_source=str(submitted))
    try:
        listing = kernel.value(
            "import os\nresult = {name: open(name).read() for name in sorted(os.listdir('.'))}"
        )
    finally:
        kernel.close()
    assert listing == {"01_notebook.ipynb": "{}", "data.txt": "ok\n"}


@pytest.mark.usefixtures("require_sandbox")
def test_the_sockets_folder_on_the_host_takes_no_files(sandboxed: Kernel):
    """The kernel's sockets live on the grading machine's disk; it may add nothing there."""
    if os.geteuid() != 0:
        pytest.skip("as another user the kernel is that user, who owns the folder")
    result = sandboxed.value(
        "import os\n"
        "from ipykernel import get_connection_file\n"
        "folder = os.path.dirname(get_connection_file())\n"
        "try:\n"
        "    with open(os.path.join(folder, 'fill.bin'), 'wb') as handle:\n"
        "        handle.write(bytes(1000))\n"
        "    result = 'written'\n"
        "except OSError as error:\n"
        "    result = type(error).__name__"
    )
    assert result == "PermissionError"


def test_closing_the_sockets_folder_never_locks_the_kernel_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The kernel reads its connection file right after binding its sockets, which is when
    the grader takes the folder back: at no step may the folder refuse the kernel a search.

    (The other order, root's first and ``0700``, killed about one kernel in 1,600 at start.)
    """
    from types import SimpleNamespace

    from softsign_grader import kernel_provisioner
    from softsign_grader.bubblewrap import SANDBOX_UID

    ipc = tmp_path / "ipc"
    ipc.mkdir()
    state = {"owner": SANDBOX_UID, "mode": 0o700}
    steps: list[str] = []

    def searchable() -> bool:
        if state["owner"] == SANDBOX_UID:
            return bool(state["mode"] & 0o100)
        return bool(state["mode"] & 0o001)

    def chown(path, uid, gid, **_):
        assert Path(path) == ipc
        state["owner"] = uid
        steps.append(f"chown {uid}")
        assert searchable(), steps

    def chmod(path, mode, **_):
        assert Path(path) == ipc
        state["mode"] = mode
        steps.append(f"chmod {mode:o}")
        assert searchable(), steps

    monkeypatch.setattr(kernel_provisioner, "runs_as_root", lambda: True)
    monkeypatch.setattr(kernel_provisioner.os, "chown", chown)
    monkeypatch.setattr(kernel_provisioner.os, "chmod", chmod)
    provisioner = SimpleNamespace(_runtime=tmp_path, marker="1")
    kernel_provisioner.SandboxProvisioner._close_ipc_folder(provisioner)  # type: ignore[arg-type]
    assert state == {"owner": 0, "mode": 0o755}, steps


@pytest.mark.usefixtures("require_sandbox")
def test_without_a_source_the_kernel_gets_no_notebook_of_its_folder(tmp_path: Path):
    (tmp_path / "01_notebook.ipynb").write_text('{"hidden": "### BEGIN HIDDEN TESTS"}')
    (tmp_path / "data.txt").write_text("ok\n")
    kernel = Kernel(SandboxedKernelManager, tmp_path)
    try:
        listing = kernel.value("import os\nresult = sorted(os.listdir('.'))")
    finally:
        kernel.close()
    assert listing == ["data.txt"]


# ------------------------------------------------------------------------------------------
# The fallback
# ------------------------------------------------------------------------------------------


def test_fallback_is_chosen_with_sandbox_off(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(SANDBOX_ENV, "off")
    assert kernel_manager_class() is UnsandboxedKernelManager
    monkeypatch.setenv(SANDBOX_ENV, "sometimes")
    with pytest.raises(ValueError, match=SANDBOX_ENV):
        kernel_manager_class()
    assert "NOT isolated" in NOT_ISOLATED_WARNING


def test_fallback_runs_a_kernel_over_ipc(tmp_path: Path):
    folder = _notebook_folder(tmp_path)
    before = _listing(folder)
    kernel = Kernel(UnsandboxedKernelManager, folder)
    try:
        info = json.loads(Path(kernel.km.connection_file).read_text())
        result = kernel.value(
            "import os, resource\n"
            "open('new.txt', 'w').write('x')\n"
            "result = {'cwd': os.getcwd(), 'files': sorted(os.listdir('.')),\n"
            "          'as': resource.getrlimit(resource.RLIMIT_AS)[0]}"
        )
    finally:
        kernel.close()
    assert info["transport"] == "ipc"
    assert kernel.km.transport == "ipc"
    assert result["cwd"] != str(folder)
    assert result["files"] == ["data.txt", "new.txt", "sub"]
    if sys.platform.startswith("linux"):
        assert result["as"] == 2 * 2**30
    assert _listing(folder) == before
    assert not Path(result["cwd"]).exists(), "the kernel's folder was not cleaned up"


def test_fallback_starts_kernels_in_parallel_without_port_races():
    async def one(slots: asyncio.Semaphore) -> str:
        async with slots:
            km = UnsandboxedKernelManager()
            await km.start_kernel()
            kc = km.client()
            kc.start_channels()
            try:
                await kc.wait_for_ready(timeout=60)
                reply = await kc.kernel_info(reply=True, timeout=30)
                return reply["content"]["status"]
            finally:
                kc.stop_channels()
                await km.shutdown_kernel(now=True)

    async def all_of_them() -> list[str]:
        slots = asyncio.Semaphore(2)
        return await asyncio.gather(*(one(slots) for _ in range(8)))

    assert asyncio.run(all_of_them()) == ["ok"] * 8


def test_fallback_limits_and_kill(tmp_path: Path):
    kernel = Kernel(UnsandboxedKernelManager, tmp_path, wall_clock_limit=3)
    try:
        result = kernel.value(
            "import errno\n"
            "try:\n"
            "    open('big.bin', 'wb').write(bytes(100 * 2**20))\n"
            "    result = 'written'\n"
            "except OSError as error:\n"
            "    result = errno.errorcode[error.errno]"
        )
        assert result == "EFBIG"
        kernel.kc.execute("import time; time.sleep(60)")
        assert _wait_until(lambda: not kernel.is_alive(), 10), "the kernel outlived its limit"
    finally:
        kernel.close()
