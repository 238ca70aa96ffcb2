"""``--course-root``: one option, one rule, for every course command."""

from __future__ import annotations

import argparse

import pytest

from softsign_grader import cli, release, report, student_release
from softsign_grader.course import add_course_root_option, course_root_option


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="course-command")
    add_course_root_option(parser)
    return parser


def test_the_nearest_course_from_the_current_folder_up(tmp_path, monkeypatch):
    (tmp_path / "nbgrader_config.py").write_text("")
    inner = tmp_path / "notebooks" / "softsign"
    inner.mkdir(parents=True)
    monkeypatch.chdir(inner)
    parser = _parser()
    assert course_root_option(parser, parser.parse_args([])) == tmp_path.resolve()
    named = tmp_path / "elsewhere"
    assert course_root_option(parser, parser.parse_args(["--course-root", str(named)])) == named


def test_no_course_is_a_usage_error_that_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    parser = _parser()
    with pytest.raises(SystemExit) as exit_info:
        course_root_option(parser, parser.parse_args([]))
    assert exit_info.value.code == 2
    assert "give the course with --course-root" in capsys.readouterr().err


@pytest.mark.parametrize(
    "main",
    [release.main, student_release.main, report.main, lambda argv: cli.main(["grade", *argv])],
)
def test_every_command_refuses_outside_a_course(tmp_path, monkeypatch, capsys, main):
    monkeypatch.chdir(tmp_path)
    args = [] if main in (release.main, student_release.main) else ["softsign"]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert "nbgrader_config.py" in capsys.readouterr().err
