"""Collecting submissions follows no student's link and is not stopped by one student.

* ``nbgrader collect`` (``SafeExchangeCollect``, softsign_grader/exchange.py)
  copies regular files only from the exchange's inbound folder, which students can
  write: a link to an instructor's file, a linked folder or a FIFO is skipped and
  logged, and an inbound entry with an unreadable name is skipped, not fatal;
  and a student whose collected timestamp.txt does not parse is skipped and named,
  not fatal for the class;
* ``nbgrader zip_collect`` (``LmsCollectorPlugin``, softsign_grader/collect.py, and
  ``SafeExtractorPlugin``, softsign_grader/extract.py) keeps a student's
  highest-numbered resubmission (``X.ipynb`` and ``X-1.ipynb``) instead of stopping
  for the class, and extracts no
  link, hard link, device or FIFO entry of a zip or tar archive.

The ``slow`` tests run real nbgrader in a copy of the course; the others call the
plugins directly.
"""

from __future__ import annotations

import io
import logging
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from softsign_grader.course import ASSIGNMENT, make_course, run_nbgrader
from softsign_grader.lms import (
    LMS_FILE_NAME_PATTERN,
    LmsCollectorPlugin,
    SafeExtractorPlugin,
)

SECRET = b"TOP SECRET: the instructor's file"
NOTEBOOK = "01_softsign_definition.ipynb"


def _regular_files(folder: Path) -> dict[str, bytes]:
    """Every entry under ``folder``; fails on anything but regular files and folders."""
    found = {}
    for root, folders, files in os.walk(folder):
        for name in folders + files:
            path = Path(root, name)
            mode = path.lstat().st_mode
            assert stat.S_ISDIR(mode) or stat.S_ISREG(mode), f"{path} is {stat.filemode(mode)}"
            if stat.S_ISREG(mode):
                assert mode & 0o7000 == 0, f"{path} is {stat.filemode(mode)}"
                found[str(path.relative_to(folder))] = path.read_bytes()
    return found


def _tar_member(bundle: tarfile.TarFile, name: str, **fields: object) -> None:
    info = tarfile.TarInfo(name)
    data = fields.pop("data", None)
    for key, value in fields.items():
        setattr(info, key, value)
    if isinstance(data, bytes):
        info.size = len(data)
        bundle.addfile(info, io.BytesIO(data))
    else:
        bundle.addfile(info)


def _hostile_tar(path: Path, secret: Path) -> None:
    """A tar whose links, if extracted or followed, would give a student others' files."""
    with tarfile.open(path, "w:gz") as bundle:
        _tar_member(bundle, "evil_45678_1_03_quotient_rule_derivation.ipynb", data=b"E")
        _tar_member(bundle, "evil_45678_1_05_softsign_in_deep_networks.ipynb", data=b"S")
        # Set-user-id and set-group-id bits: nbgrader would apply them to a root-owned file.
        _tar_member(bundle, "evil_45678_1_06_activation_family.ipynb", data=b"U", mode=0o6755)
        _tar_member(
            bundle,
            "evil_45678_1_01_softsign_definition.ipynb",
            type=tarfile.SYMTYPE,
            linkname=str(secret),
        )
        _tar_member(
            bundle,
            "evil_56789_1_03_quotient_rule_derivation.ipynb",
            type=tarfile.SYMTYPE,
            linkname="evil_45678_1_03_quotient_rule_derivation.ipynb",
        )
        _tar_member(
            bundle,
            "evil_67890_1_04_softsign_vs_tanh.ipynb",
            type=tarfile.LNKTYPE,
            linkname="evil_45678_1_03_quotient_rule_derivation.ipynb",
        )
        _tar_member(bundle, "etc", type=tarfile.SYMTYPE, linkname="/etc")
        _tar_member(bundle, "pipe.ipynb", type=tarfile.FIFOTYPE)
        _tar_member(bundle, "zero.ipynb", type=tarfile.CHRTYPE, devmajor=1, devminor=5)
        _tar_member(bundle, "../escaped.ipynb", data=b"X")
        _tar_member(bundle, "/abs.ipynb", data=b"X")


def _zip_symlink(bundle: zipfile.ZipFile, name: str, target: Path) -> None:
    """A zip entry that unzip(1) and Info-ZIP make a symbolic link (Unix mode S_IFLNK)."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    bundle.writestr(info, str(target))


# --- The plugins, called directly -----------------------------------------------------


def test_extractor_takes_regular_files_only(tmp_path, caplog):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(SECRET)
    archive = tmp_path / "archive"
    archive.mkdir()
    _hostile_tar(archive / "extra.tar.gz", secret)
    with zipfile.ZipFile(archive / "canvas.zip", "w") as bundle:
        bundle.writestr("doejane_12345_67890_01_softsign_definition.ipynb", b"A")
        _zip_symlink(bundle, "mallory_34567_89012_01_softsign_definition.ipynb", secret)
        bundle.writestr("doejane_12345_67890_inner.zip", b"PK not extracted")
    (archive / "linked.ipynb").symlink_to(secret)
    (archive / "broken.tar.gz").write_bytes(b"not an archive")  # nbgrader would stop here
    out = tmp_path / "extracted"
    out.mkdir()
    plugin = SafeExtractorPlugin(log=logging.getLogger("test_extractor"))
    with caplog.at_level(logging.INFO, logger="test_extractor"):
        plugin.extract(str(archive), str(out))
    assert _regular_files(out) == {
        "canvas/doejane_12345_67890_01_softsign_definition.ipynb": b"A",
        "canvas/doejane_12345_67890_inner.zip": b"PK not extracted",
        "extra/evil_45678_1_03_quotient_rule_derivation.ipynb": b"E",
        "extra/evil_45678_1_05_softsign_in_deep_networks.ipynb": b"S",
        "extra/evil_45678_1_06_activation_family.ipynb": b"U",
    }
    assert not (tmp_path / "escaped.ipynb").exists()
    log = caplog.text
    for skipped in (
        "mallory_34567_89012_01_softsign_definition.ipynb",
        "evil_45678_1_01_softsign_definition.ipynb",
        "evil_56789_1_03_quotient_rule_derivation.ipynb",
        "evil_67890_1_04_softsign_vs_tanh.ipynb",
        "pipe.ipynb",
        "zero.ipynb",
        "linked.ipynb",
        "../escaped.ipynb",
        "inner.zip",
    ):
        assert skipped in log
    assert "a hard link" in log
    assert "a symbolic link" in log
    assert "Stopped extracting" in log


def test_extractor_caps_file_size(tmp_path, caplog):
    archive = tmp_path / "archive"
    archive.mkdir()
    with zipfile.ZipFile(archive / "big.zip", "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("a_1_2_01_softsign_definition.ipynb", b"0" * 5000)
        bundle.writestr("b_3_4_01_softsign_definition.ipynb", b"small")
    out = tmp_path / "extracted"
    out.mkdir()
    plugin = SafeExtractorPlugin(log=logging.getLogger("test_caps"), max_file_bytes=1000)
    with caplog.at_level(logging.WARNING, logger="test_caps"):
        plugin.extract(str(archive), str(out))
    assert _regular_files(out) == {"big/b_3_4_01_softsign_definition.ipynb": b"small"}
    assert "larger than 1000 bytes" in caplog.text


def test_an_entry_without_a_date_costs_no_later_student(tmp_path):
    """A zip entry whose date is zero (month 0) is extracted, and so is everyone after it."""
    archive = tmp_path / "archive"
    archive.mkdir()
    names = [f"{who}_1_2_01_softsign_definition.ipynb" for who in ("ann", "bob", "cid")]
    with zipfile.ZipFile(archive / "download.zip", "w") as bundle:
        for name in names:
            bundle.writestr(name, name.encode())
    data = bytearray((archive / "download.zip").read_bytes())
    # Zero the date and time of bob's central-directory entry, as some zip tools write it.
    entries = [i for i in range(len(data)) if data[i : i + 4] == b"PK\x01\x02"]
    entry = entries[1]
    data[entry + 12 : entry + 16] = b"\0\0\0\0"
    (archive / "download.zip").write_bytes(bytes(data))
    with zipfile.ZipFile(archive / "download.zip") as bundle:
        assert bundle.getinfo(names[1]).date_time[1] == 0
    out = tmp_path / "extracted"
    out.mkdir()
    SafeExtractorPlugin(log=logging.getLogger("test_dates")).extract(str(archive), str(out))
    assert _regular_files(out) == {f"download/{name}": name.encode() for name in names}


def test_collector_keeps_the_highest_numbered_resubmission(tmp_path, caplog):
    folder = tmp_path / "extracted"
    folder.mkdir()
    names = [
        "doejane_12345_67890_01_softsign_definition.ipynb",
        "doejane_12345_67890_01_softsign_definition-1.ipynb",
        "doejane_12345_67890_01_softsign_definition-2.ipynb",
        "doejane_12345_67890_02_derivative_of_abs.ipynb",
        "roeravi_23456_78901_01_softsign_definition.ipynb",
    ]
    for name in names:
        (folder / name).write_text(name)
    (folder / "smith_34567_89012_01_softsign_definition.ipynb").symlink_to(folder / names[0])
    plugin = LmsCollectorPlugin(
        named_regexp=LMS_FILE_NAME_PATTERN, log=logging.getLogger("test_collector")
    )
    with caplog.at_level(logging.WARNING, logger="test_collector"):
        taken = {
            path.name: plugin.collect(str(path))
            for path in sorted(folder.iterdir())  # nbgrader's order
        }
    kept = {name: (info["student_id"], info["file_id"]) for name, info in taken.items() if info}
    assert kept == {
        names[2]: ("12345", "01_softsign_definition"),
        names[3]: ("12345", "02_derivative_of_abs"),
        names[4]: ("23456", "01_softsign_definition"),
    }
    log = caplog.text
    for older in names[:2]:
        assert (
            f"Student 12345: skipped {older}: {NOTEBOOK}: superseded by the resubmission {names[2]}"
        ) in log
    assert "smith_34567_89012_01_softsign_definition.ipynb: a symbolic link" in log


# --- Real nbgrader -----------------------------------------------------------------------


@pytest.mark.slow
def test_nbgrader_collect_copies_no_link_from_the_exchange(tmp_path, nbgrader_env):
    course = make_course(tmp_path / "course")
    secret = tmp_path / "instructor" / "secret.txt"
    secret.parent.mkdir()
    secret.write_bytes(SECRET)
    exchange = tmp_path / "exchange"
    inbound = exchange / "softsign" / "inbound"
    stamp = "2024-01-01 10:00:00.000000 UTC"
    alice = inbound / f"alice+{ASSIGNMENT}+{stamp}+a1b2"
    (alice / "sub").mkdir(parents=True)
    (alice / "timestamp.txt").write_text("2000-01-01 00:00:00.000000 UTC")  # not the name's
    (alice / NOTEBOOK).write_text('{"alice": 1}')
    (alice / "02_derivative_of_abs.ipynb").symlink_to(secret)
    (alice / "gradebook.db").symlink_to(course / "gradebook.db")
    (alice / "linked").symlink_to(secret.parent, target_is_directory=True)
    (alice / "sub" / "secret.txt").symlink_to(secret)
    os.mkfifo(alice / "pipe.ipynb")  # nbgrader's copytree would block on it forever
    # A folder that is itself a link, and a name whose timestamp does not parse: nbgrader
    # follows the first and stops the whole collect on the second.
    (inbound / f"carol+{ASSIGNMENT}+{stamp}+c3d4").symlink_to(
        secret.parent, target_is_directory=True
    )
    bob = inbound / f"bob+{ASSIGNMENT}+not a time+e5f6"
    bob.mkdir()
    (bob / NOTEBOOK).write_text('{"bob": 1}')
    # An earlier collect left dave an unreadable timestamp.txt (nbgrader stops the whole
    # collect there); erin comes after him and is still collected.
    for student in ("dave", "erin"):
        entry = inbound / f"{student}+{ASSIGNMENT}+{stamp}+f7{student}"
        entry.mkdir()
        (entry / NOTEBOOK).write_text(f'{{"{student}": 1}}')
    dave = course / "submitted" / "dave" / ASSIGNMENT
    dave.mkdir(parents=True)
    (dave / NOTEBOOK).write_text('{"dave": 0}')
    (dave / "timestamp.txt").write_text("last tuesday")

    result = run_nbgrader(
        ["collect", ASSIGNMENT, f"--Exchange.root={exchange}"],
        course,
        env=nbgrader_env,
        timeout=300,
    )
    log = result.stdout + result.stderr
    submitted = course / "submitted"
    assert _regular_files(submitted / "alice" / ASSIGNMENT) == {
        NOTEBOOK: b'{"alice": 1}',
        "timestamp.txt": stamp.encode(),
    }
    for path in submitted.rglob("*"):
        assert not path.is_symlink(), path
        if path.is_file():
            assert SECRET not in path.read_bytes(), path
    assert not (submitted / "carol" / ASSIGNMENT / "secret.txt").exists()
    assert not (submitted / "bob").exists()
    assert _regular_files(submitted / "dave" / ASSIGNMENT) == {
        NOTEBOOK: b'{"dave": 0}',
        "timestamp.txt": b"last tuesday",
    }
    assert (submitted / "erin" / ASSIGNMENT / NOTEBOOK).read_text() == '{"erin": 1}', log
    for line in (
        "Collect alice: skipped 02_derivative_of_abs.ipynb (a symbolic link, not followed)",
        "Collect alice: skipped pipe.ipynb (a FIFO (named pipe), not read)",
        "Collect alice: skipped sub/secret.txt (a symbolic link, not followed)",
        "Collect alice: skipped linked (",
        "Collect carol: skipped . (",
        "Skipped inbound entry 'bob+softsign+not a time+e5f6'",
        "Collect dave: skipped; its collected ",
        "Collect alice: its timestamp.txt said '2000-01-01 00:00:00.000000 UTC'; kept the time",
    ):
        assert line in log, log


@pytest.fixture(scope="module")
def zip_collected(tmp_path_factory, nbgrader_env):
    """A course after ``nbgrader zip_collect`` of a Canvas zip and a hostile tar."""
    root = tmp_path_factory.mktemp("zip-collect")
    course = make_course(root / "course")
    secret = root / "secret.txt"
    secret.write_bytes(SECRET)
    archive = course / "downloaded" / ASSIGNMENT / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "submissions.zip", "w") as bundle:
        bundle.writestr("doejane_12345_67890_01_softsign_definition-1.ipynb", '{"jane": 1}')
        bundle.writestr("doejane_12345_67890_01_softsign_definition.ipynb", '{"jane": 0}')
        bundle.writestr("doejane_12345_67890_02_derivative_of_abs.ipynb", '{"jane": 2}')
        bundle.writestr("roeravi_23456_78901_01_softsign_definition.ipynb", '{"ravi": 1}')
        _zip_symlink(bundle, "mallory_34567_89012_01_softsign_definition.ipynb", secret)
    _hostile_tar(archive / "extra.tar.gz", secret)
    result = run_nbgrader(["zip_collect", ASSIGNMENT], course, env=nbgrader_env, timeout=300)
    return course, result.stdout + result.stderr


@pytest.mark.slow
def test_zip_collect_keeps_the_resubmission_and_collects_the_class(zip_collected):
    course, log = zip_collected
    submitted = course / "submitted"
    assert _regular_files(submitted / "12345" / ASSIGNMENT) == {
        NOTEBOOK: b'{"jane": 1}',
        "02_derivative_of_abs.ipynb": b'{"jane": 2}',
    }, log
    assert _regular_files(submitted / "23456" / ASSIGNMENT) == {NOTEBOOK: b'{"ravi": 1}'}, log
    assert (
        "Student 12345: skipped doejane_12345_67890_01_softsign_definition.ipynb: "
        f"{NOTEBOOK}: superseded by the resubmission "
        "doejane_12345_67890_01_softsign_definition-1.ipynb"
    ) in log


@pytest.mark.slow
def test_zip_collect_follows_no_archive_link(zip_collected):
    course, log = zip_collected
    submitted = course / "submitted"
    for folder in (course / "downloaded" / ASSIGNMENT / "extracted", submitted):
        for name, data in _regular_files(folder).items():
            assert SECRET not in data, name
            assert b"secret.txt" not in data, name  # a zip link's target, written as a file
    # Only the tar's regular members reach the student they name; links reach no one.
    assert _regular_files(submitted / "45678" / ASSIGNMENT) == {
        "03_quotient_rule_derivation.ipynb": b"E",
        "05_softsign_in_deep_networks.ipynb": b"S",
        "06_activation_family.ipynb": b"U",
    }, log
    assert sorted(path.name for path in submitted.iterdir()) == ["12345", "23456", "45678"], log
    assert "mallory_34567_89012_01_softsign_definition.ipynb" in log
    assert "a hard link" in log
