"""A bubblewrap sandbox for the kernel that runs a student's notebook while it is graded.

nbclient (and so nbgrader) starts a kernel with ``kernel_manager_class(config=...)``
and ``await km.start_kernel(extra_arguments=[...], cwd=<the notebook's folder>)``.
:func:`kernel_manager_class` returns one of two :class:`jupyter_client.AsyncKernelManager`
subclasses for that trait:

:class:`SandboxedKernelManager`
    Starts ``ipykernel`` inside `bubblewrap <https://github.com/containers/bubblewrap>`_
    (``bwrap``): its own PID, network (none at all), IPC, UTS and cgroup namespaces; a
    root file system that holds only what Python needs, read-only (``/usr``, the
    interpreter, the virtual environment, a few ``/etc`` files); a tmpfs ``/tmp``
    and ``HOME`` (``/home/student``); and a private copy of the notebook's folder at
    ``/home/student/work``, its working directory. The course root, the gradebook,
    ``submitted/``, ``solutions/``, ``nbgrader_config.py`` and the other students'
    folders are not mounted. The kernel runs as uid and gid 65534.

:class:`UnsandboxedKernelManager`
    The fallback where bubblewrap is missing or cannot create namespaces (macOS,
    locked-down containers). It logs :data:`NOT_ISOLATED_WARNING` once per process.

Both talk to the kernel over ZeroMQ's ``ipc`` transport (Unix sockets in a private
temporary folder), which also removes jupyter_client's TCP port race (it picks free
ports and releases them before the kernel binds them, so parallel graders could fail
with ``ZMQError: Address already in use``); both run the kernel in a copy of the
notebook's folder, apply the resource limits below with :func:`resource.setrlimit`
(through a small bootstrap that then ``exec``'s the kernel), and kill the kernel when
it has run longer than ``wall_clock_limit`` seconds. The limits are traits, set in
``nbgrader_config.py`` like ``c.SandboxedKernelManager.memory_limit = 4 * 2**30``:

=====================  =============================================  ================
trait                  meaning                                        default
=====================  =============================================  ================
``memory_limit``       ``RLIMIT_AS``, bytes of address space          2 GiB
``process_limit``      ``RLIMIT_NPROC`` headroom: tasks (processes    256
                       and threads) the kernel's uid may start
                       beyond those it already has
``file_size_limit``    ``RLIMIT_FSIZE``, bytes of any one file        64 MiB
``wall_clock_limit``   seconds before the whole kernel is killed      600
``tmpfs_size``         bytes of each of ``/tmp``, ``/dev/shm`` and    256 MiB
                       ``HOME`` (sandbox only)
``folder_copy_limit``  bytes of the notebook folder copied            50 MB
=====================  =============================================  ================

0 means no limit. ``RLIMIT_CORE`` is always 0.

The user the kernel runs as
---------------------------
When the grader runs as root (CI does), the sandbox does *not* use a user namespace:
the kernel would then run as the host's uid 0 under another name, and Linux never
applies ``RLIMIT_NPROC`` to uid 0, so a fork bomb would go unchecked. Instead bwrap
keeps only ``CAP_SETUID``, ``CAP_SETGID`` and ``CAP_CHOWN`` for the bootstrap, which
hands ``HOME`` and ``/tmp`` to uid 65534 and becomes that user (the host's
``nobody``) with no capabilities left and ``no_new_privs`` set, before it starts the
kernel. For any other user, bwrap's ``--unshare-all --uid 65534 --gid 65534`` is used
(the kernel is then the invoking user under another name, in a user namespace).

Interrupts and the wall clock
-----------------------------
The sandboxed kernel is interrupted by an ``interrupt_request`` message (its
kernelspec's ``interrupt_mode`` is set to ``"message"``), on which ipykernel sends
itself ``SIGINT``: a ``SIGINT`` sent to bwrap's process group would stop bwrap
itself. The wall-clock limit is a timer thread in the grading process: it sends
``SIGKILL`` to the process group of bwrap, whose ``--die-with-parent`` then kills the
PID namespace's init and with it every process the notebook left behind, daemons
included. The same happens on any shutdown: when the kernel ends, so does its PID
namespace. ``--die-with-parent`` is tied to the *thread* that started the kernel, so
start kernels from a thread that outlives them (nbclient does).

The kernel edition of ``source_lib``
------------------------------------
The sandboxed kernel sees one ``source_lib``: the kernel edition that
:func:`softsign_grader.edition.kernel_edition` builds, mounted read-only at
:data:`SANDBOX_LIBRARY` (first on the kernel's ``PYTHONPATH``) and over every other
copy of the package the kernel could reach. It has no grading code and withholds the
functions that the notebook's own test cells grade (:attr:`SandboxedKernelManager.withheld`,
which the judge sets); see :mod:`softsign_grader.edition`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any, cast

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from traitlets import Float, Int, List, Unicode

import source_lib
from softsign_grader.edition import EDITION_EXCLUDED, GRADED_FUNCTIONS, kernel_edition
from softsign_grader.limits import KernelGroup, kernel_group
from softsign_grader.submission import Limits, copy_submission

__all__ = [
    "EDITION_EXCLUDED",
    "GRADED_FUNCTIONS",
    "NOT_ISOLATED_WARNING",
    "SANDBOX_ENV",
    "SANDBOX_HOME",
    "SANDBOX_LIBRARY",
    "SANDBOX_MARKER_ENV",
    "SANDBOX_UID",
    "SANDBOX_WORK",
    "SandboxedKernelManager",
    "UnsandboxedKernelManager",
    "kernel_edition",
    "kernel_manager_class",
    "sandbox_available",
    "sandbox_problem",
]

#: Logged once per process when grading kernels run without the sandbox.
NOT_ISOLATED_WARNING = (
    "bubblewrap (bwrap) is not available: grading kernels are NOT isolated from the "
    "grading machine; verdicts are still decided outside the kernel. Install the "
    "'bubblewrap' package."
)

#: ``off`` forces the unsandboxed fallback; ``require`` makes a missing sandbox an error.
SANDBOX_ENV = "SOFTSIGN_SANDBOX"

#: Set to ``1`` in the sandboxed kernel and ``0`` in the fallback, for information only.
SANDBOX_MARKER_ENV = "SOFTSIGN_GRADING_SANDBOX"

#: The uid and gid of the sandboxed kernel.
SANDBOX_UID = 65534

#: The sandboxed kernel's HOME (a tmpfs) and working directory (the folder's copy, in HOME).
SANDBOX_HOME = "/home/student"
SANDBOX_WORK = "/home/student/work"
#: Where the vetted copy of the submission is mounted read-only; the bootstrap copies it
#: into SANDBOX_WORK, so the kernel's writes land in HOME's size-limited tmpfs.
SANDBOX_SUBMISSION = "/run/submission"
#: The folder first on the kernel's ``sys.path`` (``PYTHONPATH``), which holds the kernel
#: edition of ``source_lib``: one fixed place, whatever the install layout.
SANDBOX_LIBRARY = "/opt/softsign"

_MODES = ("", "auto", "off", "require")

#: Read-only into the sandbox when present (never /etc as a whole: no shadow, no keys).
_ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/fonts", "/etc/mime.types")

#: Runs first in the kernel's process: takes the user and the limits, then exec's the kernel.
#: argv: the JSON plan, then the kernel's command line.
_BOOTSTRAP = """\
import json, os, resource, sys
plan = json.loads(sys.argv[1])
for path in plan["chown"]:
    os.chown(path, *plan["user"])
if plan.get("populate"):
    import shutil
    source, target = plan["populate"]
    shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
    if plan["user"]:
        for folder, dirs, files in os.walk(target):
            for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
                os.chown(name, *plan["user"], follow_symlinks=False)
if plan["user"]:
    os.setgroups([])
    os.setgid(plan["user"][1])
    os.setuid(plan["user"][0])
for name, value in plan["limits"].items():
    try:
        resource.setrlimit(getattr(resource, name), (value, value))
    except (AttributeError, ValueError, OSError) as error:
        print(f"grading kernel: {name} not set: {error}", file=sys.stderr)
os.execv(sys.argv[2], sys.argv[2:])
"""

_warned_not_isolated = False
_warning_lock = threading.Lock()


# ----------------------------------------------------------------------------------------------
# Availability
# ----------------------------------------------------------------------------------------------


def _bwrap() -> str | None:
    return shutil.which("bwrap") or shutil.which("bwrap", path="/usr/bin:/bin")


def _runs_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _namespace_options() -> list[str]:
    """bwrap's namespace and privilege options (see the module docstring on the user)."""
    if _runs_as_root():
        return [
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--cap-drop",
            "ALL",
            *("--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_CHOWN"),
        ]
    return ["--unshare-all", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]


@functools.cache
def _sandbox_problem() -> str | None:
    """Why the sandbox cannot be used here, or None when it can (probed once)."""
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux, not {sys.platform}"
    bwrap = _bwrap()
    if bwrap is None:
        return "bwrap is not on PATH"
    true = shutil.which("true") or "/bin/true"
    probe = [
        bwrap,
        *_namespace_options(),
        "--die-with-parent",
        "--new-session",
        *("--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"),
        "--",
        true,
    ]
    try:
        result = subprocess.run(
            probe, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap could not run: {error}"
    if result.returncode != 0:
        return f"bwrap cannot create a sandbox here: {result.stderr.strip() or result.returncode}"
    return None


def sandbox_problem() -> str | None:
    """Why grading kernels cannot be sandboxed on this machine, if they cannot.

    Returns
    -------
    str or None
        None when :func:`sandbox_available`; otherwise a sentence (bwrap missing, or
        bwrap's own error when it cannot create the namespaces). Probed once per process.
    """
    return _sandbox_problem()


def sandbox_available() -> bool:
    """Whether bubblewrap can sandbox grading kernels on this machine.

    Returns
    -------
    bool
        True when ``bwrap`` is on ``PATH`` and a trivial sandbox with the same
        namespaces as the kernel's starts and exits cleanly. Probed once per process.
    """
    return _sandbox_problem() is None


def kernel_manager_class() -> type[AsyncKernelManager]:
    """The kernel manager class to grade with: the sandbox if available, else the fallback.

    The environment variable ``SOFTSIGN_SANDBOX`` changes the choice: ``off`` always
    returns :class:`UnsandboxedKernelManager`; ``require`` raises when the sandbox is
    not available; empty or ``auto`` is the default.

    Returns
    -------
    type
        :class:`SandboxedKernelManager` or :class:`UnsandboxedKernelManager`.

    Raises
    ------
    RuntimeError
        ``SOFTSIGN_SANDBOX=require`` and bubblewrap is not available.
    ValueError
        ``SOFTSIGN_SANDBOX`` has another value.
    """
    mode = os.environ.get(SANDBOX_ENV, "").strip().lower()
    if mode not in _MODES:
        msg = f"{SANDBOX_ENV}={mode!r}: expected one of 'auto', 'off', 'require'"
        raise ValueError(msg)
    if mode == "off":
        return UnsandboxedKernelManager
    problem = _sandbox_problem()
    if problem is None:
        return SandboxedKernelManager
    if mode == "require":
        msg = (
            f"{SANDBOX_ENV}=require, but grading kernels cannot be sandboxed: {problem}. "
            "Install the 'bubblewrap' package (and allow user namespaces), "
            f"or unset {SANDBOX_ENV}."
        )
        raise RuntimeError(msg)
    return UnsandboxedKernelManager


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------


def _tasks_of(uid: int) -> int | None:
    """How many tasks (threads) the host's ``uid`` runs now, as RLIMIT_NPROC counts them."""
    proc = Path("/proc")
    if not (proc / "self" / "status").exists():
        return None
    count = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("Uid", "-1 ").split()[0]) == uid:
            count += int(fields.get("Threads", "1").strip() or 1)
    return count


def _python_roots() -> list[str]:
    """What the interpreter needs to run the kernel: prefixes and site-packages folders."""
    candidates = [
        sys.base_prefix,
        sys.base_exec_prefix,
        sys.prefix,
        sys.exec_prefix,
        str(Path(os.path.realpath(sys.executable)).parent.parent),
        *site.getsitepackages(),
        *(entry for entry in sys.path if "site-packages" in entry or "dist-packages" in entry),
    ]
    roots: list[str] = []
    for candidate in candidates:
        for path in (os.path.abspath(candidate), os.path.realpath(candidate)):
            if os.path.isdir(path) and path not in roots:
                roots.append(path)
    return roots


def _library_copies(roots: Sequence[str], package: ModuleType = source_lib) -> list[str]:
    """Every folder holding ``package`` that a kernel with these roots could import.

    The grader's own copy, and ``package`` in each site-packages (or dist-packages)
    folder under the interpreter roots that the sandbox mounts.
    """
    own = Path(str(package.__file__)).resolve().parent
    found = [str(own)]
    for root in roots:
        base = Path(root)
        candidates = [base / own.name]
        for pattern in (
            "lib/python3*/site-packages",
            "lib/python3*/dist-packages",
            "lib64/python3*/site-packages",
        ):
            candidates += [folder / own.name for folder in base.glob(pattern)]
        for candidate in candidates:
            if (candidate / "__init__.py").is_file():
                for path in (str(candidate), os.path.realpath(candidate)):
                    if path not in found:
                        found.append(path)
    return found


def _covered(path: str, bound: Sequence[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in bound)


class _Mounts:
    """bwrap's file-system options, in order, with every missing parent made 0755.

    (bwrap creates the missing parents of a mount point with mode 0700, which the
    kernel, when it is not uid 0 on the host, could not traverse.)
    """

    def __init__(self) -> None:
        self.options: list[str] = []
        self._dirs = {"/"}
        self._binds: list[str] = []

    def covers(self, path: str) -> bool:
        """Whether ``path`` is inside a folder already bound at the same place."""
        return _covered(path, self._binds)

    def add(self, option: str, destination: str, source: str | None = None, size: int = 0) -> None:
        for parent in reversed(PurePosixPath(destination).parents):
            folder = str(parent)
            if folder not in self._dirs and not self.covers(folder):
                self.options += ["--dir", folder]
                self._dirs.add(folder)
        if size:
            self.options += ["--size", str(size)]
        self.options += [option, *([source] if source is not None else []), destination]
        if option != "--symlink":
            self._dirs.add(destination)
        if option in ("--bind", "--ro-bind", "--ro-bind-try"):
            self._binds.append(destination)


# ----------------------------------------------------------------------------------------------
# The kernel managers
# ----------------------------------------------------------------------------------------------


class _GradingKernelManager(AsyncKernelManager):
    """What both grading kernel managers share: IPC, the folder's copy, limits, the clock."""

    memory_limit = Int(2 * 2**30, help="RLIMIT_AS of the kernel, in bytes (0: no limit).").tag(
        config=True
    )
    process_limit = Int(
        256,
        help=(
            "RLIMIT_NPROC headroom: the tasks the kernel's uid may start beyond those it "
            "has when the kernel starts (0: no limit)."
        ),
    ).tag(config=True)
    file_size_limit = Int(
        64 * 2**20, help="RLIMIT_FSIZE of the kernel, in bytes (0: no limit)."
    ).tag(config=True)
    wall_clock_limit = Float(
        600.0, help="Seconds after which the kernel is killed (0: never)."
    ).tag(config=True)
    folder_copy_limit = Int(
        50 * 10**6,
        help="Bytes of the notebook's folder copied for the kernel; files beyond are left out.",
    ).tag(config=True)
    work_source = Unicode(
        None,
        allow_none=True,
        help=(
            "The folder whose regular files the kernel gets (the student's submitted "
            "folder; the judge sets it). When unset, the folder the kernel is started in, "
            "without its notebooks (an autograded notebook holds the hidden tests)."
        ),
    )
    start_attempts = Int(
        3, help="How many times to start a kernel that dies before it listens."
    ).tag(config=True)
    start_wait = Float(
        30.0, help="Seconds start_kernel waits for the kernel to open its sockets."
    ).tag(config=True)
    withheld = List(
        Unicode(),
        default_value=list(GRADED_FUNCTIONS),
        help="The graded functions of source_lib withheld in the sandboxed kernel.",
    ).tag(config=True)
    pass_env = List(
        Unicode(),
        default_value=[
            "OMP_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
            "MKL_NUM_THREADS",
            "PYDEVD_DISABLE_FILE_VALIDATION",
            "TZ",
            # nbgrader's own markers: notebooks shrink long experiments while graded
            "NBGRADER_EXECUTION",
            "NBGRADER_VALIDATING",
        ],
        help="Environment variables copied into the kernel's environment when set.",
    ).tag(config=True)

    #: Set in the kernel's environment (SANDBOX_MARKER_ENV).
    _marker = "0"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.transport = "ipc"
        self._runtime: Path | None = None
        self._cleanup_runtime: weakref.finalize | None = None
        self._timer: threading.Timer | None = None
        self._group: KernelGroup | None = None
        #: When the notebook's first kernel started: one clock for all its restarts.
        self._clock_origin: float | None = None

    # -- the private folders ------------------------------------------------------------------

    def _prepare_runtime(self, cwd: str | os.PathLike[str] | None) -> Path:
        """Create the kernel's private folder (once; kept across restarts)."""
        if self._runtime is not None:
            return self._runtime
        # The sockets' paths must stay under the 107 bytes a Unix socket's address may have.
        short = len(tempfile.gettempdir()) > 60 and os.path.isdir("/tmp")
        runtime = Path(tempfile.mkdtemp(prefix="softsign-kernel-", dir="/tmp" if short else None))
        self._runtime = runtime
        self._cleanup_runtime = weakref.finalize(self, shutil.rmtree, runtime, ignore_errors=True)
        (runtime / "ipc").mkdir(mode=0o700)
        work = runtime / "work"
        work.mkdir()
        source = self.work_source or (None if cwd is None else os.fspath(cwd))
        if source is not None:
            # The vetted reader: regular files only, never a link, capped (no notebook of the
            # autograded folder: those hold the hidden tests that nbgrader restored).
            ignore = [".ipynb_checkpoints", "__pycache__"]
            if not self.work_source:
                ignore.append("*.ipynb")
            limits = Limits(total_bytes=self.folder_copy_limit)
            taken = copy_submission(source, work, limits, ignore)
            if taken.skipped:
                self.log.warning(
                    "Grading kernel: %d entr%s of %s not copied into the kernel's folder: %s",
                    len(taken.skipped),
                    "y" if len(taken.skipped) == 1 else "ies",
                    source,
                    "; ".join(map(str, taken.skipped[:5]))
                    + ("; ..." if len(taken.skipped) > 5 else ""),
                )
        self.connection_file = str(runtime / "ipc" / "kernel.json")
        self.ip = str(runtime / "ipc" / "kernel-ipc")
        return runtime

    def _limits(self, uid: int) -> dict[str, int]:
        limits = {"RLIMIT_CORE": 0}
        if self.memory_limit:
            limits["RLIMIT_AS"] = self.memory_limit
        if self.file_size_limit:
            limits["RLIMIT_FSIZE"] = self.file_size_limit
        if self.process_limit and not self._grouped():
            # Without a group, RLIMIT_NPROC per uid (shared by every kernel of that uid).
            tasks = _tasks_of(uid)
            if tasks is not None:
                limits["RLIMIT_NPROC"] = tasks + self.process_limit
        return limits

    def _passed_env(self, env: Mapping[str, str] | None) -> dict[str, str]:
        source = os.environ if env is None else env
        return {name: source[name] for name in self.pass_env if name in source}

    def _bootstrap(self, plan: Mapping[str, Any]) -> list[str]:
        return [sys.executable, "-I", "-S", "-c", _BOOTSTRAP, json.dumps(plan)]

    def _wrap(self, cmd: list[str], kw: dict[str, Any], runtime: Path) -> list[str]:
        raise NotImplementedError

    # -- jupyter_client hooks -----------------------------------------------------------------

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        runtime = self._prepare_runtime(kw.get("cwd"))
        kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)
        if self._group is None:  # one group for the notebook's kernels, restarts included
            self._group = kernel_group(self.memory_limit, self.process_limit, self.log)
        return self._group.wrap(self._wrap(kernel_cmd, kw, runtime)), kw

    def _grouped(self) -> bool:
        """Whether a control group holds this kernel's memory and task limits."""
        return self._group is not None and self._group.mechanism != "none"

    pre_start_kernel = _async_pre_start_kernel

    def _socket_files(self) -> list[str]:
        return [f"{self.ip}-{port}" for port in self.ports]

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        attempts = max(1, self.start_attempts)
        for attempt in range(1, attempts + 1):
            self.cleanup_ipc_files()
            await super()._async_launch_kernel(kernel_cmd, **kw)
            assert self.provisioner is not None
            provisioner = cast(LocalProvisioner, self.provisioner)  # what the kernel spec names
            process = provisioner.process
            assert process is not None  # a launched kernel has its process
            deadline = time.monotonic() + self.start_wait
            while process.poll() is None and time.monotonic() < deadline:
                if all(os.path.exists(path) for path in self._socket_files()):
                    break
                await asyncio.sleep(0.05)
            code = process.poll()
            if code is None:
                self._start_clock(process, provisioner.pgid)
                self._close_ipc_folder()
                return
            if attempt == attempts:
                msg = (
                    f"The grading kernel died during start-up {attempts} times (exit code {code})."
                )
                raise RuntimeError(msg)
            self.log.warning(
                "Grading kernel died during start-up (exit code %s); starting it again "
                "(attempt %d of %d).",
                code,
                attempt + 1,
                attempts,
            )
            await self.provisioner.wait()

    _launch_kernel = _async_launch_kernel

    def _close_ipc_folder(self) -> None:
        """Once the kernel's sockets exist, take its write access to their host folder away.

        The folder is on the grading machine's disk (the grader must reach the sockets),
        so a kernel that could write there could fill that disk. As root the kernel is
        uid 65534 and the folder goes back to root; otherwise the kernel is the grading
        user, who keeps it (and only ``RLIMIT_FSIZE`` bounds each file).
        """
        if self._runtime is not None and _runs_as_root() and self._marker == "1":
            ipc = self._runtime / "ipc"
            os.chown(ipc, 0, 0)
            os.chmod(ipc, 0o755)

    def _start_clock(self, process: subprocess.Popen[bytes], pgid: int | None) -> None:
        """Kill the kernel when the notebook's wall clock runs out (restarts do not reset it)."""
        self._stop_clock()
        if self.wall_clock_limit <= 0:
            return
        now = time.monotonic()
        if self._clock_origin is None:
            self._clock_origin = now
        left = max(0.0, self.wall_clock_limit - (now - self._clock_origin))
        timer = threading.Timer(left, self._wall_clock_expired, (process, pgid))
        timer.daemon = True
        timer.start()
        self._timer = timer

    def _stop_clock(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _wall_clock_expired(self, process: subprocess.Popen[bytes], pgid: int | None) -> None:
        if process.poll() is not None:
            return
        self.log.warning(
            "Grading kernel ran longer than wall_clock_limit (%s s): killing it.",
            self.wall_clock_limit,
        )
        try:
            if pgid:
                os.killpg(pgid, signal.SIGKILL)
            else:
                process.kill()
        except ProcessLookupError:
            pass
        if self._group is not None:  # whatever escaped the process group
            self._group.kill()

    @property
    def wall_clock_left(self) -> float | None:
        """Seconds left on the notebook's wall clock (None: no clock, or not started)."""
        if self.wall_clock_limit <= 0 or self._clock_origin is None:
            return None
        return max(0.0, self.wall_clock_limit - (time.monotonic() - self._clock_origin))

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        self._stop_clock()
        await super()._async_cleanup_resources(restart=restart)
        if restart:
            return
        if self._group is not None:
            self._group.close()
            self._group = None
        self._clock_origin = None  # the next notebook's clock
        if self._cleanup_runtime is not None:
            self._cleanup_runtime()
            self._runtime = None
            self._cleanup_runtime = None

    cleanup_resources = _async_cleanup_resources


class SandboxedKernelManager(_GradingKernelManager):
    """Starts the grading kernel inside a bubblewrap sandbox (see the module docstring).

    Configurable like any kernel manager (``c.SandboxedKernelManager.memory_limit``);
    the transport is always ``ipc`` and interrupts are sent as messages.
    """

    tmpfs_size = Int(
        256 * 2**20, help="Size of the sandbox's /tmp, /dev/shm and HOME, in bytes each."
    ).tag(config=True)

    _marker = "1"

    @property
    def kernel_spec(self) -> KernelSpec | None:
        """The kernelspec, with ``interrupt_mode`` "message": SIGINT would stop bwrap itself."""
        spec = super().kernel_spec
        if spec is not None:
            spec.interrupt_mode = "message"
        return spec

    def _wrap(self, cmd: list[str], kw: dict[str, Any], runtime: Path) -> list[str]:
        bwrap = _bwrap()
        if bwrap is None:
            msg = "bwrap is not on PATH: use kernel_manager_class() to pick a kernel manager"
            raise RuntimeError(msg)
        as_root = _runs_as_root()
        uid = SANDBOX_UID if as_root else os.getuid()
        ipc = runtime / "ipc"
        etc = runtime / "etc"
        etc.mkdir(exist_ok=True)
        (etc / "passwd").write_text(
            f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
            f"student:x:{SANDBOX_UID}:{SANDBOX_UID}:student:{SANDBOX_HOME}:/usr/sbin/nologin\n"
        )
        (etc / "group").write_text(f"root:x:0:\nstudent:x:{SANDBOX_UID}:\n")
        if as_root:
            # The kernel runs as the host's uid 65534: give it its sockets' folder.
            os.chown(ipc, SANDBOX_UID, SANDBOX_UID)
            os.chown(self.connection_file, SANDBOX_UID, SANDBOX_UID)

        env = {
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
            "HOME": SANDBOX_HOME,
            "LANG": "C.UTF-8",
            "TMPDIR": "/tmp",
            "MPLBACKEND": "agg",
            "PYTHONDONTWRITEBYTECODE": "1",
            # The kernel edition of source_lib comes first, before any installed copy.
            "PYTHONPATH": SANDBOX_LIBRARY,
            # The kernel's parent is the PID namespace's init (bwrap), pid 1: ipykernel then
            # neither polls for its parent nor prints its console banner.
            "JPY_PARENT_PID": "1",
            **self._passed_env(kw.get("env")),
            SANDBOX_MARKER_ENV: self._marker,
        }
        options = [
            bwrap,
            *_namespace_options(),
            "--die-with-parent",
            "--new-session",
            "--hostname",
            "grading",
            "--clearenv",
        ]
        for name, value in env.items():
            options += ["--setenv", name, value]
        mounts = _Mounts()
        mounts.add("--ro-bind", "/usr", "/usr")
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):
                mounts.add("--symlink", top, os.readlink(top))
            elif os.path.isdir(top):
                mounts.add("--ro-bind", top, top)
        mounts.add("--proc", "/proc")
        mounts.add("--dev", "/dev")
        for tmpfs in ("/tmp", "/dev/shm", SANDBOX_HOME):
            mounts.add("--tmpfs", tmpfs, size=self.tmpfs_size)
        # The work folder lives in HOME's tmpfs (size-limited, gone at every restart); the
        # bootstrap fills it from a read-only mount of the vetted copy.
        mounts.add("--dir", SANDBOX_WORK)
        mounts.add("--ro-bind", SANDBOX_SUBMISSION, str(runtime / "work"))
        roots = _python_roots()
        if os.path.isabs(cmd[0]):  # a kernelspec's own interpreter, if it is not this one
            prefix = Path(os.path.realpath(cmd[0])).parent.parent
            if prefix.parent != prefix:
                roots.append(str(prefix))
        for root in roots:
            if not mounts.covers(root):
                mounts.add("--ro-bind", root, root)
        for path in _ETC_FILES:
            mounts.add("--ro-bind-try", path, path)
        mounts.add("--ro-bind", "/etc/passwd", str(etc / "passwd"))
        mounts.add("--ro-bind", "/etc/group", str(etc / "group"))
        mounts.add("--bind", str(ipc), str(ipc))
        edition = str(kernel_edition(self.withheld))
        mounts.add("--ro-bind", f"{SANDBOX_LIBRARY}/source_lib", edition)
        # Every other copy the kernel could reach shows the edition too: the grader's own
        # package (an editable install's target) and any source_lib in the interpreter's
        # folders (a non-editable install in site-packages, a shared venv's copy).
        for copy in _library_copies(roots):
            mounts.add("--ro-bind", copy, edition)
        # The grading engine is none of the kernel's business: each copy shows an empty folder.
        for copy in _library_copies(roots, sys.modules[__package__ or "softsign_grader"]):
            mounts.add("--tmpfs", copy, size=4096)
        options += [*mounts.options, "--chdir", SANDBOX_WORK]

        plan = {
            "user": [SANDBOX_UID, SANDBOX_UID] if as_root else None,
            "chown": [SANDBOX_HOME, "/tmp", "/dev/shm"] if as_root else [],
            "populate": [SANDBOX_SUBMISSION, SANDBOX_WORK],
            "limits": self._limits(uid),
        }
        kw["cwd"] = str(runtime)
        return [*options, "--", *self._bootstrap(plan), *cmd]


class UnsandboxedKernelManager(_GradingKernelManager):
    """The fallback without bubblewrap: IPC, a copy of the folder, limits, the wall clock.

    The kernel runs as the grading user and can read and write whatever that user can;
    only the notebook's folder is a copy. Logs :data:`NOT_ISOLATED_WARNING` once.
    """

    def _wrap(self, cmd: list[str], kw: dict[str, Any], runtime: Path) -> list[str]:
        global _warned_not_isolated
        with _warning_lock:
            if not _warned_not_isolated:
                _warned_not_isolated = True
                self.log.warning(NOT_ISOLATED_WARNING)
        env = dict(os.environ if kw.get("env") is None else kw["env"])
        env.setdefault("MPLBACKEND", "agg")
        env[SANDBOX_MARKER_ENV] = self._marker
        kw["env"] = env
        kw["cwd"] = str(runtime / "work")
        plan: dict[str, Any] = {"user": None, "chown": [], "limits": self._limits(os.getuid())}
        return [*self._bootstrap(plan), *cmd]
