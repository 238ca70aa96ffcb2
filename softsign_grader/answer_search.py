"""Working answers found by what they compute, in the examples and notebooks of a release.

:func:`answer_leaks` runs every example of a release that defines a function (a
doctest of any docstring, a Python code block of a markdown cell or file), each in a
fresh ``python -I -B`` process with a time limit, and calls every function it makes
on a battery of inputs for each graded function of the registry
(:mod:`source_lib.grading.registry`). It does the same for every function that a
notebook's code cells define (each ``def`` and each ``lambda``, wherever it stands),
taken out of its cell without running the cell (:func:`notebook_candidates`). One
that agrees with an exercise's reference on all of them is a working answer,
whatever its lines look like. The library's own reference implementations, and the
doors that grading withholds with them, are withheld in that process, so code that
calls them is not one. :mod:`softsign_grader.leaks` runs it as part of the
release's leak check.

The search has three parts: :mod:`softsign_grader.answer_sources` finds the
snippets and candidates by reading the release with :mod:`ast`;
:mod:`softsign_grader.answer_runner` is the code that runs them in the fresh
interpreter; this module supervises those processes (:func:`_supervised`: time
limits, a candidate that hangs or kills its process) and compares what they
return with the references. It re-exports the names of
:mod:`~softsign_grader.answer_sources` that it always offered.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from softsign_grader.answer_runner import battery, encode, runner_source
from softsign_grader.answer_sources import (
    Candidate,
    NotebookCandidates,
    Snippet,
    notebook_candidates,
    release_notebook_candidates,
    release_snippets,
)
from source_lib.grading.registry import EXERCISES, Exercise

__all__ = [
    "Candidate",
    "NotebookCandidates",
    "Snippet",
    "answer_leaks",
    "notebook_candidates",
    "release_snippets",
]

#: Seconds one snippet may run, its examples and every call of its functions included.
SNIPPET_TIMEOUT = 60.0
#: Seconds one example of a snippet, or one call of a function it defines, may take.
CALL_TIMEOUT = 5.0
#: Seconds one function of a notebook's code cells may run, its definition and every call.
CANDIDATE_TIMEOUT = 20.0
#: How close a snippet's function must come to an exercise's reference, on every input.
AGREEMENT = {"rtol": 1e-6, "atol": 1e-9}


def _agrees(got: Any, want: Any) -> bool:
    """Whether two :func:`encode`\\ d results agree within :data:`AGREEMENT`."""
    if "parts" in want or "parts" in got:
        parts, wanted = got.get("parts", []), want.get("parts", [])
        return len(parts) == len(wanted) and all(map(_agrees, parts, wanted))
    if got["shape"] != want["shape"]:
        return False
    return bool(np.allclose(got["values"], want["values"], equal_nan=True, **AGREEMENT))


def _supervised(
    job: dict[str, Any], runner: Path, scratch: Path, first: float, step: float
) -> tuple[list[dict[str, Any]], str | None]:
    """Run ``runner`` on ``job`` in its own process group; its progress lines and why it stopped.

    The process may run ``first`` seconds before it writes its first line to
    ``job["out"]``, then ``step`` seconds from each line to the next; past that,
    its whole process group is killed (a function that catches the runner's
    alarm, or hangs inside C code, is stopped all the same). Its output goes to
    files, so that a child it leaves behind cannot hold the build up either.
    Returns the complete JSON lines it wrote, and None when it ended on its own
    with exit status 0, else why it stopped.
    """
    job_file, out, errors = scratch / "job.json", Path(job["out"]), scratch / "stderr.txt"
    out.write_text("", encoding="utf-8")
    job_file.write_text(json.dumps(job), encoding="utf-8")
    environment = dict(os.environ, MPLBACKEND="Agg")
    with errors.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-I", "-B", str(runner), str(job_file)],
            cwd=scratch,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=environment,
            start_new_session=True,
        )
    size, deadline, stopped = 0, time.monotonic() + first, None
    while process.poll() is None:
        now = time.monotonic()
        grown = out.stat().st_size if out.exists() else 0
        if grown != size:
            size, deadline = grown, now + step
        if now > deadline:
            limit = step if size else first
            stopped = f"ran past {limit:g} s"
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            break
        time.sleep(0.02)
    text = out.read_text(encoding="utf-8") if out.exists() else ""
    lines = [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]
    if stopped is None and process.returncode != 0:
        tail = errors.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        stopped = f"the runner stopped ({(tail or [f'exit status {process.returncode}'])[-1]})"
    return lines, stopped


def _job(release: Path, exercises: tuple[Exercise, ...], out: Path) -> dict[str, Any]:
    """What every job of the runner is told: the release, the exercises and their references."""
    return {
        "release": str(release.resolve()),
        "exercises": [entry.name for entry in exercises],
        "references": [entry.reference for entry in exercises],
        "doors": sorted({door for entry in exercises for door in entry.doors}),
        "call_timeout": CALL_TIMEOUT,
        "out": str(out),
    }


def _run_snippet(
    snippet: Snippet, release: Path, exercises: tuple[Exercise, ...], runner: Path
) -> list[tuple[str, dict[str, list[Any]]]] | str:
    """The outputs of ``snippet``'s functions on the batteries, or why they could not be had."""
    with tempfile.TemporaryDirectory(prefix="softsign-leak-") as folder:
        scratch = Path(folder)
        job = _job(release, exercises, scratch / "out.json")
        job.update(module=snippet.module, pieces=list(snippet.pieces))
        _, stopped = _supervised(job, runner, scratch, SNIPPET_TIMEOUT, SNIPPET_TIMEOUT)
        out = scratch / "out.json"
        if stopped is not None or not out.stat().st_size:
            return stopped or "the runner stopped (no results)"
        return [(label, found) for label, found in json.loads(out.read_text(encoding="utf-8"))]


def _run_notebook(
    notebook: NotebookCandidates,
    release: Path,
    exercises: tuple[Exercise, ...],
    runner: Path,
    verdict: Callable[[str, str, dict[str, list[Any]]], list[str]],
) -> list[str]:
    """The working answers among ``notebook``'s candidates, and those that could not be checked.

    One process defines and calls the candidates one after another, each
    within :data:`CANDIDATE_TIMEOUT` seconds (the notebook's imports within
    :data:`SNIPPET_TIMEOUT`). If the process has to be stopped, or dies, the
    candidate it was running is reported as not checked, and a fresh process
    goes on with the rest.
    """
    problems: list[str] = []
    remaining = list(enumerate(notebook.candidates))
    while remaining:
        with tempfile.TemporaryDirectory(prefix="softsign-leak-") as folder:
            scratch = Path(folder)
            job = _job(release, exercises, scratch / "out.jsonl")
            job.update(
                imports=list(notebook.imports),
                candidates=[
                    (index, {"source": candidate.source, "name": candidate.name})
                    for index, candidate in remaining
                ],
            )
            lines, stopped = _supervised(job, runner, scratch, SNIPPET_TIMEOUT, CANDIDATE_TIMEOUT)
        done = {line["done"]: line["found"] for line in lines if "done" in line}
        for index, found in done.items():
            candidate = notebook.candidates[index]
            problems += verdict(candidate.where, candidate.label, found)
        started = [line["start"] for line in lines if "start" in line and line["start"] not in done]
        if stopped is None and not started:
            break
        if not started:
            problems.append(
                f"{notebook.notebook}: its code cells could not be checked for working "
                f"answers: {stopped or 'the runner stopped'}"
            )
            break
        blamed = notebook.candidates[started[0]]
        problems.append(
            f"{blamed.where}: {blamed.label} could not be checked for working answers: "
            f"{stopped or 'the runner stopped'}"
        )
        remaining = [(i, c) for i, c in remaining if i not in done and i != started[0]]
    return problems


def answer_leaks(
    release: Path, exercises: Iterable[Exercise] = EXERCISES, *, workers: int = 2
) -> list[str]:
    """Working answers that the release's example code or notebook code defines; empty if none.

    Every :func:`release_snippets` snippet runs in its own interpreter
    (``python -I -B``: no ``__pycache__`` is written into the release; a
    scratch working folder; :data:`SNIPPET_TIMEOUT` seconds),
    which records every function the snippet makes (``def`` and ``lambda``, at
    any depth) and calls each on every exercise's battery (:func:`battery`)
    whose inputs fit its signature, :data:`CALL_TIMEOUT` seconds a call, after
    making the library's references and the exercises' doors raise (code that
    calls the library is no answer: grading withholds the library). The
    functions of every notebook's code cells (:func:`notebook_candidates`) are
    called in the same way, one interpreter per notebook, :data:`CANDIDATE_TIMEOUT`
    seconds a function. A function whose results agree with the exercise's
    reference on every input (:data:`AGREEMENT`) is a leak, named with its file
    (for a notebook: cell, cell id and line) and name. A snippet or function
    that cannot be run to the end is reported too: it was not checked.

    Raises
    ------
    ValueError
        When an exercise of ``exercises`` has no battery.
    """
    exercises = tuple(exercises)
    wanted = {}
    for entry in exercises:
        try:
            arguments = battery(entry.name)
        except KeyError:
            raise ValueError(
                f"exercise {entry.name!r} has no battery of inputs in "
                "softsign_grader.answer_runner.battery: add one, so that the release is "
                "searched for its working answers"
            ) from None
        wanted[entry.name] = [encode(entry.reference_function()(*args)) for args in arguments]

    def verdict(where: str, label: str, found: dict[str, list[Any]]) -> list[str]:
        return [
            f"{where}: {label} computes {name} (agrees with the reference on every input "
            "of the battery): a working answer"
            for name, outputs in found.items()
            if len(outputs) == len(wanted[name]) and all(map(_agrees, outputs, wanted[name]))
        ]

    def snippet_problems(snippet: Snippet, runner: Path) -> list[str]:
        outcome = _run_snippet(snippet, release, exercises, runner)
        if isinstance(outcome, str):
            return [f"{snippet.where}: could not be checked for working answers: {outcome}"]
        return [
            problem for label, found in outcome for problem in verdict(snippet.where, label, found)
        ]

    release = Path(release)
    with tempfile.TemporaryDirectory(prefix="softsign-leak-runner-") as folder:
        runner = Path(folder) / "runner.py"
        runner.write_text(runner_source(), encoding="utf-8")
        tasks: list[Callable[[], list[str]]] = [
            functools.partial(snippet_problems, snippet, runner)
            for snippet in release_snippets(release)
        ]
        tasks += [
            functools.partial(_run_notebook, notebook, release, exercises, runner, verdict)
            for notebook in release_notebook_candidates(release)
        ]
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            outcomes = list(pool.map(lambda task: task(), tasks))
    return [problem for outcome in outcomes for problem in outcome]
