"""The dance animation: its frames are checked from their data, not from pixels."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from repo_root import REPO_ROOT

from source_lib.activations import ACTIVATIONS, DERIVATIVES
from source_lib.dance import DANCERS, dance_figure, dance_frames, main, save_dance_gif

GIF_LIMIT = 1.5 * 1024 * 1024


@pytest.fixture(scope="module")
def frames():
    return dance_frames(36)


def test_the_point_sways_and_loops(frames):
    xs = np.array([frame.x for frame in frames])
    np.testing.assert_allclose(xs, 5.0 * np.sin(2 * np.pi * np.arange(36) / 36), atol=1e-12)
    assert xs[0] == 0.0
    assert xs.max() == pytest.approx(5.0)
    assert xs.min() == pytest.approx(-5.0)
    assert [frame.index for frame in frames] == list(range(36))


def test_each_frame_sits_on_the_curve_with_the_registered_slope(frames):
    for frame in frames:
        for name in DANCERS:
            assert frame.values[name] == ACTIVATIONS[name](np.float64(frame.x))
            assert frame.slopes[name] == DERIVATIVES[name](np.float64(frame.x))


def test_the_tangent_touches_the_curve_at_the_point_with_that_slope(frames):
    for frame in frames:
        (x0, x1) = frame.tangent_x
        assert (x0 + x1) / 2 == pytest.approx(frame.x)
        for name in DANCERS:
            y0, y1 = frame.tangent_y[name]
            assert (y1 - y0) / (x1 - x0) == pytest.approx(frame.slopes[name], abs=1e-12)
            assert (y0 + y1) / 2 == pytest.approx(frame.values[name], abs=1e-12)


def test_the_slope_fades_toward_the_tails_faster_for_tanh(frames):
    order = sorted(frames, key=lambda frame: abs(frame.x))
    for name in DANCERS:
        slopes = [frame.slopes[name] for frame in order]
        assert all(a >= b for a, b in itertools.pairwise(slopes))
        assert slopes[0] == 1.0
    beyond_two = [frame for frame in frames if abs(frame.x) >= 2]
    far = [frame for frame in frames if abs(frame.x) >= 3.5]
    assert far
    assert all(frame.slopes["softsign"] > frame.slopes["tanh"] for frame in beyond_two)
    assert all(frame.slopes["softsign"] > 10 * frame.slopes["tanh"] for frame in far)


def test_the_figure_draws_exactly_the_frame_data(frames):
    figure, update = dance_figure(frames)
    panels = [ax for ax in figure.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["softsign(x) = x / (1 + |x|)", "tanh(x)"]
    # The still parts are drawn once, as a picture the size of the figure behind the panels.
    (background,) = [ax for ax in figure.axes if ax.images]
    width, height = figure.canvas.get_width_height()
    assert background.images[0].get_array().shape[:2] == (height, width)
    for k in (0, 5, 9, 27):
        artists = update(k)
        assert len(artists) == 3 * len(DANCERS)
        frame = frames[k]
        for i, name in enumerate(DANCERS):
            point, tangent, label = artists[3 * i : 3 * i + 3]
            assert point.axes is panels[i]
            assert all(artist.get_visible() for artist in (point, tangent, label))
            np.testing.assert_array_equal(point.get_xdata(), [frame.x])
            np.testing.assert_array_equal(point.get_ydata(), [frame.values[name]])
            np.testing.assert_array_equal(tangent.get_xdata(), frame.tangent_x)
            np.testing.assert_array_equal(tangent.get_ydata(), frame.tangent_y[name])
            assert f"slope = {frame.slopes[name]:.3g}" in label.get_text()


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="at least 1"):
        dance_frames(0)
    with pytest.raises(ValueError, match="unknown activations"):
        dance_frames(3, names=("softsign", "relu"))


def test_save_dance_gif_writes_a_looping_gif(tmp_path):
    path = save_dance_gif(tmp_path / "sub" / "dance.gif", dance_frames(4), fps=5, dpi=30)
    with Image.open(path) as image:
        assert image.format == "GIF"
        assert image.n_frames == 4
        assert image.info.get("loop") == 0
        assert image.info["duration"] == 200


def test_main_reports_the_file(tmp_path, capsys):
    assert main(["--output", str(tmp_path / "d.gif"), "--frames", "3", "--fps", "4"]) == 0
    assert "d.gif" in capsys.readouterr().out
    assert (tmp_path / "d.gif").stat().st_size < GIF_LIMIT


def test_main_writes_into_docs_of_the_current_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["--frames", "2", "--fps", "4"]) == 0
    written = tmp_path / "docs" / "softsign_dance.gif"
    assert written.stat().st_size > 0
    assert str(Path("docs", "softsign_dance.gif")) in capsys.readouterr().out


def test_the_committed_gif_is_small_and_animated():
    path = REPO_ROOT / "docs" / "softsign_dance.gif"
    assert path.stat().st_size < GIF_LIMIT
    with Image.open(path) as image:
        assert image.format == "GIF"
        assert image.n_frames == len(dance_frames())
