"""How fast are softsign and its derivative, against np.tanh and the memory-bandwidth floor?

For 10**7 float64 values, times (best of several repetitions, all in one run):

* ``softsign`` and ``softsign_derivative`` from ``source_lib``;
* the plain one-line NumPy formulas, for comparison;
* ``np.tanh``;
* ``np.copyto`` into a preallocated array: one read and one write of the data,
  the floor set by memory bandwidth that no element-wise function can beat.

and prints each time as a ratio to ``np.tanh`` and to ``np.copyto``.
Targets: softsign at most 0.2 x np.tanh and at most 1.75 x np.copyto.

Run it with ``make benchmark`` or ``python benchmarks/activations.py``.
Timings on shared machines are noisy: the ratios, measured in one run and
taking the best of several repetitions, are what to compare.
"""

from __future__ import annotations

import argparse
import sys
import timeit

import numpy as np

from source_lib import softsign, softsign_derivative

TARGETS = {"np.tanh": 0.2, "np.copyto": 1.75}


def best_time(function, repeat: int) -> float:
    """Best wall time of ``function()`` over ``repeat`` runs, after one warm-up."""
    function()
    return min(timeit.repeat(function, number=1, repeat=repeat))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10**7, help="number of float64 values")
    parser.add_argument("--repeat", type=int, default=15, help="repetitions; the best is kept")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    x = rng.standard_normal(args.size) * 10
    destination = np.empty_like(x)

    times = {
        "np.copyto": best_time(lambda: np.copyto(destination, x), args.repeat),
        "np.tanh": best_time(lambda: np.tanh(x), args.repeat),
        "softsign": best_time(lambda: softsign(x), args.repeat),
        "plain x / (1 + np.abs(x))": best_time(lambda: x / (1 + np.abs(x)), args.repeat),
        "softsign_derivative": best_time(lambda: softsign_derivative(x), args.repeat),
        "plain 1 / (1 + np.abs(x))**2": best_time(lambda: 1 / (1 + np.abs(x)) ** 2, args.repeat),
    }

    print(f"{args.size:,} float64 values, best of {args.repeat} runs")
    print(f"{'function':<32}{'time (ms)':>11}{'/ np.tanh':>11}{'/ np.copyto':>13}")
    for name, seconds in times.items():
        print(
            f"{name:<32}{seconds * 1e3:>11.2f}"
            f"{seconds / times['np.tanh']:>11.3f}{seconds / times['np.copyto']:>13.2f}"
        )
    failures = 0
    for reference, target in TARGETS.items():
        ratio = times["softsign"] / times[reference]
        verdict = "meets" if ratio <= target else "MISSES"
        failures += ratio > target
        print(f"softsign / {reference} = {ratio:.3f}: {verdict} the target of {target}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
