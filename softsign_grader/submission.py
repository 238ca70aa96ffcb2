"""The one vetted reader of a student's submission folder, outside the sandbox.

A submission folder is student-controlled: it may hold symbolic links (to a peer's
notebook, ``gradebook.db``, ``/etc/shadow``), FIFOs that block a reader forever,
devices (``/dev/zero`` never ends), sockets, a million files or one huge one. Every
part of the course that reads a submission outside the grading sandbox (the pool's
fingerprint and staging, the sandbox's copy for the kernel, the notebook exporter)
reads it through :func:`read_submission` or :func:`read_file`, which

* never follow a symbolic link, at any depth: folders are opened relative to their
  parent's descriptor with ``O_NOFOLLOW`` and files with ``O_NOFOLLOW | O_NONBLOCK``,
  then checked with ``fstat`` on the open descriptor (so a file swapped for a link or
  a FIFO between listing and opening is caught, not followed);
* take regular files only, and name everything else they left out
  (:class:`Skipped`: the path and why);
* cap the size of each file, the bytes of the whole folder, the number of entries
  and the folder depth before anything is read, and stop at a time limit.

Written by hand because no library offers a descriptor-relative, no-follow walk with
caps; :func:`os.scandir` and :func:`os.open` with ``dir_fd`` do the work.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import itertools
import json
import os
import stat
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "DEFAULT_LIMITS",
    "MANIFEST_SUFFIX",
    "QUARANTINE_SUFFIX",
    "Limits",
    "Skipped",
    "Submission",
    "UnsafeFile",
    "copy_submission",
    "kind_of",
    "quarantine",
    "read_file",
    "read_submission",
    "read_text",
    "skipped_manifest",
    "write_skipped_manifest",
]


@dataclass(frozen=True)
class Limits:
    """What the reader takes from one submission folder (0 means no cap)."""

    #: Bytes of any one file; a larger file is skipped.
    file_bytes: int = 20 * 2**20
    #: Bytes of the whole folder; files past it are skipped.
    total_bytes: int = 50 * 10**6
    #: Files and folders looked at; entries past it are skipped.
    entries: int = 2_000
    #: Folder depth below the submission folder.
    depth: int = 16
    #: Seconds for the whole folder; what is not read by then is skipped.
    seconds: float = 30.0


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Skipped:
    """A path of the submission (relative, POSIX) that was not taken, and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path} ({self.reason})"


@dataclass
class Submission:
    """The regular files of a submission folder, read once, and what was left out."""

    files: dict[str, bytes] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)

    def fingerprint(self, salt: str = "") -> str:
        """SHA-256 of the files taken (names and contents) and of the names skipped."""
        digest = hashlib.sha256(salt.encode())
        for name in sorted(self.files):
            digest.update(os.fsencode(name) + b"\0")
            digest.update(hashlib.sha256(self.files[name]).digest())
        for item in sorted(self.skipped, key=lambda s: s.path):
            digest.update(os.fsencode(f"skipped\0{item.path}\0{item.reason}\0"))
        return digest.hexdigest()


class UnsafeFile(OSError):
    """A path that is not a regular file, or is over its cap; ``reason`` says which."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(f"{os.fspath(path)}: {reason}")
        self.path = os.fspath(path)
        self.reason = reason


_FILE_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
_FILE_FLAGS |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS |= getattr(os, "O_DIRECTORY", 0)
_CHUNK = 1 << 20


def kind_of(mode: int, refused: str = "read") -> str:
    """What a file that is not a regular file is, in words: "a FIFO (named pipe), not read".

    ``refused`` names what was not done to it ("read" here; "created" by an extractor).
    """
    if stat.S_ISLNK(mode):
        return "a symbolic link, not followed"
    if stat.S_ISFIFO(mode):
        return f"a FIFO (named pipe), not {refused}"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return f"a device, not {refused}"
    if stat.S_ISSOCK(mode):
        return f"a socket, not {refused}"
    if stat.S_ISDIR(mode):
        return "a folder where a file was expected"
    return "not a regular file"


def _read_fd(fd: int, limit: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError("the time limit for reading the submission ran out")
        want = _CHUNK if not limit else min(_CHUNK, limit + 1 - size)
        if want <= 0:
            raise UnsafeFile("", f"larger than {limit} bytes")
        chunk = os.read(fd, want)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if limit and size > limit:
            raise UnsafeFile("", f"larger than {limit} bytes")


def _open_file(name: str, dir_fd: int | None) -> tuple[int, os.stat_result]:
    """Open a regular file without following a link or blocking; raise UnsafeFile otherwise."""
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafeFile(name, kind_of(stat.S_IFLNK)) from None
        if error.errno in (errno.ENXIO, errno.EOPNOTSUPP):  # a socket
            raise UnsafeFile(name, kind_of(stat.S_IFSOCK)) from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise UnsafeFile(name, kind_of(info.st_mode))
    return fd, info


def read_file(path: str | os.PathLike[str], limit: int = DEFAULT_LIMITS.file_bytes) -> bytes:
    """Read one regular file of a submission, never following a link, at most ``limit`` bytes.

    Parameters
    ----------
    path : path-like
        The file. Its last component must not be a symbolic link; the folders above
        it are the course's own (``submitted/STUDENT/ASSIGNMENT``).
    limit : int
        Bytes; a larger file raises (0: no cap).

    Raises
    ------
    UnsafeFile
        The path is a link, a FIFO, a device, a socket or a folder, or is over ``limit``.
    OSError
        It cannot be opened (missing, unreadable).
    """
    fd, info = _open_file(os.fspath(path), None)
    try:
        if limit and info.st_size > limit:
            raise UnsafeFile(path, f"larger than {limit} bytes")
        try:
            return _read_fd(fd, limit, None)
        except UnsafeFile as error:
            raise UnsafeFile(path, error.reason) from None
    finally:
        os.close(fd)


def read_text(path: str | os.PathLike[str], limit: int = DEFAULT_LIMITS.file_bytes) -> str:
    """:func:`read_file`, decoded as UTF-8 (``UnicodeDecodeError`` when it is not)."""
    return read_file(path, limit).decode("utf-8")


def _ignored(name: str, ignore: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in ignore)


class _Walk:
    def __init__(self, limits: Limits, ignore: Sequence[str]) -> None:
        self.limits = limits
        self.ignore = list(ignore)
        self.result = Submission()
        self.total = 0
        self.entries = 0
        self.stopped = False
        self.deadline = time.monotonic() + limits.seconds if limits.seconds else None

    def skip(self, path: str, reason: str) -> None:
        self.result.skipped.append(Skipped(path, reason))

    def stop(self, path: str, reason: str) -> None:
        """Skip ``path`` and everything after it, named once."""
        self.skip(path, f"{reason}: this entry and all after it were left out")
        self.stopped = True

    def folder(self, fd: int, prefix: str, depth: int) -> None:
        # Listed lazily, at most up to the entry cap, then sorted: a folder of ten million
        # names costs no more than the cap allows.
        room = self.limits.entries - self.entries + 1 if self.limits.entries else None
        with os.scandir(fd) as listing:
            entries = sorted(itertools.islice(listing, room), key=lambda entry: entry.name)
        for entry in entries:
            path = f"{prefix}{entry.name}"
            if _ignored(entry.name, self.ignore):
                continue
            if self.stopped:
                return
            self.entries += 1
            if self.limits.entries and self.entries > self.limits.entries:
                self.stop(path, f"more than {self.limits.entries} files and folders")
                return
            if self.deadline is not None and time.monotonic() > self.deadline:
                self.stop(path, f"not read within {self.limits.seconds:g} s")
                return
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError as error:
                self.skip(path, f"unreadable ({error.strerror})")
                continue
            if stat.S_ISDIR(mode):
                self.subfolder(fd, entry.name, path, depth)
            elif stat.S_ISREG(mode):
                self.file(fd, entry.name, path)
            else:
                self.skip(path, kind_of(mode))

    def subfolder(self, fd: int, name: str, path: str, depth: int) -> None:
        if self.limits.depth and depth >= self.limits.depth:
            self.skip(path, f"deeper than {self.limits.depth} folders")
            return
        try:
            child = os.open(name, _DIR_FLAGS, dir_fd=fd)
        except OSError as error:
            reason = kind_of(stat.S_IFLNK) if error.errno == errno.ELOOP else error.strerror
            self.skip(path, f"folder not read ({reason})")
            return
        try:
            self.folder(child, f"{path}/", depth + 1)
        finally:
            os.close(child)

    def file(self, dir_fd: int, name: str, path: str) -> None:
        try:
            fd, info = _open_file(name, dir_fd)
        except UnsafeFile as error:
            self.skip(path, error.reason)
            return
        except OSError as error:
            self.skip(path, f"unreadable ({error.strerror})")
            return
        try:
            limits = self.limits
            if limits.file_bytes and info.st_size > limits.file_bytes:
                self.skip(path, f"larger than {limits.file_bytes} bytes")
                return
            room = limits.total_bytes - self.total if limits.total_bytes else 0
            if limits.total_bytes and info.st_size > room:
                self.skip(path, f"past the submission's {limits.total_bytes}-byte limit")
                return
            cap = (
                min(x for x in (limits.file_bytes, room) if x) if (room or limits.file_bytes) else 0
            )
            try:
                data = _read_fd(fd, cap, self.deadline)
            except UnsafeFile:
                self.skip(path, f"grew past {cap} bytes while it was read")
                return
            except TimeoutError:
                self.skip(path, f"not read within {limits.seconds:g} s")
                return
            self.total += len(data)
            self.result.files[path] = data
        finally:
            os.close(fd)


def read_submission(
    folder: str | os.PathLike[str],
    limits: Limits = DEFAULT_LIMITS,
    ignore: Sequence[str] = (),
) -> Submission:
    """Read the regular files of a submission folder, following nothing.

    Parameters
    ----------
    folder : path-like
        ``submitted/STUDENT/ASSIGNMENT`` (the course's own path: it is opened as a
        folder, and a link there is refused too).
    limits : Limits
        Caps on file size, total bytes, entries, depth and time.
    ignore : sequence of str
        Globs of names to leave out silently (nbgrader's ``CourseDirectory.ignore``).

    Returns
    -------
    Submission
        ``files`` maps each relative POSIX path to its bytes; ``skipped`` names every
        entry left out and why. A missing folder gives an empty submission.
    """
    walk = _Walk(limits, ignore)
    try:
        fd = os.open(os.fspath(folder), _DIR_FLAGS)
    except FileNotFoundError:
        return walk.result
    except OSError as error:
        try:
            mode = os.lstat(folder).st_mode
            reason = error.strerror if stat.S_ISDIR(mode) else kind_of(mode)
        except OSError:
            reason = error.strerror
        walk.skip(".", f"submission folder not read ({reason})")
        return walk.result
    try:
        walk.folder(fd, "", 0)
    finally:
        os.close(fd)
    return walk.result


def copy_submission(
    folder: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    limits: Limits = DEFAULT_LIMITS,
    ignore: Sequence[str] = (),
    submission: Submission | None = None,
) -> Submission:
    """Copy what :func:`read_submission` takes into ``destination`` (created); return it."""
    taken = read_submission(folder, limits, ignore) if submission is None else submission
    root = Path(destination)
    root.mkdir(parents=True, exist_ok=True)
    for name, data in taken.files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return taken


#: Beside a staged submission folder ``X``: ``X.skipped.json`` lists what was left out.
MANIFEST_SUFFIX = ".skipped.json"


def write_skipped_manifest(
    staged_folder: str | os.PathLike[str], skipped: Iterable[Skipped]
) -> None:
    """Record, beside a staged folder, what its submission left out (nothing: no file)."""
    items = [{"path": item.path, "reason": item.reason} for item in skipped]
    manifest = Path(os.fspath(staged_folder).rstrip("/") + MANIFEST_SUFFIX)
    if items:
        manifest.write_text(json.dumps(items, indent=1), encoding="utf-8")
    elif manifest.exists():
        manifest.unlink()


def skipped_manifest(staged_folder: str | os.PathLike[str]) -> list[Skipped]:
    """What :func:`write_skipped_manifest` recorded beside ``staged_folder`` (or nothing)."""
    manifest = Path(os.fspath(staged_folder).rstrip("/") + MANIFEST_SUFFIX)
    try:
        items = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [
        Skipped(str(item["path"]), str(item["reason"]))
        for item in items
        if isinstance(item, dict) and "path" in item and "reason" in item
    ]


def _not_taken(
    folder: str | os.PathLike[str], taken: Submission, ignore: Sequence[str]
) -> list[str]:
    """Every entry of ``folder`` (links, FIFOs, files past a cap...) that ``taken`` left out.

    Entries are listed without following anything (``os.walk`` with ``followlinks=False``
    enters no linked folder); a link to a folder is named once, as a whole.
    """
    out: list[str] = []
    for here, dirs, files in os.walk(folder, followlinks=False):
        relative = Path(here).relative_to(folder)
        for name in list(dirs):
            path = (relative / name).as_posix()
            if _ignored(name, ignore):
                dirs.remove(name)
            elif os.path.islink(os.path.join(here, name)):
                out.append(path)  # a link to a folder: moved as it is, never entered
                dirs.remove(name)
        for name in files:
            path = (relative / name).as_posix()
            if not _ignored(name, ignore) and path not in taken.files:
                out.append(path)
    return sorted(out)


#: Beside a submission folder ``X``: ``X.quarantine/`` holds what :func:`quarantine` moved out.
QUARANTINE_SUFFIX = ".quarantine"


def quarantine(
    folder: str | os.PathLike[str], limits: Limits = DEFAULT_LIMITS, ignore: Sequence[str] = ()
) -> list[Skipped]:
    """Move what the vetted reader would skip out of a submission folder; return it.

    nbgrader's own steps (``init_assignment``'s copy of a submission's other files, its
    ``timestamp.txt`` read) follow links. Run before them (the course's
    ``Autograde.pre_convert_hook``), this leaves only regular files within the caps in
    ``folder``. Nothing is deleted: each entry is moved, without following it, into
    ``X.quarantine/`` beside the folder ``X`` (a link stays a link, a FIFO a FIFO), and the
    manifest ``X.skipped.json`` lists every entry ever moved, for the student's feedback.
    """
    taken = read_submission(folder, limits, ignore)
    reasons = {item.path: item.reason for item in taken.skipped if item.path != "."}
    moved = [
        Skipped(path, reasons.get(path, "past the reader's caps"))
        for path in _not_taken(folder, taken, ignore)
    ]
    if not moved:
        return []
    root = Path(folder)
    holding = Path(os.fspath(folder).rstrip("/") + QUARANTINE_SUFFIX)
    done: list[Skipped] = []
    for item in moved:
        source = root / item.path
        target = holding / item.path
        if not os.path.lexists(source):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(target):  # moved before under the same name: keep both
            target = target.with_name(f"{target.name}.{time.time_ns()}")
        try:
            os.rename(source, target)  # renames the entry itself: a link is not followed
        except OSError as error:
            done.append(Skipped(item.path, f"{item.reason}; could not be moved aside: {error}"))
            continue
        done.append(item)
    known = skipped_manifest(folder)
    recorded = {(s.path, s.reason) for s in known}
    write_skipped_manifest(
        folder, [*known, *(s for s in done if (s.path, s.reason) not in recorded)]
    )
    return done
