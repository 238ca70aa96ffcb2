"""The archive extractor of ``nbgrader zip_collect``: regular files and folders only.

:class:`SafeExtractorPlugin` is ``ZipCollectApp.extractor_plugin`` in
``nbgrader_config.py``; :mod:`softsign_grader.collect` is the rest of the collect.
"""

from __future__ import annotations

import calendar
import contextlib
import os
import stat
import tarfile
import zipfile
from collections.abc import Iterable
from functools import partial

from nbgrader.plugins import ExtractorPlugin
from traitlets import Integer

from softsign_grader.submission import DEFAULT_LIMITS, kind_of, read_file

__all__ = ["SafeExtractorPlugin"]


class _TooLarge(Exception):
    """An entry, or the archive so far, is over its cap."""


class SafeExtractorPlugin(ExtractorPlugin):
    """``ZipCollectApp.extractor_plugin`` that writes regular files and folders only.

    nbgrader's extractor (setuptools' ``unpack_archive``) turns a tar's symbolic or
    hard link to another member into a copy of that member, applies each entry's
    mode bits (set-user-id included, on files the instructor owns), writes a zip
    symlink entry as a file holding the link's target, has no size cap, and extracts
    archives found inside archives (a student's upload, whose member names may be
    another student's). This one, for the archives and files in
    ``downloaded/ASSIGNMENT/archive``:

    * extracts ``.zip`` and tar archives (``ExtractorPlugin.zip_ext``) into a folder
      named after the archive, as nbgrader does; takes regular files (mode 0644,
      never over an existing path) and folders, and logs and skips symbolic links,
      hard links, devices, FIFOs, absolute names and names with ``..``;
    * leaves an archive inside an archive unextracted (logged);
    * caps each file (``max_file_bytes``), each archive (``max_archive_bytes``) and
      its entries (``max_entries``);
    * copies other regular files of the folder, and skips (logs) links in it;
    * gives each file its time in the archive (a zip's entry time read as UTC), the
      submission time ``softsign-grade collect --file-times`` reads.
    """

    max_file_bytes = Integer(
        DEFAULT_LIMITS.file_bytes, help="Bytes of one extracted file; a larger one is skipped."
    ).tag(config=True)
    max_archive_bytes = Integer(
        4 * 10**9, help="Bytes extracted from one archive; entries past it are skipped."
    ).tag(config=True)
    max_entries = Integer(
        100_000, help="Entries read from one archive; entries past it are skipped."
    ).tag(config=True)

    def extract(self, archive_path: str, extracted_path: str) -> None:
        """Extract or copy what ``archive_path`` holds into ``extracted_path`` (see the class)."""
        if not os.listdir(archive_path):
            self.log.warning("No files found in directory: %s", archive_path)
            return
        for root, folders, files in os.walk(archive_path):
            for name in folders:
                if os.path.islink(os.path.join(root, name)):
                    self.log.warning(
                        "Skipped %s: %s", os.path.join(root, name), kind_of(stat.S_IFLNK, "created")
                    )
            extract_to = os.path.normpath(
                os.path.join(extracted_path, os.path.relpath(root, archive_path))
            )
            for name in sorted(files):
                path = os.path.join(root, name)
                mode = os.lstat(path).st_mode
                if not stat.S_ISREG(mode):
                    self.log.warning("Skipped %s: %s", path, kind_of(mode, "created"))
                    continue
                os.makedirs(extract_to, exist_ok=True)
                stem, ext = os.path.splitext(name)
                if ext in self.zip_ext:
                    inner, inner_ext = os.path.splitext(stem)
                    folder = os.path.join(extract_to, inner if inner_ext == ".tar" else stem)
                    self.log.info("Extracting from: %s", path)
                    self.log.info("  Extracting to: %s", folder)
                    self.extract_archive(path, folder)
                else:
                    self.log.info("Copying from: %s", path)
                    try:
                        data = read_file(path, self.max_file_bytes)
                    except OSError as error:
                        self.log.warning("Skipped %s: %s", path, getattr(error, "reason", error))
                        continue
                    self._write(
                        path, os.path.join(extract_to, name), [data], None, os.stat(path).st_mtime
                    )

    def extract_archive(self, archive: str, folder: str) -> None:
        """Extract one zip or tar ``archive`` into ``folder`` (regular files and folders only)."""
        os.makedirs(folder, exist_ok=True)
        try:
            if zipfile.is_zipfile(archive):
                with zipfile.ZipFile(archive) as bundle:
                    self._extract_zip(archive, bundle, folder)
                return
            with tarfile.open(archive) as bundle:
                self._extract_tar(archive, bundle, folder)
        except Exception as error:  # a corrupt archive costs its own entries, not the class
            self.log.warning("Stopped extracting %s: %s", archive, error)

    def _target(self, archive: str, folder: str, name: str) -> str | None:
        parts = name.split("/")
        if name.startswith("/") or ".." in parts or "\0" in name:
            self.log.warning("Skipped %s in %s: an absolute or '..' name", name, archive)
            return None
        parts = [part for part in parts if part not in ("", ".")]
        return os.path.join(folder, *parts) if parts else None

    def _entry_ok(self, archive: str, name: str, count: int) -> bool:
        if self.max_entries and count > self.max_entries:
            self.log.warning("Skipped %s in %s: over %d entries", name, archive, self.max_entries)
            return False
        return True

    def _extract_zip(self, archive: str, bundle: zipfile.ZipFile, folder: str) -> None:
        budget = [self.max_archive_bytes]
        for count, info in enumerate(bundle.infolist(), start=1):
            name = info.filename
            if not self._entry_ok(archive, name, count):
                continue
            mode = info.external_attr >> 16
            kind = stat.S_IFMT(mode)
            if kind and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                self.log.warning("Skipped %s in %s: %s", name, archive, kind_of(mode, "created"))
                continue
            target = self._target(archive, folder, name)
            if target is None:
                continue
            if info.is_dir() or stat.S_ISDIR(mode):
                self._folder(archive, name, target)
                continue
            self._nested(archive, name)
            try:
                stream = bundle.open(info)
            except Exception as error:  # encrypted, unknown compression: this entry only
                self.log.warning("Skipped %s in %s: %s", name, archive, error)
                continue
            when = _zip_time(info.date_time)
            with stream:
                chunks = iter(partial(stream.read, 1 << 20), b"")
                self._write(f"{name} in {archive}", target, chunks, budget, when)

    def _extract_tar(self, archive: str, bundle: tarfile.TarFile, folder: str) -> None:
        budget = [self.max_archive_bytes]
        for count, member in enumerate(bundle, start=1):
            name = member.name
            if not self._entry_ok(archive, name, count):
                continue
            if member.issym() or member.islnk():
                kind = "a symbolic link" if member.issym() else "a hard link"
                self.log.warning(
                    "Skipped %s in %s: %s to %r, not followed", name, archive, kind, member.linkname
                )
                continue
            if not (member.isreg() or member.isdir()):
                reason = (
                    kind_of(stat.S_IFIFO, "created")
                    if member.isfifo()
                    else kind_of(stat.S_IFCHR, "created")
                    if member.isdev()
                    else "not a regular file"
                )
                self.log.warning("Skipped %s in %s: %s", name, archive, reason)
                continue
            target = self._target(archive, folder, name)
            if target is None:
                continue
            if member.isdir():
                self._folder(archive, name, target)
                continue
            self._nested(archive, name)
            stream = bundle.extractfile(member)
            if stream is None:
                continue
            with stream:
                chunks = iter(partial(stream.read, 1 << 20), b"")
                self._write(f"{name} in {archive}", target, chunks, budget, member.mtime)

    def _nested(self, archive: str, name: str) -> None:
        if os.path.splitext(name)[1] in self.zip_ext:
            self.log.warning(
                "Not extracting %s in %s: an archive inside an archive (a student's upload)",
                name,
                archive,
            )

    def _folder(self, archive: str, name: str, target: str) -> None:
        try:
            os.makedirs(target, mode=0o755, exist_ok=True)
        except OSError as error:
            self.log.warning("Skipped %s in %s: %s", name, archive, error.strerror)

    def _write(
        self,
        what: str,
        target: str,
        chunks: Iterable[bytes],
        budget: list[int] | None = None,
        mtime: float | None = None,
    ) -> None:
        """Write ``chunks`` to a new regular file ``target`` (0644, time ``mtime``), within caps."""
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            fd = os.open(target, _NEW_FILE, 0o644)
        except OSError as error:
            self.log.warning("Skipped %s: %s (%s)", what, error.strerror, target)
            return
        size = 0
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    size += len(chunk)
                    if self.max_file_bytes and size > self.max_file_bytes:
                        raise _TooLarge(f"larger than {self.max_file_bytes} bytes")
                    if budget is not None and budget[0] and size > budget[0]:
                        raise _TooLarge(f"past the archive's {self.max_archive_bytes}-byte limit")
                    handle.write(chunk)
        except Exception as error:  # over a cap, corrupt, unreadable: this entry only
            os.unlink(target)
            self.log.warning("Skipped %s: %s", what, error)
            return
        if budget is not None and budget[0]:
            budget[0] = max(1, budget[0] - size)
        if mtime is not None:
            # A time the file system refuses (out of range) leaves the file's own time.
            with contextlib.suppress(OverflowError, ValueError, OSError):
                os.utime(target, (mtime, mtime))


def _zip_time(date_time: tuple[int, ...]) -> float | None:
    """A zip entry's time as seconds (read as UTC), or None when the archive holds none.

    Some tools write a zero date, which :mod:`zipfile` reads as month 0.
    """
    try:
        return float(calendar.timegm((*date_time, 0, 0, 0)))
    except (ValueError, OverflowError, TypeError):
        return None


#: Flags that create a file and refuse an existing path, link or not.
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
_NEW_FILE |= getattr(os, "O_CLOEXEC", 0)
