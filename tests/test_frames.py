"""The fast frame encoder: valid PNGs with exactly the pixels, and the same frames matplotlib's WebAgg sends."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.backends.backend_webagg_core import FigureCanvasWebAggCore, FigureManagerWebAgg

from lessons_src.frames import diff_image, png_bytes, send_fast_frames

ROOT = Path(__file__).resolve().parents[1]


def decoded(png: bytes) -> np.ndarray:
    """The PNG's pixels as (height, width, 4) uint8 (matplotlib reads 8-bit RGBA as floats k/255)."""
    return np.rint(matplotlib.image.imread(io.BytesIO(png), format="png") * 255).astype(np.uint8)


def test_png_bytes_decode_to_the_same_pixels():
    rng = np.random.default_rng(0)
    for shape in ((1, 1, 4), (7, 13, 4), (460, 620, 4)):
        rgba = rng.integers(0, 256, shape, dtype=np.uint8)
        assert np.array_equal(decoded(png_bytes(rgba)), rgba)
    with pytest.raises(ValueError, match=r"rgba must be a \(height, width, 4\) uint8 array, got float64 \(2, 2, 3\)"):
        png_bytes(np.zeros((2, 2, 3)))


def webagg_figure(facecolor="white"):
    fig = plt.figure(figsize=(3, 2), dpi=50, facecolor=facecolor)
    canvas = FigureCanvasWebAggCore(fig)
    canvas.manager = FigureManagerWebAgg(canvas, 1)  # no browser connected: it sends nothing
    ax = fig.add_subplot()
    (line,) = ax.plot([0, 1], [0, 1])
    return fig, canvas, line


def frames(canvas, line, get_diff_image) -> list[tuple[str, np.ndarray]]:
    """A full frame, a diff frame after the line moved, and None when nothing changed."""
    shown = []
    for y in ([0, 1], [1, 0]):
        line.set_ydata(y)
        canvas.draw()
        png = get_diff_image()
        shown.append((canvas._current_image_mode, decoded(png)))
    assert get_diff_image() is None  # the last frame is current
    return shown


@pytest.mark.parametrize(("facecolor", "modes"), [("white", ["full", "diff"]), ("none", ["full", "full"])])
def test_the_frames_are_matplotlibs_own_pixel_for_pixel(facecolor, modes):
    """A first frame in full, then the changed pixels alone; a figure with transparent pixels always in full."""
    fig, canvas, line = webagg_figure(facecolor)
    theirs = frames(canvas, line, canvas.get_diff_image)
    fig2, canvas2, line2 = webagg_figure(facecolor)
    send_fast_frames(canvas2)
    ours = frames(canvas2, line2, canvas2.get_diff_image)
    assert [mode for mode, _ in theirs] == [mode for mode, _ in ours] == modes
    for (_, a), (_, b) in zip(theirs, ours, strict=True):
        assert np.array_equal(a, b)
    assert canvas2.get_diff_image.__func__ is diff_image
    canvas2._force_full = True  # what a resize or a new browser asks for: the whole figure again
    canvas2.draw()
    canvas2.get_diff_image()
    assert canvas2._current_image_mode == "full"
    plt.close(fig)
    plt.close(fig2)


def test_every_live_figure_an_explorer_shows_sends_fast_frames():
    """lessons_src.live.canvas_or_output, which every explorer's figure goes through, hands ipympl's canvas over."""
    code = ("import matplotlib.pyplot as plt\nfrom lessons_src.live import canvas_or_output\nfig = plt.figure()\n"
            "assert canvas_or_output(fig) is fig.canvas\nprint(type(fig.canvas).__module__, "
            "fig.canvas.get_diff_image.__func__.__module__)")
    env = dict(os.environ, MPLBACKEND="module://ipympl.backend_nbagg")
    shown = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                           timeout=120)
    assert shown.stdout.split() == ["ipympl.backend_nbagg", "lessons_src.frames"], shown.stderr[-2000:]


def test_a_canvas_that_is_not_a_web_canvas_is_left_alone():
    fig = plt.figure()
    before = fig.canvas.__dict__.copy()
    send_fast_frames(fig.canvas)
    assert fig.canvas.__dict__ == before
