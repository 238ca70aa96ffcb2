"""The kernel provisioners that launch, time and clean up a grading kernel.

jupyter_client's public extension point for *how* a kernel process is started is the
kernel provisioner (:class:`jupyter_client.provisioning.LocalProvisioner` here). The
grading kernel managers of :mod:`softsign_grader.sandbox` hand each kernel to one of
these, which reads its limits from the manager's traits:

* :meth:`GradingProvisioner.pre_launch` makes the kernel's private folder (its ``ipc``
  sockets and the vetted copy of the submission), its control group, and wraps the
  kernel's command (in bubblewrap for :class:`SandboxProvisioner`; not for
  :class:`FallbackProvisioner`) behind a bootstrap that applies the resource limits;
* :meth:`GradingProvisioner.launch_kernel` starts it again when it dies before it
  listens, then starts the notebook's wall clock (one clock across restarts);
* :meth:`GradingProvisioner.cleanup` stops the clock and, unless the kernel restarts,
  removes the control group and the private folder.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, cast

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning import LocalProvisioner

from softsign_grader.bubblewrap import (
    SANDBOX_HOME,
    SANDBOX_MATPLOTLIB_CACHE,
    SANDBOX_SUBMISSION,
    SANDBOX_UID,
    SANDBOX_WORK,
    bwrap_command,
    bwrap_program,
    matplotlib_font_list,
    runs_as_root,
    sandbox_environment,
)
from softsign_grader.limits import KernelGroup, kernel_group
from softsign_grader.submission import Limits, copy_submission

__all__ = [
    "NOT_ISOLATED_WARNING",
    "SANDBOX_MARKER_ENV",
    "FallbackProvisioner",
    "GradingManager",
    "GradingProvisioner",
    "SandboxManager",
    "SandboxProvisioner",
    "without_debugger",
]

#: Logged once per process when grading kernels run without the sandbox.
NOT_ISOLATED_WARNING = (
    "bubblewrap (bwrap) is not available: grading kernels are NOT isolated from the "
    "grading machine; verdicts are still decided outside the kernel. Install the "
    "'bubblewrap' package."
)

#: Set to ``1`` in the sandboxed kernel and ``0`` in the fallback, for information only.
SANDBOX_MARKER_ENV = "SOFTSIGN_GRADING_SANDBOX"

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

#: What ``python -m ipykernel_launcher`` runs, without the debugger. A grading kernel is
#: never debugged, and without debugpy an IPython kernel starts on a third less CPU (0.27 s
#: instead of 0.40 s); ipykernel treats a debugpy it cannot import as not installed.
_KERNEL_LAUNCHER = """\
import sys
from pathlib import Path
if sys.path[0] == "" or Path(sys.path[0]) == Path.cwd():
    del sys.path[0]
sys.modules["debugpy"] = None
from ipykernel import kernelapp
kernelapp.launch_new_instance()
"""


def without_debugger(cmd: list[str]) -> list[str]:
    """``cmd`` with ``-m ipykernel_launcher`` run by :data:`_KERNEL_LAUNCHER`; others as given."""
    if cmd[1:3] == ["-m", "ipykernel_launcher"]:
        return [cmd[0], "-c", _KERNEL_LAUNCHER, *cmd[3:]]
    return cmd


_warned_not_isolated = False
_warning_lock = threading.Lock()


class GradingManager(Protocol):
    """What a provisioner reads from its grading kernel manager (its ``parent``)."""

    memory_limit: int
    process_limit: int
    file_size_limit: int
    wall_clock_limit: float
    folder_copy_limit: int
    work_source: str | None
    start_attempts: int
    start_wait: float
    withheld: list[str]
    pass_env: list[str]
    connection_file: str
    ip: str

    @property
    def ports(self) -> list[int]:
        """The kernel's five ports (with ``ipc``, the suffixes of its socket files)."""

    def cleanup_ipc_files(self) -> None:
        """Remove the kernel's socket files."""


class SandboxManager(GradingManager, Protocol):
    """What :class:`SandboxProvisioner` reads besides: the size of its tmpfs folders."""

    tmpfs_size: int


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


class GradingProvisioner(LocalProvisioner):
    """What both grading provisioners share: IPC, the folder's copy, limits, the clock."""

    #: Set in the kernel's environment (SANDBOX_MARKER_ENV).
    marker = "0"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._runtime: Path | None = None
        self._cleanup_runtime: weakref.finalize | None = None
        self._timer: threading.Timer | None = None
        self._group: KernelGroup | None = None
        #: When the notebook's first kernel started: one clock for all its restarts.
        self._clock_origin: float | None = None

    @property
    def manager(self) -> GradingManager:
        """The kernel manager this provisioner works for, whose traits hold the limits."""
        return cast(GradingManager, self.parent)

    # -- the private folders ------------------------------------------------------------------

    def _prepare_runtime(self, cwd: str | os.PathLike[str] | None) -> Path:
        """Create the kernel's private folder (once; kept across restarts)."""
        if self._runtime is not None:
            return self._runtime
        km = self.manager
        # The sockets' paths must stay under the 107 bytes a Unix socket's address may have.
        short = len(tempfile.gettempdir()) > 60 and os.path.isdir("/tmp")
        runtime = Path(tempfile.mkdtemp(prefix="softsign-kernel-", dir="/tmp" if short else None))
        self._runtime = runtime
        self._cleanup_runtime = weakref.finalize(self, shutil.rmtree, runtime, ignore_errors=True)
        (runtime / "ipc").mkdir(mode=0o700)
        work = runtime / "work"
        work.mkdir()
        source = km.work_source or (None if cwd is None else os.fspath(cwd))
        if source is not None:
            self._copy_work(source, work)
        km.connection_file = str(runtime / "ipc" / "kernel.json")
        km.ip = str(runtime / "ipc" / "kernel-ipc")
        return runtime

    def _copy_work(self, source: str, work: Path) -> None:
        """The vetted reader: regular files only, never a link, capped.

        No notebook of the autograded folder (those hold the hidden tests that nbgrader
        restored) unless the manager's ``work_source`` names the submitted folder.
        """
        km = self.manager
        ignore = [".ipynb_checkpoints", "__pycache__"]
        if not km.work_source:
            ignore.append("*.ipynb")
        limits = Limits(total_bytes=km.folder_copy_limit)
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

    def _limits(self, uid: int) -> dict[str, int]:
        km = self.manager
        limits = {"RLIMIT_CORE": 0}
        if km.memory_limit:
            limits["RLIMIT_AS"] = km.memory_limit
        if km.file_size_limit:
            limits["RLIMIT_FSIZE"] = km.file_size_limit
        if km.process_limit and not self._grouped():
            # Without a group, RLIMIT_NPROC per uid (shared by every kernel of that uid).
            tasks = _tasks_of(uid)
            if tasks is not None:
                limits["RLIMIT_NPROC"] = tasks + km.process_limit
        return limits

    def _passed_env(self, env: Mapping[str, str] | None) -> dict[str, str]:
        source = os.environ if env is None else env
        return {name: source[name] for name in self.manager.pass_env if name in source}

    def _bootstrap(self, plan: Mapping[str, Any]) -> list[str]:
        return [sys.executable, "-I", "-S", "-c", _BOOTSTRAP, json.dumps(plan)]

    def _wrap(self, cmd: list[str], kw: dict[str, Any], runtime: Path) -> list[str]:
        raise NotImplementedError

    def _grouped(self) -> bool:
        """Whether a control group holds this kernel's memory and task limits."""
        return self._group is not None and self._group.mechanism != "none"

    # -- the provisioner's hooks --------------------------------------------------------------

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        """Prepare the kernel's folder and group; wrap its command (see the module docstring)."""
        runtime = self._prepare_runtime(kwargs.get("cwd"))
        kw = await super().pre_launch(**kwargs)
        if self._group is None:  # one group for the notebook's kernels, restarts included
            km = self.manager
            self._group = kernel_group(km.memory_limit, km.process_limit, self.log)
        kernel_cmd = without_debugger(kw.pop("cmd"))
        kw["cmd"] = self._group.wrap(self._wrap(kernel_cmd, kw, runtime))
        return kw

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        """Launch the kernel until it listens (``start_attempts``); start the wall clock."""
        km = self.manager
        attempts = max(1, km.start_attempts)
        for attempt in range(1, attempts + 1):
            km.cleanup_ipc_files()
            connection_info = await super().launch_kernel(cmd, **kwargs)
            process = self.process
            assert process is not None  # a launched kernel has its process
            deadline = time.monotonic() + km.start_wait
            sockets = [f"{km.ip}-{port}" for port in km.ports]
            while process.poll() is None and time.monotonic() < deadline:
                if all(os.path.exists(path) for path in sockets):
                    break
                await asyncio.sleep(0.05)
            code = process.poll()
            if code is None:
                self._start_clock(process, self.pgid)
                self._close_ipc_folder()
                return connection_info
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
            await self.wait()
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def cleanup(self, restart: bool = False) -> None:
        """Stop the clock; unless the kernel restarts, remove its group and folder."""
        self._stop_clock()
        await super().cleanup(restart=restart)
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

    # -- the sockets' folder and the wall clock -----------------------------------------------

    def _close_ipc_folder(self) -> None:
        """Once the kernel's sockets exist, take its write access to their host folder away.

        The folder is on the grading machine's disk (the grader must reach the sockets),
        so a kernel that could write there could fill that disk. As root the kernel is
        uid 65534 and the folder goes back to root; otherwise the kernel is the grading
        user, who keeps it (and only ``RLIMIT_FSIZE`` bounds each file).

        The mode comes first: the kernel, its sockets just bound, is about to read its
        connection file there, and a folder already root's but still ``0700`` would
        refuse it that read (the kernel then dies before it answers).
        """
        if self._runtime is not None and runs_as_root() and self.marker == "1":
            ipc = self._runtime / "ipc"
            os.chmod(ipc, 0o755)
            os.chown(ipc, 0, 0)

    def _start_clock(self, process: subprocess.Popen[bytes], pgid: int | None) -> None:
        """Kill the kernel when the notebook's wall clock runs out (restarts do not reset it)."""
        self._stop_clock()
        limit = self.manager.wall_clock_limit
        if limit <= 0:
            return
        now = time.monotonic()
        if self._clock_origin is None:
            self._clock_origin = now
        left = max(0.0, limit - (now - self._clock_origin))
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
            self.manager.wall_clock_limit,
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
        limit = self.manager.wall_clock_limit
        if limit <= 0 or self._clock_origin is None:
            return None
        return max(0.0, limit - (time.monotonic() - self._clock_origin))


class SandboxProvisioner(GradingProvisioner):
    """Starts the grading kernel inside bubblewrap (see :mod:`softsign_grader.sandbox`)."""

    marker = "1"

    def _wrap(self, cmd: list[str], kw: dict[str, Any], runtime: Path) -> list[str]:
        bwrap = bwrap_program()
        if bwrap is None:
            msg = "bwrap is not on PATH: use kernel_manager_class() to pick a kernel manager"
            raise RuntimeError(msg)
        km = cast(SandboxManager, self.parent)
        as_root = runs_as_root()
        uid = SANDBOX_UID if as_root else os.getuid()
        if as_root:
            # The kernel runs as the host's uid 65534: give it its sockets' folder.
            os.chown(runtime / "ipc", SANDBOX_UID, SANDBOX_UID)
            os.chown(km.connection_file, SANDBOX_UID, SANDBOX_UID)
        env = sandbox_environment(
            self._passed_env(kw.get("env")), (SANDBOX_MARKER_ENV, self.marker)
        )
        options = bwrap_command(bwrap, cmd, runtime, env, km.tmpfs_size, km.withheld)
        plan = {
            "user": [SANDBOX_UID, SANDBOX_UID] if as_root else None,
            "chown": [SANDBOX_HOME, *self._made_folders(), "/tmp", "/dev/shm"] if as_root else [],
            "populate": [SANDBOX_SUBMISSION, SANDBOX_WORK],
            "limits": self._limits(uid),
        }
        kw["cwd"] = str(runtime)
        return [*options, "--", *self._bootstrap(plan), *cmd]

    @staticmethod
    def _made_folders() -> list[str]:
        """The folders bwrap makes in HOME as root, which the kernel must own to write in."""
        if matplotlib_font_list() is None:
            return []
        return [str(PurePosixPath(SANDBOX_MATPLOTLIB_CACHE).parent), SANDBOX_MATPLOTLIB_CACHE]


class FallbackProvisioner(GradingProvisioner):
    """Starts the grading kernel without a sandbox; logs :data:`NOT_ISOLATED_WARNING` once."""

    def _wrap(self, cmd: list[str], kw: dict[str, Any], runtime: Path) -> list[str]:
        global _warned_not_isolated
        with _warning_lock:
            if not _warned_not_isolated:
                _warned_not_isolated = True
                self.log.warning(NOT_ISOLATED_WARNING)
        env = dict(os.environ if kw.get("env") is None else kw["env"])
        env.setdefault("MPLBACKEND", "agg")
        env[SANDBOX_MARKER_ENV] = self.marker
        kw["env"] = env
        kw["cwd"] = str(runtime / "work")
        plan: dict[str, Any] = {"user": None, "chown": [], "limits": self._limits(os.getuid())}
        return [*self._bootstrap(plan), *cmd]
