"""How fast are softsign and its derivative, against their plain formulas, np.tanh and memory?

For 10**7 float64 values, all in one run, this times:

* ``np.copyto`` into a preallocated array: one read and one write of the
  data, the floor set by memory bandwidth that no element-wise function can
  beat; and ``x.copy()``, the same into a new array, the floor for a function
  that returns one;
* ``np.abs``, the cheapest NumPy function that returns a new array;
* ``np.tanh``, returning a new array and writing into a preallocated one;
* ``softsign`` and ``softsign_derivative`` from ``source_lib``, both ways;
* the plain one-line NumPy formulas, for comparison.

Each function is timed ``--repeat`` times, round-robin (one call of each in
turn, so that a busy spell on the machine hits them all alike), and the best
time of each is kept. Times are the CPU time of the benchmarking thread
(``time.thread_time``), which, unlike wall time, does not count the moments
the thread waits for a core on a shared machine; memory stalls and page
faults still count. ``--clock wall`` uses ``time.perf_counter`` instead.

Targets: ``softsign``, ``softsign(x, out=out)`` and ``softsign_derivative``
take at most the time of their plain one-line formulas: the input checks and
the exact limits cost nothing measurable. They run the same NumPy passes as
the formulas, with one temporary array fewer. A function that returns a new
array also pays for the operating system to map and zero fresh memory for it,
which ``np.copyto`` into an existing array does not; the ``out=`` rows show
the cost without it.

Run it with ``python benchmarks/activations.py`` (``--help`` for options).
It prints the table and a verdict for each target; with ``--check`` it exits
with status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np

from source_lib.activations import softsign, softsign_derivative

CLOCKS = {"cpu": time.thread_time, "wall": time.perf_counter}

#: (row, reference row, largest allowed ratio)
TARGETS = [
    ("softsign(x)", "x / (1 + np.abs(x))", 1.0),
    ("softsign(x, out=out)", "np.divide(x, 1 + np.abs(x), out=out)", 1.0),
    ("softsign_derivative(x)", "1 / (1 + np.abs(x))**2", 1.0),
]


def best_times(
    functions: dict[str, Callable[[], object]], repeat: int, clock: Callable[[], float]
) -> dict[str, float]:
    """Best time of each function over ``repeat`` round-robin rounds, after a warm-up call."""
    best = dict.fromkeys(functions, float("inf"))
    for function in functions.values():
        function()
    for _ in range(repeat):
        for name, function in functions.items():
            start = clock()
            function()
            best[name] = min(best[name], clock() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    """Time the functions, print the table and the verdicts; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10**7, help="number of float64 values")
    parser.add_argument("--repeat", type=int, default=20, help="rounds; the best time is kept")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu", help="what to time")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)

    x = np.random.default_rng(0).standard_normal(args.size) * 10
    out = np.empty_like(x)
    functions: dict[str, Callable[[], object]] = {
        "np.copyto(out, x)": lambda: np.copyto(out, x),
        "x.copy()": lambda: x.copy(),
        "np.abs(x)": lambda: np.abs(x),
        "np.tanh(x)": lambda: np.tanh(x),
        "np.tanh(x, out=out)": lambda: np.tanh(x, out=out),
        "softsign(x)": lambda: softsign(x),
        "softsign(x, out=out)": lambda: softsign(x, out=out),
        "x / (1 + np.abs(x))": lambda: x / (1 + np.abs(x)),
        "np.divide(x, 1 + np.abs(x), out=out)": lambda: np.divide(x, 1 + np.abs(x), out=out),
        "softsign_derivative(x)": lambda: softsign_derivative(x),
        "softsign_derivative(x, out=out)": lambda: softsign_derivative(x, out=out),
        "1 / (1 + np.abs(x))**2": lambda: 1 / (1 + np.abs(x)) ** 2,
    }
    times = best_times(functions, args.repeat, CLOCKS[args.clock])

    tanh, floor = times["np.tanh(x)"], times["np.copyto(out, x)"]
    print(f"{args.size:,} float64 values; best of {args.repeat} rounds; {args.clock} time")
    print(f"{'function':<40}{'ms':>9}{'/ np.tanh(x)':>14}{'/ np.copyto':>13}")
    for name, seconds in times.items():
        print(f"{name:<40}{seconds * 1e3:>9.2f}{seconds / tanh:>14.3f}{seconds / floor:>13.2f}")
    print()
    missed = 0
    for row, reference, target in TARGETS:
        ratio = times[row] / times[reference]
        meets = ratio <= target
        missed += not meets
        verdict = "meets" if meets else "MISSES"
        print(f"{row} takes {ratio:.3f} x {reference}: {verdict} the target of at most {target}")
    fresh = times["x.copy()"]
    print(
        f"np.tanh(x) takes {tanh / floor:.2f} x np.copyto here; copying into a new array "
        f"(x.copy()) takes {fresh / floor:.2f} x np.copyto, and softsign(x) "
        f"{times['softsign(x)'] / fresh:.2f} x x.copy()."
    )
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
