"""Slice a class into shards for a cluster, and find the shards that have finished.

``--shard i/n`` grades every n-th student (sorted by id), so n machines of a job
array grade one slice each; each finished shard leaves a manifest
(:data:`MANIFEST`) in its folder, which ``softsign-grade merge`` looks for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from softsign_grader.course import GradingError

__all__ = [
    "MANIFEST",
    "finished_shards",
    "parse_shard",
    "shard_name",
    "shard_students",
    "write_json",
]

#: The file a finished shard leaves in its folder: its summary, salt and start time.
MANIFEST = "manifest.json"


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``"i/n"`` (1 <= i <= n) into ``(i, n)``.

    Examples
    --------
    >>> parse_shard("2/4")
    (2, 4)
    """
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise ValueError(f"a shard is written i/n, for example 2/4, not {text!r}")
    index, count = int(match.group(1)), int(match.group(2))
    if not 1 <= index <= count:
        raise ValueError(f"shard {text!r}: i must be between 1 and n")
    return index, count


def shard_students(students: Sequence[str], index: int, count: int) -> list[str]:
    """Return shard ``index`` of ``count``: every ``count``-th student id in sorted order.

    The slice depends only on the sorted ids, so every machine of a job array computes
    the same partition, and every student lands in exactly one shard.

    Examples
    --------
    >>> shard_students(["d", "a", "c", "b", "e"], 2, 2)
    ['b', 'd']
    """
    return sorted(students)[index - 1 :: count]


def shard_name(shard: tuple[int, int]) -> str:
    """Return the folder name of shard ``(i, n)``: ``"i-of-n"``."""
    return f"{shard[0]}-of-{shard[1]}"


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` as JSON, atomically (through a ``.partial`` file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data, indent=1, sort_keys=True))
    partial.replace(path)


def finished_shards(
    work_dir: Path, assignment: str, shards: int | None
) -> dict[tuple[int, int], tuple[Path, dict[str, Any]]]:
    """Return the finished shards of ``assignment``: ``{(i, n): (folder, manifest)}``.

    With ``shards`` (the n of ``i/n``), all n must have finished.

    Raises
    ------
    GradingError
        When a required shard has not finished, or none has.
    """
    finished: dict[tuple[int, int], tuple[Path, dict[str, Any]]] = {}
    for manifest in sorted((work_dir / assignment / "shards").glob(f"*/{MANIFEST}")):
        data = json.loads(manifest.read_text())
        if data.get("assignment") == assignment:
            finished[(data["shard"][0], data["shard"][1])] = (manifest.parent, data)
    if shards is not None:
        missing = [i for i in range(1, shards + 1) if (i, shards) not in finished]
        if missing:
            names = ", ".join(f"{i}/{shards}" for i in missing)
            raise GradingError(f"shard(s) {names} have not finished; nothing was merged")
        finished = {key: value for key, value in finished.items() if key[1] == shards}
    if not finished:
        raise GradingError(f"no finished shards of {assignment!r} in {work_dir}")
    return finished
