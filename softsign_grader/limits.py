"""Memory and task limits for a grading kernel and every process it starts, together.

``resource.setrlimit`` limits one process at a time: ``RLIMIT_AS`` of 2 GiB lets a
kernel that forks 255 children hold 255 times 2 GiB. A control group limits the sum. This
module puts each grading kernel (bubblewrap, the kernel and all their descendants) in a
control group of its own, with the first mechanism that works here:

``cgroup v1``
    The grader can write to the ``memory`` and ``pids`` hierarchies (root on a host or
    VM with cgroup v1 or hybrid mounts): a child group under the grader's own group,
    with ``memory.limit_in_bytes`` (and ``memory.memsw.limit_in_bytes`` where swap is
    accounted) and ``pids.max``.
``cgroup v2``
    The grader's own group is a delegated subtree that already enables the ``memory``
    and ``pids`` controllers for its children: a child group with ``memory.max``,
    ``memory.swap.max = 0`` and ``pids.max``.
``systemd scope``
    ``systemd-run --scope`` (``--user --scope`` for other users) starts the kernel in a
    transient scope with ``MemoryMax``, ``MemorySwapMax=0`` and ``TasksMax``.
``none``
    None of these: only the per-process limits hold (``RLIMIT_AS``, ``RLIMIT_NPROC``),
    and :data:`NO_GROUP_WARNING` is logged once.

The kernel joins its group before it starts: the command is prefixed by a tiny
program that writes its own pid into the group's ``cgroup.procs`` and then ``exec``'s
bubblewrap, so every descendant is born inside. Files written to the sandbox's tmpfs
folders are memory too, and count against the same limit.

``python -m softsign_grader.limits`` prints which mechanism holds on this machine.
Written by hand: no maintained Python library creates and joins cgroups of both
versions without a daemon.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["NO_GROUP_WARNING", "KernelGroup", "group_mechanism", "kernel_group"]

#: Logged once per process when no control group can hold a kernel's limits.
NO_GROUP_WARNING = (
    "No control group is available to the grader (cgroup v1 or v2, or systemd-run): "
    "memory and task limits hold per process only (RLIMIT_AS, RLIMIT_NPROC)."
)

_JOIN = """\
import json, os, sys
for path in json.loads(sys.argv[1]):
    with open(path, "w") as handle:
        handle.write(str(os.getpid()))
os.execv(sys.argv[2], sys.argv[2:])
"""

_CGROUP_ROOT = Path("/sys/fs/cgroup")
_counter = itertools.count()
_warned = False


def _own_paths() -> dict[str, str]:
    """The grader's group in each hierarchy: ``{"memory": "/a/b", "pids": ..., "": v2}``."""
    paths: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return paths
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def _v1_folder(controller: str) -> Path | None:
    """Where a new v1 group of ``controller`` can be made (under the grader's own group)."""
    mount = _CGROUP_ROOT / controller
    if not (mount / "cgroup.procs").exists():
        return None
    own = _own_paths().get(controller, "/").lstrip("/")
    for base in (mount / own, mount):
        if base.is_dir() and os.access(base, os.W_OK):
            return base
    return None


def _v2_folder() -> Path | None:
    """The grader's own v2 group, if it enables memory and pids for its children."""
    if not (_CGROUP_ROOT / "cgroup.controllers").exists():
        return None
    own = _CGROUP_ROOT / _own_paths().get("", "/").lstrip("/")
    try:
        enabled = (own / "cgroup.subtree_control").read_text().split()
    except OSError:
        return None
    if {"memory", "pids"} <= set(enabled) and os.access(own, os.W_OK):
        return own
    return None


def _systemd_run() -> list[str] | None:
    """``systemd-run`` options that start a scope here, if a probe of it succeeds."""
    program = shutil.which("systemd-run")
    if program is None:
        return None
    base = [program, "--quiet", "--collect", "--scope"]
    if os.geteuid() != 0:
        base.insert(1, "--user")
    true = shutil.which("true") or "/bin/true"
    try:
        probe = subprocess.run(
            [*base, "-p", "TasksMax=8", "--", true],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return base if probe.returncode == 0 else None


@functools.cache
def group_mechanism() -> str:
    """Which mechanism holds a kernel's limits here: ``"cgroup v1"``, ``"cgroup v2"``,
    ``"systemd scope"`` or ``"none"`` (probed once per process)."""
    if not sys.platform.startswith("linux"):
        return "none"
    if _v1_folder("memory") is not None and _v1_folder("pids") is not None:
        return "cgroup v1"
    if _v2_folder() is not None:
        return "cgroup v2"
    if _systemd_run() is not None:
        return "systemd scope"
    return "none"


class KernelGroup:
    """One kernel's control group: :meth:`wrap` a command to start it inside; :meth:`close`.

    Parameters
    ----------
    memory : int
        Bytes of memory (resident, page cache and tmpfs files together) for the whole
        group; 0 for no memory limit.
    tasks : int
        Processes and threads of the whole group; 0 for no limit.
    log : logging.Logger
        Where a group that cannot be made is reported.
    """

    def __init__(self, memory: int, tasks: int, log: logging.Logger) -> None:
        self.memory = memory
        self.tasks = tasks
        self.log = log
        self.mechanism = group_mechanism() if (memory or tasks) else "none"
        self._folders: list[Path] = []
        self._procs: list[Path] = []
        name = f"softsign-kernel-{os.getpid()}-{next(_counter)}"
        try:
            if self.mechanism == "cgroup v1":
                self._make_v1(name)
            elif self.mechanism == "cgroup v2":
                self._make_v2(name)
        except OSError as error:
            self.log.warning(
                "Grading kernel: no control group (%s); per-process limits only", error
            )
            self.close()
            self.mechanism = "none"
        global _warned
        if self.mechanism == "none" and (memory or tasks) and not _warned:
            _warned = True
            self.log.warning(NO_GROUP_WARNING)

    def _make(self, folder: Path, settings: dict[str, str]) -> None:
        folder.mkdir()
        self._folders.append(folder)
        for file, value in settings.items():
            if (folder / file).exists():
                (folder / file).write_text(value)
        self._procs.append(folder / "cgroup.procs")

    def _make_v1(self, name: str) -> None:
        memory, pids = _v1_folder("memory"), _v1_folder("pids")
        if memory is None or pids is None:  # group_mechanism checked; a group vanished since
            raise OSError("the cgroup v1 hierarchies are no longer writable")
        settings = {}
        if self.memory:
            # limit_in_bytes first: memsw may never be below it.
            settings = {
                "memory.limit_in_bytes": str(self.memory),
                "memory.memsw.limit_in_bytes": str(self.memory),
            }
        self._make(memory / name, settings)
        self._make(pids / name, {"pids.max": str(self.tasks)} if self.tasks else {})

    def _make_v2(self, name: str) -> None:
        folder = _v2_folder()
        assert folder is not None
        settings = {}
        if self.memory:
            settings = {"memory.max": str(self.memory), "memory.swap.max": "0"}
        if self.tasks:
            settings["pids.max"] = str(self.tasks)
        self._make(folder / name, settings)

    def wrap(self, command: Sequence[str]) -> list[str]:
        """``command``, started inside this group."""
        if self._procs:
            procs = json.dumps([str(path) for path in self._procs])
            return [sys.executable, "-I", "-S", "-c", _JOIN, procs, *command]
        if self.mechanism == "systemd scope":
            base = _systemd_run()
            if base is not None:
                properties = []
                if self.memory:
                    properties += ["-p", f"MemoryMax={self.memory}", "-p", "MemorySwapMax=0"]
                if self.tasks:
                    properties += ["-p", f"TasksMax={self.tasks}"]
                return [*base, *properties, "--", *command]
        return list(command)

    def members(self) -> list[int]:
        """The pids in the group now (cgroup mechanisms only)."""
        pids: set[int] = set()
        for procs in self._procs:
            with contextlib.suppress(OSError, ValueError):
                pids.update(int(line) for line in procs.read_text().split())
        return sorted(pids)

    def kill(self) -> None:
        """SIGKILL every process of the group (cgroup mechanisms only)."""
        for pid in self.members():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def close(self) -> None:
        """Kill what is left in the group and remove it."""
        deadline = time.monotonic() + 5
        while self._folders:
            self.kill()
            try:
                self._folders[-1].rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                if time.monotonic() > deadline:
                    self.log.warning("Control group %s could not be removed", self._folders[-1])
                    self._folders.pop()
                else:
                    time.sleep(0.05)
                continue
            self._folders.pop()
        self._procs = []


def kernel_group(memory: int, tasks: int, log: logging.Logger | None = None) -> KernelGroup:
    """A new :class:`KernelGroup` (see the module docstring)."""
    return KernelGroup(memory, tasks, log or logging.getLogger(__name__))


def _main() -> None:
    mechanism = group_mechanism()
    print(f"whole-sandbox memory and task limits: {mechanism}")
    if mechanism == "none":
        print(NO_GROUP_WARNING)
    print(json.dumps({"cgroups": _own_paths()}))


if __name__ == "__main__":
    _main()
