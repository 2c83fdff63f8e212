"""Lesson 13's explorer, headless: controls reach the pure view, the view moves the artists, a click reads a loss."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.backend_bases import MouseEvent  # noqa: E402
from torch import nn  # noqa: E402

from lessons_src.landscape import combine, get_weights, losses_at, train_recording  # noqa: E402
from lessons_src.landscape_explorer import (  # noqa: E402
    LandscapeExplorer,
    describe_view,
    landscape_view,
    pca_plane,
    random_plane,
)
from lessons_src.training import TensorLoader  # noqa: E402


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    generator = torch.Generator().manual_seed(0)
    X, y = torch.randn(60, 6, generator=generator), torch.randint(0, 3, (60,), generator=generator)
    run = train_recording(model, TensorLoader(X, y, 10, shuffle=True), nn.CrossEntropyLoss(),
                          torch.optim.SGD(model.parameters(), lr=0.2), 3, every=2)
    planes = [random_plane(model, get_weights(model), X, y, span=1.0), pca_plane(model, run, X, y, name="SGD")]
    return model, X, y, planes


def test_the_view_is_the_pure_result_and_its_centre_is_the_trained_loss(setup):
    model, X, y, planes = setup
    view = landscape_view(planes[0], 1.0, 7)
    assert view.grid.loss.shape == (7, 7)
    assert view.grid.centre_loss == pytest.approx(nn.functional.cross_entropy(model(X), y).item(), rel=1e-5)
    assert "centre" in describe_view(view)


def test_the_pca_plane_holds_the_path_and_ends_at_its_centre(setup):
    _, _, _, planes = setup
    path = planes[1].paths["SGD"]
    assert np.allclose(path[-1], 0, atol=1e-5)
    box = planes[1].box
    assert len(planes[1].explained) == 2 and 0 < planes[1].explained[1] <= planes[1].explained[0] < 1
    assert box[0] < path[:, 0].min() and path[:, 0].max() < box[1] and "% of the variance" in planes[1].labels[0]


def test_controls_change_the_result_and_the_artists(setup):
    _, _, _, planes = setup
    explorer = LandscapeExplorer(planes, resolution=7)
    explorer.fig.canvas.draw()
    before = explorer.panel.image.get_array().copy()
    explorer.zoom_slider.value = 0.5
    assert explorer.view.grid.a[-1] == pytest.approx(0.5)
    assert not np.array_equal(explorer.panel.image.get_array(), before)
    explorer.resolution_picker.value = 11  # computed on demand
    assert explorer.view.grid.loss.shape == (11, 11) and explorer.panel.image.get_array().shape[:2] == (11, 11)
    explorer.plane_picker.value = planes[1].name
    assert explorer.path_picker.value == "SGD" and len(explorer.panel.path_line.get_xdata()) == len(
        planes[1].paths["SGD"])
    explorer.path_picker.value = None
    assert len(explorer.panel.path_line.get_xdata()) == 0
    explorer.view_picker.value = "3-D"
    assert explorer.panel.ax3d.get_visible() and not explorer.panel.ax.get_visible()
    explorer.view_picker.value = "contour"
    assert explorer.panel.ax.get_visible()


def test_a_click_reads_the_exact_loss_there(setup):
    model, X, y, planes = setup
    explorer = LandscapeExplorer(planes[:1], resolution=7)
    view = explorer.read_point(0.3, -0.2)
    d1, d2 = (layer for layer in planes[0].evaluator.layers[1:])
    directions = [[t for wb in d for t in wb] for d in (d1, d2)]
    exact, _ = losses_at(model, [combine(get_weights(model), directions, (0.3, -0.2))], X, y)
    assert view.point_loss == pytest.approx(exact[0], rel=1e-5)
    assert list(explorer.panel.point.get_xdata()) == [0.3] and "click" in explorer.readout.value
    assert planes[0].point_losses[(0.3, -0.2)] == view.point_loss  # kept: a later redraw does not recompute it
    explorer.zoom_slider.value = 2.0
    assert explorer.view.point_loss == view.point_loss and explorer.view.point == (0.3, -0.2)


def test_bad_settings_name_the_argument_and_the_choices(setup):
    _, _, _, planes = setup
    with pytest.raises(ValueError, match=r"resolution must be one of \[7, 11, 15, 21, 31\], got 40; finer"):
        landscape_view(planes[0], 1.0, 40)
    with pytest.raises(ValueError, match="path_name must be None or one of"):
        landscape_view(planes[0], 1.0, 7, path_name="Adam")
    with pytest.raises(ValueError, match="zoom must be a finite number > 0"):
        planes[0].zoomed_box(0)
    with pytest.raises(ValueError, match="planes must hold at least one Plane"):
        LandscapeExplorer([])
    with pytest.raises(ValueError, match=r"resolution must be one of \[7, 11, 15, 21, 31\], got 8"):
        LandscapeExplorer(planes, resolution=8)
    with pytest.raises(ValueError, match=r"point must be None or a pair \(a, b\), got \(0,\)"):
        landscape_view(planes[0], 1.0, 7, point=(0,))
    with pytest.raises(ValueError, match=r"planes must have different names .* got \['PCA of SGD'\] more than once"):
        LandscapeExplorer([planes[1], planes[1]])


def test_a_bad_point_is_refused_before_it_is_kept(setup):
    _, _, _, planes = setup
    explorer = LandscapeExplorer(planes[:1], resolution=7)
    explorer.read_point(0.3, -0.2)
    with pytest.raises(ValueError, match=r"a must be a finite number in \[-1, 1\], got nan"):
        explorer.read_point(float("nan"), 0)
    with pytest.raises(ValueError, match=r"b must be a finite number in \[-1, 1\], got 50"):
        explorer.read_point(0, 50)
    assert explorer.point == (0.3, -0.2)  # the last good point is kept
    explorer.zoom_slider.value = 0.5  # and the controls still work
    assert explorer.view.grid.a[-1] == pytest.approx(0.5) and explorer.view.point == (0.3, -0.2)


def test_every_control_leaves_the_figure_drawn_so_pyplot_asks_for_no_redraw(setup):
    """A stale figure makes pyplot (under %matplotlib widget) ask for a full draw after every kernel message;
    when that draw leaves it stale again, ipympl sends frames forever."""
    _, _, _, planes = setup
    explorer = LandscapeExplorer(planes, resolution=7)
    explorer.fig.canvas.draw()
    asked = []
    explorer.fig.stale_callback = lambda artist, stale: asked.append(stale)
    for control, value in ((explorer.zoom_slider, 0.5), (explorer.plane_picker, planes[1].name),
                           (explorer.path_picker, None), (explorer.view_picker, "3-D"),
                           (explorer.view_picker, "contour")):
        control.value = value
        assert not explorer.fig.stale and not asked, f"stale after {control.description or value}"
        explorer.fig.canvas.draw()  # the full draw a view change asks the browser for (it marks and clears stale)
        assert not explorer.fig.stale, f"stale after a full draw at {control.description or value}"
        asked.clear()
    a_min, a_max, b_min, b_max = explorer.plane.zoomed_box(explorer.zoom_slider.value)
    explorer.read_point((a_min + a_max) / 2, (b_min + b_max) / 2)
    assert not explorer.fig.stale and not asked, "stale after a click"
    plt.close(explorer.fig)


def test_a_range_seen_before_shows_what_a_full_draw_shows(setup):
    """The axes are kept per box once drawn (a revisit restores them); the frame must equal a full draw."""
    _, _, _, planes = setup
    explorer = LandscapeExplorer(planes, resolution=7)
    explorer.fig.canvas.draw()
    for zoom in (0.5, 2.0, 0.5):
        explorer.zoom_slider.value = zoom
    blitted = np.asarray(explorer.fig.canvas.buffer_rgba()).copy()
    explorer.fig.canvas.draw()
    np.testing.assert_array_equal(np.asarray(explorer.fig.canvas.buffer_rgba()), blitted)
    plt.close(explorer.fig)


def test_a_slice_shown_again_reuses_its_contour_lines_and_its_frame_is_what_a_full_draw_shows(setup, pixels):
    """The range slider moved back shows the slice's kept contour lines (the others hidden), and the blitted frame
    (kept axes and title, moving artists over them) has the pixels of a full draw."""
    _, _, _, planes = setup
    explorer = LandscapeExplorer(planes[:1], resolution=7)
    explorer.fig.canvas.draw()
    first = explorer.panel.contours
    explorer.zoom_slider.value = 2.0
    second = explorer.panel.contours
    assert second is not first and second.get_visible() and not first.get_visible()
    explorer.zoom_slider.value = 1.0
    assert explorer.panel.contours is first and first.get_visible() and not second.get_visible()
    blitted = np.asarray(explorer.fig.canvas.buffer_rgba()).copy()
    assert np.array_equal(blitted, pixels(explorer.fig))
    explorer = LandscapeExplorer(planes, resolution=7)
    explorer.fig.canvas.draw()
    explorer.plane_picker.value = planes[1].name  # another plane: other limits, labels and title, blitted
    assert np.array_equal(np.asarray(explorer.fig.canvas.buffer_rgba()).copy(), pixels(explorer.fig))
    explorer.plane_picker.value = planes[0].name  # and back, from the kept layer
    assert np.array_equal(np.asarray(explorer.fig.canvas.buffer_rgba()).copy(), pixels(explorer.fig))
    explorer = LandscapeExplorer(planes[1:2], resolution=7)  # the PCA plane, its path drawn and named in the title
    explorer.fig.canvas.draw()
    explorer.path_picker.value = None  # a new title over the same axes: kept in a layer of its own
    assert explorer.panel.title.get_text() == planes[1].name
    explorer.path_picker.value = "SGD"  # the title with the path again, not the layer just kept
    blitted = np.asarray(explorer.fig.canvas.buffer_rgba()).copy()
    assert np.array_equal(blitted, pixels(explorer.fig))


def test_the_mouse_reads_the_loss_of_the_tile_under_it_not_its_colour(setup):
    _, _, _, planes = setup
    explorer = LandscapeExplorer(planes[:1], resolution=7)
    explorer.fig.canvas.draw()
    panel, grid = explorer.panel, explorer.view.grid
    x, y = panel.ax.transData.transform((grid.a[2] + 0.01, grid.b[5] - 0.01))
    event = MouseEvent("motion_notify_event", explorer.fig.canvas, x, y)
    assert panel.image.get_cursor_data(event) == pytest.approx(grid.loss[5, 2])
    shown = panel.image.format_cursor_data(panel.image.get_cursor_data(event))  # e.g. "[1.09]": the footer's text
    assert float(shown.strip("[]")) == pytest.approx(grid.loss[5, 2], rel=0.01)
    outside = MouseEvent("motion_notify_event", explorer.fig.canvas, 1, 1)
    assert panel.image.get_cursor_data(outside) is None


def test_a_plane_without_paths_shows_none_in_the_path_dropdown(setup):
    """A Dropdown whose value is None shows a blank box, even with an option whose value is None: pick it by index."""
    _, _, _, planes = setup
    explorer = LandscapeExplorer(planes, resolution=7)
    assert not planes[0].paths and explorer.path_picker.label == "none" and explorer.path_picker.value is None
    explorer.plane_picker.value = planes[1].name
    assert explorer.path_picker.label == "SGD"
