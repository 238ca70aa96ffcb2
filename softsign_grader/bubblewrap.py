"""The bubblewrap (``bwrap``) command line that starts a grading kernel in its sandbox.

:mod:`softsign_grader.sandbox` describes the sandbox; this module only writes it down
as ``bwrap`` options: the namespaces, the environment, and the file system (what is
mounted where, read-only or not, and the tmpfs folders with their sizes).
"""

from __future__ import annotations

import functools
import os
import shutil
import site
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from types import ModuleType

import source_lib
from softsign_grader.edition import kernel_edition

__all__ = [
    "ETC_FILES",
    "SANDBOX_HOME",
    "SANDBOX_LIBRARY",
    "SANDBOX_MATPLOTLIB_CACHE",
    "SANDBOX_SUBMISSION",
    "SANDBOX_UID",
    "SANDBOX_WORK",
    "Mounts",
    "bwrap_command",
    "bwrap_program",
    "library_copies",
    "matplotlib_font_list",
    "namespace_options",
    "python_roots",
    "runs_as_root",
    "sandbox_environment",
]

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

#: Matplotlib's cache folder in the kernel's HOME. The grader's own font list is shown there
#: read-only (:func:`matplotlib_font_list`): without it every kernel, in its fresh HOME,
#: builds the list again, 0.2 s of CPU per kernel start.
SANDBOX_MATPLOTLIB_CACHE = f"{SANDBOX_HOME}/.cache/matplotlib"

#: Read-only into the sandbox when present (never /etc as a whole: no shadow, no keys).
ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/fonts", "/etc/mime.types")


@functools.cache
def matplotlib_font_list() -> str | None:
    """The grader's font list of matplotlib (read, or built, on first use); None without one.

    The list names font files by path; the sandbox shows the same ``/usr`` and the same
    interpreter's folders, so the paths hold in the kernel too.
    """
    try:
        import matplotlib
        from matplotlib import font_manager
    except ImportError:
        return None
    version = font_manager.FontManager.__version__  # the list's file name carries it
    path = Path(matplotlib.get_cachedir()) / f"fontlist-v{version}.json"
    return str(path) if path.is_file() else None


def bwrap_program() -> str | None:
    """The ``bwrap`` executable, or None when it is not installed."""
    return shutil.which("bwrap") or shutil.which("bwrap", path="/usr/bin:/bin")


def runs_as_root() -> bool:
    """Whether the grader runs as uid 0 (see the sandbox's docstring on the kernel's user)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def namespace_options() -> list[str]:
    """bwrap's namespace and privilege options (see the sandbox's docstring on the user)."""
    if runs_as_root():
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


def python_roots() -> list[str]:
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


def library_copies(roots: Sequence[str], package: ModuleType = source_lib) -> list[str]:
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


class Mounts:
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
        """Mount ``source`` (if the option takes one) at ``destination``; ``size`` of a tmpfs."""
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


def sandbox_environment(passed: Mapping[str, str], marker: tuple[str, str]) -> dict[str, str]:
    """The kernel's whole environment in the sandbox (bwrap clears the rest).

    Parameters
    ----------
    passed : Mapping[str, str]
        The grader's variables that the kernel gets too (the manager's ``pass_env``).
    marker : tuple of str
        The name and value of the variable that tells the kernel it is sandboxed.
    """
    return {
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
        **passed,
        marker[0]: marker[1],
    }


def _write_identity(runtime: Path) -> Path:
    """The sandbox's ``/etc/passwd`` and ``/etc/group``, written to ``runtime/etc``."""
    etc = runtime / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text(
        f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"student:x:{SANDBOX_UID}:{SANDBOX_UID}:student:{SANDBOX_HOME}:/usr/sbin/nologin\n"
    )
    (etc / "group").write_text(f"root:x:0:\nstudent:x:{SANDBOX_UID}:\n")
    return etc


def _system_mounts(mounts: Mounts, tmpfs_size: int) -> None:
    """The system's programs and libraries (read-only), /proc, /dev and the tmpfs folders."""
    mounts.add("--ro-bind", "/usr", "/usr")
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            mounts.add("--symlink", top, os.readlink(top))
        elif os.path.isdir(top):
            mounts.add("--ro-bind", top, top)
    mounts.add("--proc", "/proc")
    mounts.add("--dev", "/dev")
    for tmpfs in ("/tmp", "/dev/shm", SANDBOX_HOME):
        mounts.add("--tmpfs", tmpfs, size=tmpfs_size)


def _python_mounts(mounts: Mounts, kernel_cmd: Sequence[str]) -> list[str]:
    """The interpreter's folders, read-only; returns them (its roots)."""
    roots = python_roots()
    if os.path.isabs(kernel_cmd[0]):  # a kernelspec's own interpreter, if it is not this one
        prefix = Path(os.path.realpath(kernel_cmd[0])).parent.parent
        if prefix.parent != prefix:
            roots.append(str(prefix))
    for root in roots:
        if not mounts.covers(root):
            mounts.add("--ro-bind", root, root)
    return roots


def _library_mounts(mounts: Mounts, roots: Sequence[str], withheld: Sequence[str]) -> None:
    """The kernel edition over every ``source_lib``; an empty folder over the grader."""
    edition = str(kernel_edition(withheld))
    mounts.add("--ro-bind", f"{SANDBOX_LIBRARY}/source_lib", edition)
    # Every other copy the kernel could reach shows the edition too: the grader's own
    # package (an editable install's target) and any source_lib in the interpreter's
    # folders (a non-editable install in site-packages, a shared venv's copy).
    for copy in library_copies(roots):
        mounts.add("--ro-bind", copy, edition)
    # The grading engine is none of the kernel's business: each copy shows an empty folder.
    for copy in library_copies(roots, sys.modules[__package__ or "softsign_grader"]):
        mounts.add("--tmpfs", copy, size=4096)


def bwrap_command(
    bwrap: str,
    kernel_cmd: Sequence[str],
    runtime: Path,
    env: Mapping[str, str],
    tmpfs_size: int,
    withheld: Sequence[str],
) -> list[str]:
    """bwrap and its options for a kernel, up to (not including) the ``--`` before its command.

    Parameters
    ----------
    bwrap : str
        The ``bwrap`` executable (:func:`bwrap_program`).
    kernel_cmd : Sequence[str]
        The kernel's command line (its interpreter is mounted too).
    runtime : Path
        The kernel's private folder on the host: ``ipc`` (its sockets, bound read-write),
        ``work`` (the vetted copy of the submission) and ``etc`` (written here).
    env : Mapping[str, str]
        The kernel's whole environment (:func:`sandbox_environment`).
    tmpfs_size : int
        Bytes of each of ``/tmp``, ``/dev/shm`` and ``HOME``.
    withheld : Sequence[str]
        The graded functions the kernel edition of ``source_lib`` withholds.

    Returns
    -------
    list of str
        The command line, which ends with ``--chdir`` :data:`SANDBOX_WORK`.
    """
    etc = _write_identity(runtime)
    options = [
        bwrap,
        *namespace_options(),
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "grading",
        "--clearenv",
    ]
    for name, value in env.items():
        options += ["--setenv", name, value]
    mounts = Mounts()
    _system_mounts(mounts, tmpfs_size)
    # The work folder lives in HOME's tmpfs (size-limited, gone at every restart); the
    # bootstrap fills it from a read-only mount of the vetted copy.
    mounts.add("--dir", SANDBOX_WORK)
    mounts.add("--ro-bind", SANDBOX_SUBMISSION, str(runtime / "work"))
    font_list = matplotlib_font_list()
    if font_list is not None:
        mounts.add("--ro-bind", f"{SANDBOX_MATPLOTLIB_CACHE}/{Path(font_list).name}", font_list)
    roots = _python_mounts(mounts, kernel_cmd)
    for path in ETC_FILES:
        mounts.add("--ro-bind-try", path, path)
    mounts.add("--ro-bind", "/etc/passwd", str(etc / "passwd"))
    mounts.add("--ro-bind", "/etc/group", str(etc / "group"))
    ipc = str(runtime / "ipc")
    mounts.add("--bind", ipc, ipc)
    _library_mounts(mounts, roots, withheld)
    return [*options, *mounts.options, "--chdir", SANDBOX_WORK]
