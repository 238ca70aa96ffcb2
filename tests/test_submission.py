"""The vetted reader of submission folders (``softsign_grader.submission``), in-process.

Every hostile entry a student can put in a folder is tried: links to files, folders,
FIFOs and devices, FIFOs, sockets, deep folders, too many or too large files. None may
be followed, block or be read past its cap, and each must be named with its reason.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from softsign_grader.submission import (
    Limits,
    UnsafeFile,
    copy_submission,
    quarantine,
    read_file,
    read_submission,
    skipped_manifest,
)


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """A submission folder with one entry of every kind, and a secret outside it."""
    secret = tmp_path / "secret.db"
    secret.write_text("SQLite format 3 SECRET")
    folder = tmp_path / "submitted" / "mallory" / "softsign"
    (folder / "sub").mkdir(parents=True)
    (folder / "01_notebook.ipynb").write_text('{"cells": []}')
    (folder / "sub" / "data.csv").write_text("1,2\n")
    (folder / "secret_link").symlink_to(secret)
    (folder / "folder_link").symlink_to(tmp_path)
    (folder / "sub" / "deep_link").symlink_to(secret)
    os.mkfifo(folder / "pipe")
    (folder / "pipe_link").symlink_to(folder / "pipe")
    (folder / "zero").symlink_to("/dev/zero")
    (folder / "dangling").symlink_to(tmp_path / "nowhere")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(folder / "sock"))
    server.close()
    return folder


REASONS = {
    "secret_link": "symbolic link",
    "folder_link": "symbolic link",
    "sub/deep_link": "symbolic link",
    "pipe": "FIFO",
    "pipe_link": "symbolic link",
    "zero": "symbolic link",
    "dangling": "symbolic link",
    "sock": "socket",
}


@pytest.mark.timeout(30)
def test_takes_regular_files_only_and_names_the_rest(hostile: Path):
    taken = read_submission(hostile)
    assert taken.files == {"01_notebook.ipynb": b'{"cells": []}', "sub/data.csv": b"1,2\n"}
    reasons = {item.path: item.reason for item in taken.skipped}
    assert set(reasons) == set(REASONS)
    for path, word in REASONS.items():
        assert word in reasons[path], (path, reasons[path])


@pytest.mark.timeout(30)
def test_single_files_refuse_links_fifos_and_devices(hostile: Path):
    assert read_file(hostile / "sub" / "data.csv") == b"1,2\n"
    for name in ("secret_link", "pipe", "pipe_link", "zero", "sock", "sub"):
        with pytest.raises(UnsafeFile):
            read_file(hostile / name)
    with pytest.raises(UnsafeFile, match="larger than 3 bytes"):
        read_file(hostile / "sub" / "data.csv", limit=3)


def test_caps_on_size_total_entries_and_depth(tmp_path: Path):
    (tmp_path / "big.bin").write_bytes(bytes(2000))
    for n in range(5):
        (tmp_path / f"small{n}.txt").write_bytes(bytes(300))
    deep = tmp_path.joinpath(*[f"d{n}" for n in range(6)])
    deep.mkdir(parents=True)
    (deep / "bottom.txt").write_text("deep")
    taken = read_submission(tmp_path, Limits(file_bytes=1000, total_bytes=1000, depth=4))
    reasons = {item.path: item.reason for item in taken.skipped}
    assert "larger than 1000 bytes" in reasons["big.bin"]
    assert sum(len(data) for data in taken.files.values()) <= 1000
    assert any("1000-byte limit" in reason for reason in reasons.values())
    assert any("deeper than 4 folders" in reason for reason in reasons.values())
    few = read_submission(tmp_path, Limits(entries=3))
    assert len(few.files) <= 3
    assert len(few.skipped) == 1, "past the cap, one entry names all that was left out"
    assert "more than 3 files and folders" in few.skipped[0].reason


def test_fingerprint_sees_the_files_not_the_link_targets(hostile: Path, tmp_path: Path):
    first = read_submission(hostile).fingerprint()
    (tmp_path / "secret.db").write_text("changed")
    assert read_submission(hostile).fingerprint() == first
    (hostile / "sub" / "data.csv").write_text("3,4\n")
    assert read_submission(hostile).fingerprint() != first


def test_copy_writes_only_what_was_taken(hostile: Path, tmp_path: Path):
    copy = tmp_path / "copy"
    copy_submission(hostile, copy)
    assert sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file()) == [
        "01_notebook.ipynb",
        "sub/data.csv",
    ]
    assert not any(p.is_symlink() for p in copy.rglob("*"))


@pytest.mark.timeout(30)
def test_quarantine_moves_every_unsafe_entry_aside_and_deletes_nothing(hostile: Path):
    moved = quarantine(hostile)
    assert {item.path for item in moved} == set(REASONS)
    held = Path(f"{hostile}.quarantine")
    assert (held / "secret_link").is_symlink()
    assert (held / "sub" / "deep_link").is_symlink()
    assert (held / "pipe").is_fifo()
    assert read_submission(hostile).skipped == []
    assert (hostile / "01_notebook.ipynb").read_text() == '{"cells": []}'
    assert {item.path for item in skipped_manifest(hostile)} == set(REASONS)
    (hostile / "another").symlink_to("/etc/passwd")
    assert [item.path for item in quarantine(hostile)] == ["another"]
    assert {item.path for item in skipped_manifest(hostile)} == {*REASONS, "another"}


def test_a_missing_folder_is_an_empty_submission(tmp_path: Path):
    taken = read_submission(tmp_path / "absent")
    assert taken.files == {}
    assert taken.skipped == []


def test_a_linked_submission_folder_is_not_read(tmp_path: Path, hostile: Path):
    link = tmp_path / "linked_submission"
    link.symlink_to(hostile)
    taken = read_submission(link)
    assert taken.files == {}
    assert "symbolic link" in taken.skipped[0].reason


@pytest.mark.timeout(30)
def test_quarantine_also_moves_what_lies_past_the_caps(tmp_path: Path):
    """Past the entry cap the reader stops; quarantine still moves every link after it."""
    folder = tmp_path / "submission"
    folder.mkdir()
    for n in range(4):
        (folder / f"a{n}.txt").write_text("kept")
    for n in range(4):
        (folder / f"z{n}").symlink_to("/etc/passwd")
    os.mkfifo(folder / "zz_pipe")
    moved = quarantine(folder, Limits(entries=3))
    assert {item.path for item in moved} >= {"z0", "z1", "z2", "z3", "zz_pipe"}
    assert not any(path.is_symlink() for path in folder.iterdir())
    assert not (folder / "zz_pipe").exists()


def test_names_that_are_not_utf8_are_read_and_fingerprinted(tmp_path: Path):
    name = os.fsdecode(b"caf\xe9.txt")
    (tmp_path / name).write_text("latin-1 name")
    taken = read_submission(tmp_path)
    assert list(taken.files) == [name]
    assert len(taken.fingerprint()) == 64
