"""How long do ``nbgrader --version`` and ``python -c "import source_lib"`` take to start?

Every nbgrader command (and ``softsign-grade``, which starts nbgrader's
applications) first pays for importing nbgrader and the Jupyter stack under it;
``import source_lib`` is what every student notebook and every graded kernel
pays. This runs each command ``--runs`` times, round-robin (one run of each in
turn, so that a busy spell on the machine hits them all alike), and prints the
median, the fastest and the slowest wall time of each, and the median CPU time
(user and system) the command used, which a busy machine inflates much less.
The ``nbgrader`` and ``python`` used are those beside this interpreter (the
course's ``.venv``).

For where the time goes, ``python -X importtime -c "import nbgrader.apps"``
lists every module's own and cumulative import time (sort by the second column).

Run it with ``python benchmarks/startup.py`` (``--help`` for options). It
prints figures only: no targets, no exit status.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def _commands() -> dict[str, list[str]]:
    nbgrader = BIN / "nbgrader"
    return {
        "nbgrader --version": [str(nbgrader) if nbgrader.exists() else "nbgrader", "--version"],
        'python -c "import source_lib"': [sys.executable, "-c", "import source_lib"],
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(command: list[str]) -> tuple[float, float]:
    """Wall and CPU time of one run of ``command``, in seconds (its output is discarded)."""
    cpu, start = _cpu(), time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start, _cpu() - cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each command (default 5)")
    arguments = parser.parse_args(argv)
    commands = _commands()
    for command in commands.values():  # warm the file cache and the .pyc files first
        _time(command)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(arguments.runs):
        for name, command in commands.items():
            times[name].append(_time(command))
    print(f"Start time over {arguments.runs} runs, {os.cpu_count()} CPUs (seconds):")
    width = max(len(name) for name in commands)
    print(f"  {'command':<{width}}  {'median':>7}  {'min':>7}  {'max':>7}  {'CPU':>7}")
    for name, runs in times.items():
        wall = [w for w, _ in runs]
        cpu = statistics.median(c for _, c in runs)
        print(
            f"  {name:<{width}}  {statistics.median(wall):7.3f}  "
            f"{min(wall):7.3f}  {max(wall):7.3f}  {cpu:7.3f}"
        )


if __name__ == "__main__":
    main()
