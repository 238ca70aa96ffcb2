"""benchmarks/words.py: the core path's words and the "Going deeper" words are counted apart."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from repo_root import REPO_ROOT

_spec = importlib.util.spec_from_file_location("words", REPO_ROOT / "benchmarks" / "words.py")
assert _spec is not None
assert _spec.loader is not None
words = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(words)


def _notebook(tmp_path: Path, *cells: tuple[str, str]) -> Path:
    path = tmp_path / "nb.ipynb"
    path.write_text(
        json.dumps(
            {
                "cells": [
                    {"cell_type": kind, "metadata": {}, "source": source} for kind, source in cells
                ],
                "metadata": {},
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )
    return path


def test_a_going_deeper_section_runs_to_the_next_heading_of_its_level(tmp_path):
    path = _notebook(
        tmp_path,
        ("markdown", "# Title\n\none two"),  # 4 words
        ("code", "x = 1  # code is not prose"),
        ("markdown", "## Going deeper: floats\n\nthree four five"),  # 7 words
        ("markdown", "### A subsection\n\nsix"),  # 4 words, still deeper
        ("markdown", "## Summary\n\nseven eight"),  # 4 words, core again
    )
    assert words.count_words(path) == (8, 11)


def test_a_notebook_titled_going_deeper_is_deeper_throughout(tmp_path):
    path = _notebook(
        tmp_path,
        ("markdown", "# Going deeper: relatives\n\none"),
        ("markdown", "## Summary\n\ntwo three"),
    )
    assert words.count_words(path) == (0, 9)


def test_solution_regions_and_headings_in_code_fences_are_not_counted(tmp_path):
    path = _notebook(
        tmp_path,
        ("markdown", "# T\n\n```\n## Going deeper: not a heading\n```"),
        ("markdown", "### BEGIN SOLUTION\nmodel answer words\n### END SOLUTION\nvisible"),
    )
    core, deeper = words.count_words(path)
    assert deeper == 0
    assert core == 10 + 1  # the fenced block's 10 tokens and one visible word


def test_the_course_notebooks_are_counted(capsys):
    assert words.main([]) == 0
    out = capsys.readouterr().out
    assert "01_softsign_definition.ipynb" in out
    assert out.strip().splitlines()[-1].startswith("total")
