"""The softsign dance: a point moving along softsign and tanh, side by side, with its tangent.

A point sways from left to right and back along both curves at the same x;
the tangent line through it shows the slope, which is 1 at the origin for
both functions and fades toward the tails: slowly (polynomially) for
softsign, fast (exponentially) for tanh.

:func:`dance_frames` computes every frame's numbers (position, value, slope,
tangent segment) from ``source_lib``'s registry; :func:`dance_figure` draws
one frame at a time from those numbers; :func:`make_dance_animation` wraps it
in a matplotlib ``FuncAnimation`` (shown in a notebook with ``to_jshtml``);
:func:`save_dance_gif` writes a GIF with Pillow. ``python -m source_lib.dance``
(``make dance``) writes ``docs/softsign_dance.gif``.

The figures are plain :class:`matplotlib.figure.Figure` objects, not pyplot
figures, so a notebook does not display a stray still image next to the
animation, and no display is needed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.animation import FuncAnimation, PillowWriter
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text

from source_lib.activations import ACTIVATIONS, DERIVATIVES

__all__ = [
    "COLORS",
    "DANCERS",
    "DanceFrame",
    "dance_figure",
    "dance_frames",
    "main",
    "make_dance_animation",
    "save_dance_gif",
]

#: The functions that dance, left to right.
DANCERS: tuple[str, ...] = ("softsign", "tanh")

#: Okabe-Ito colours (colour-blind safe) for each dancer, and for the tangent line.
COLORS: dict[str, str] = {
    "softsign": "#0072B2",
    "tanh": "#D55E00",
    "algebraic_sigmoid": "#009E73",
    "arctan_sigmoid": "#CC79A7",
    "hard_tanh": "#E69F00",
    "tangent": "#000000",
}

_TITLES = {
    "softsign": "softsign(x) = x / (1 + |x|)",
    "tanh": "tanh(x)",
}


@dataclass(frozen=True)
class DanceFrame:
    """The numbers behind one frame of the dance.

    Attributes
    ----------
    index : int
        Frame number, from 0.
    x : float
        Where the point is (the same x on every panel).
    values : dict
        name -> f(x), the height of the point.
    slopes : dict
        name -> f'(x), the slope of the tangent.
    tangent_x : tuple of float
        The two x ends of the drawn tangent segment.
    tangent_y : dict
        name -> the two y ends of the tangent segment.
    """

    index: int
    x: float
    values: dict[str, float]
    slopes: dict[str, float]
    tangent_x: tuple[float, float]
    tangent_y: dict[str, tuple[float, float]]


def dance_frames(
    n_frames: int = 40,
    *,
    amplitude: float = 5.0,
    tangent_half_width: float = 1.5,
    names: Sequence[str] = DANCERS,
) -> list[DanceFrame]:
    """Compute the position, value, slope and tangent segment of every frame.

    The point's x follows ``amplitude * sin(2 pi k / n_frames)``: it starts at
    the origin, swings right, back through the origin, left, and returns, so
    the animation loops without a jump.

    Parameters
    ----------
    n_frames : int
        Frames in one loop.
    amplitude : float
        The largest |x| reached.
    tangent_half_width : float
        The tangent segment runs from x - w to x + w.
    names : sequence of str
        Registry names of the functions that dance.

    Returns
    -------
    list of DanceFrame
        One entry per frame; values and slopes come from ``ACTIVATIONS`` and
        ``DERIVATIVES``.

    Examples
    --------
    >>> frames = dance_frames(4)
    >>> [round(frame.x, 6) for frame in frames]
    [0.0, 5.0, 0.0, -5.0]
    >>> frames[1].slopes["softsign"]
    0.027777777777777776
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be at least 1, got {n_frames}")
    unknown = [name for name in names if name not in ACTIVATIONS]
    if unknown:
        raise ValueError(f"unknown activations {unknown}; choose from {sorted(ACTIVATIONS)}")
    xs = amplitude * np.sin(2.0 * np.pi * np.arange(n_frames) / n_frames)
    values = {name: np.asarray(ACTIVATIONS[name](xs)) for name in names}
    slopes = {name: np.asarray(DERIVATIVES[name](xs)) for name in names}
    frames = []
    for k, x in enumerate(xs):
        left, right = float(x - tangent_half_width), float(x + tangent_half_width)
        frames.append(
            DanceFrame(
                index=k,
                x=float(x),
                values={name: float(values[name][k]) for name in names},
                slopes={name: float(slopes[name][k]) for name in names},
                tangent_x=(left, right),
                tangent_y={
                    name: (
                        float(values[name][k] + slopes[name][k] * (left - x)),
                        float(values[name][k] + slopes[name][k] * (right - x)),
                    )
                    for name in names
                },
            )
        )
    return frames


def dance_figure(
    frames: Sequence[DanceFrame],
    *,
    figsize: tuple[float, float] = (8.0, 3.2),
    dpi: float = 72.0,
    x_limit: float = 6.5,
) -> tuple[Figure, Callable[[int], list[Artist]]]:
    """Draw the still parts of the dance and return a function that draws frame ``k``.

    Returns
    -------
    figure : matplotlib.figure.Figure
        One panel per dancer: the curve, its asymptotes y = +-1, and the artists
        that move.
    update : callable
        ``update(k)`` moves the point and the tangent to ``frames[k]`` and
        returns the artists it changed.
    """
    names = list(frames[0].values)
    figure = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(names), sharey=True)
    axes = np.atleast_1d(axes)
    curve_x = np.linspace(-x_limit, x_limit, 400)
    moving: dict[str, tuple[Line2D, Line2D, Text]] = {}
    for ax, name in zip(axes, names, strict=True):
        color = COLORS.get(name, "#0072B2")
        ax.plot(curve_x, ACTIVATIONS[name](curve_x), color=color, lw=2, label=name)
        for level in (-1.0, 1.0):
            ax.axhline(level, color="0.6", lw=0.8, ls="--")
        (tangent,) = ax.plot([], [], color=COLORS["tangent"], lw=1.5, label="tangent")
        (point,) = ax.plot([], [], "o", color=color, markersize=8)
        label = ax.text(0.03, 0.92, "", transform=ax.transAxes, fontsize=10)
        ax.set_xlim(-x_limit, x_limit)
        ax.set_ylim(-1.4, 1.4)
        ax.set_xlabel("x")
        ax.set_title(_TITLES.get(name, name), fontsize=11)
        ax.legend(loc="lower right", fontsize=9, frameon=False)
        moving[name] = (point, tangent, label)
    axes[0].set_ylabel("f(x)")
    # A fixed layout, computed once: a layout engine would redo its work on every frame.
    figure.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.9, wspace=0.08)
    _flatten_still_parts(figure, [artist for trio in moving.values() for artist in trio])

    def update(k: int) -> list[Artist]:
        frame = frames[k]
        changed: list[Artist] = []
        for name, (point, tangent, label) in moving.items():
            point.set_data([frame.x], [frame.values[name]])
            tangent.set_data(list(frame.tangent_x), list(frame.tangent_y[name]))
            label.set_text(f"x = {frame.x:+.2f}   slope = {frame.slopes[name]:.3g}")
            changed += [point, tangent, label]
        return changed

    update(0)
    return figure, update


def _flatten_still_parts(figure: Figure, moving: Sequence[Artist]) -> None:
    """Replace everything that does not move by one picture of it.

    Saving an animation redraws the whole figure for every frame, and the axes,
    ticks, titles and legends cost far more to draw than the few moving
    artists. So the still parts are drawn once, kept as an image behind the
    axes, and hidden; each frame then draws one image and the moving artists.
    """
    for artist in moving:
        artist.set_visible(False)
    canvas = figure.canvas
    if not isinstance(canvas, FigureCanvasAgg):
        raise TypeError(f"the dance draws on an Agg canvas, not on {type(canvas).__name__}")
    canvas.draw()
    still = np.asarray(canvas.buffer_rgba()).copy()
    for ax in figure.axes:
        for child in ax.get_children():
            if child not in moving:
                child.set_visible(False)
    for artist in moving:
        artist.set_visible(True)
    background = figure.add_axes((0.0, 0.0, 1.0, 1.0), zorder=-1)
    background.imshow(still, aspect="auto", interpolation="nearest")
    background.set_axis_off()


def make_dance_animation(
    frames: Sequence[DanceFrame] | None = None, *, interval: float = 80.0, **figure_options: Any
) -> FuncAnimation:
    """Return the dance as a matplotlib ``FuncAnimation``.

    In a notebook, show it with
    ``IPython.display.HTML(make_dance_animation().to_jshtml())``.

    Parameters
    ----------
    frames : sequence of DanceFrame, optional
        From :func:`dance_frames`; its defaults when omitted.
    interval : float
        Milliseconds between frames.
    **figure_options
        Passed to :func:`dance_figure` (``figsize``, ``dpi``, ``x_limit``).
    """
    frames = dance_frames() if frames is None else frames
    figure, update = dance_figure(frames, **figure_options)
    return FuncAnimation(figure, update, frames=len(frames), interval=interval, blit=False)


def save_dance_gif(
    path: Path | str,
    frames: Sequence[DanceFrame] | None = None,
    *,
    fps: int = 12,
    **options: Any,
) -> Path:
    """Write the dance to ``path`` as a looping GIF (Pillow) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    animation = make_dance_animation(frames, interval=1000.0 / fps, **options)
    animation.save(path, writer=PillowWriter(fps=fps))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Write ``docs/softsign_dance.gif`` in the current folder (or the path given), say its size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("docs", "softsign_dance.gif"),
        help="GIF path (default: %(default)s, in the current folder)",
    )
    parser.add_argument("--frames", type=int, default=40, help="frames in one loop")
    parser.add_argument("--fps", type=int, default=12, help="frames per second")
    args = parser.parse_args(argv)
    path = save_dance_gif(args.output, dance_frames(args.frames), fps=args.fps)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB, {args.frames} frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
