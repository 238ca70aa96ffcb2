"""How many words of prose does a student read on the core path, and how many in "Going deeper"?

The course has a core path (what a second-year works through in an afternoon) and
deeper material a student may skip. Deeper material is either a whole notebook
whose title (its first heading) begins with "Going deeper", or a section whose
heading begins with "Going deeper": such a section runs to the next heading of
the same or a higher level that does not itself begin with "Going deeper", or
to the end of the notebook.

Prose is the markdown cells' text, counted in whitespace-separated words
(formulas count as the words they are written with). Solution regions
(``### BEGIN SOLUTION`` ... ``### END SOLUTION``) are left out, so an
instructor notebook counts what its student version shows.

Run ``python benchmarks/words.py`` (the student notebooks, one line each and a
total), or give notebooks: ``python benchmarks/words.py solutions/softsign/03*.ipynb``.
``make notebooks`` prints it after regenerating the student notebooks. It prints
figures only: no targets, no exit status.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEEPER = "going deeper"
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_SOLUTION = re.compile(r"^\s*#+\s*BEGIN SOLUTION.*?^\s*#+\s*END SOLUTION[^\n]*$", re.M | re.S)


def _headings(source: str) -> list[tuple[int, str]]:
    """(level, text) of every markdown heading in ``source``, outside code fences."""
    found, fenced = [], False
    for line in source.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        match = None if fenced else _HEADING.match(line)
        if match:
            found.append((len(match.group(1)), match.group(2).strip()))
    return found


def _is_deeper(text: str) -> bool:
    return text.lower().lstrip("*_ ").startswith(DEEPER)


def count_words(path: Path) -> tuple[int, int]:
    """(core words, deeper words) of the markdown prose of the notebook at ``path``."""
    cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    core = deeper = 0
    whole_notebook_deeper: bool | None = None
    deeper_level: int | None = None  # the level of the open Going-deeper section
    for cell in cells:
        if cell.get("cell_type") != "markdown":
            continue
        source = cell["source"]
        source = "".join(source) if isinstance(source, list) else source
        source = _SOLUTION.sub("", source)
        for level, text in _headings(source):
            if whole_notebook_deeper is None:
                whole_notebook_deeper = _is_deeper(text)
            if _is_deeper(text):
                deeper_level = level if deeper_level is None else min(deeper_level, level)
            elif deeper_level is not None and level <= deeper_level:
                deeper_level = None
        words = len(source.split())
        if whole_notebook_deeper or deeper_level is not None:
            deeper += words
        else:
            core += words
    return core, deeper


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "notebooks",
        nargs="*",
        type=Path,
        help="notebooks to count (default: notebooks/softsign/*.ipynb)",
    )
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks" / "softsign").glob("*.ipynb"))
    if not paths:
        parser.error("no notebooks to count")
    total_core = total_deeper = 0
    print(f"{'notebook':<44} {'core':>6} {'deeper':>7}")
    for path in paths:
        core, deeper = count_words(path)
        total_core += core
        total_deeper += deeper
        print(f"{path.name:<44} {core:>6} {deeper:>7}")
    print(f"{'total (words of markdown prose)':<44} {total_core:>6} {total_deeper:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
