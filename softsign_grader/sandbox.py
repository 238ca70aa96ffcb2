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
    ``/home/student/work``, its working directory. Matplotlib's font list, built once by
    the grader, is shown read-only in the kernel's cache folder, so that no kernel spends
    0.2 s of CPU building it again. The course root, the gradebook,
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

The code
--------
This module picks the kernel manager and holds the limits (its traits). Each manager
starts its kernels through jupyter_client's public extension point, a kernel
provisioner (:mod:`softsign_grader.kernel_provisioner`), which it assigns to its
``provisioner`` attribute before the first start; :mod:`softsign_grader.bubblewrap`
writes the ``bwrap`` command line.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import uuid
from typing import Any

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from traitlets import Float, Int, List, Unicode

from softsign_grader.bubblewrap import (
    SANDBOX_HOME,
    SANDBOX_LIBRARY,
    SANDBOX_UID,
    SANDBOX_WORK,
    bwrap_program,
    namespace_options,
)
from softsign_grader.edition import EDITION_EXCLUDED, GRADED_FUNCTIONS, kernel_edition
from softsign_grader.kernel_provisioner import (
    NOT_ISOLATED_WARNING,
    SANDBOX_MARKER_ENV,
    FallbackProvisioner,
    GradingProvisioner,
    SandboxProvisioner,
)

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

#: ``off`` forces the unsandboxed fallback; ``require`` makes a missing sandbox an error.
SANDBOX_ENV = "SOFTSIGN_SANDBOX"

_MODES = ("", "auto", "off", "require")


# ----------------------------------------------------------------------------------------------
# Availability
# ----------------------------------------------------------------------------------------------


@functools.cache
def _sandbox_problem() -> str | None:
    """Why the sandbox cannot be used here, or None when it can (probed once)."""
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux, not {sys.platform}"
    bwrap = bwrap_program()
    if bwrap is None:
        return "bwrap is not on PATH"
    true = shutil.which("true") or "/bin/true"
    probe = [
        bwrap,
        *namespace_options(),
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

    #: The provisioner that starts this manager's kernels.
    provisioner_class: type[GradingProvisioner] = FallbackProvisioner

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.transport = "ipc"

    # The sync KernelManager types start_kernel as sync; AsyncKernelManager, whose
    # coroutine this is, declares it with the same type: ignore.
    async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
        """Start the kernel through this manager's grading provisioner.

        jupyter_client creates a manager's provisioner in its first start, from the
        kernelspec's ``metadata.kernel_provisioner`` (an installed entry point), unless
        the manager already has one: so it is assigned here, before that first start,
        and kept across restarts (which do not pass through here).

        Parameters
        ----------
        **kw
            What :meth:`jupyter_client.AsyncKernelManager.start_kernel` takes.
        """
        if self.provisioner is None:
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
            self.provisioner = self.provisioner_class(
                kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self
            )
        await super().start_kernel(**kw)

    @property
    def wall_clock_left(self) -> float | None:
        """Seconds left on the notebook's wall clock (None: no clock, or not started)."""
        if not isinstance(self.provisioner, GradingProvisioner):
            return None
        return self.provisioner.wall_clock_left


class SandboxedKernelManager(_GradingKernelManager):
    """Starts the grading kernel inside a bubblewrap sandbox (see the module docstring).

    Configurable like any kernel manager (``c.SandboxedKernelManager.memory_limit``);
    the transport is always ``ipc`` and interrupts are sent as messages.
    """

    tmpfs_size = Int(
        256 * 2**20, help="Size of the sandbox's /tmp, /dev/shm and HOME, in bytes each."
    ).tag(config=True)

    provisioner_class = SandboxProvisioner

    @property
    def kernel_spec(self) -> KernelSpec | None:
        """The kernelspec, with ``interrupt_mode`` "message": SIGINT would stop bwrap itself."""
        spec = super().kernel_spec
        if spec is not None:
            spec.interrupt_mode = "message"
        return spec


class UnsandboxedKernelManager(_GradingKernelManager):
    """The fallback without bubblewrap: IPC, a copy of the folder, limits, the wall clock.

    The kernel runs as the grading user and can read and write whatever that user can;
    only the notebook's folder is a copy. Logs :data:`NOT_ISOLATED_WARNING` once.
    """
