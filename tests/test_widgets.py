"""The loss-surface explorer, driven headless: sliders and clicks in, artists and readouts out; and the
layout every explorer shares (controls that wrap, figures that scroll, readouts that break between parts)."""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.backend_bases import MouseEvent

from lessons_src.descent import OPTIMIZER_LABELS, OPTIMIZER_NAMES, round_up_steps, run_descent
from lessons_src.live import SLIDER_TRACK_PX, SLIDERS, Blitter, description_px
from lessons_src.readouts import describe_path
from lessons_src.surfaces import SURFACES, get_surface
from lessons_src.widgets import LossSurfaceExplorer, MomentumExplorer, NoiseCloudExplorer, OptimizerComparison


@pytest.fixture
def explorer(make_explorer):
    return make_explorer(LossSurfaceExplorer)


def test_figure_shows_the_pure_result(explorer, drawn):
    e = explorer
    expected = run_descent(get_surface("source_quadratic"), e.start, e.lr_slider.value, e.steps_slider.value)
    assert e.path == e.result.paths["gd"] and e.result.num_steps == e.steps_slider.value
    np.testing.assert_array_equal(drawn(e.path_line), expected.points)
    np.testing.assert_array_equal(e.path3d.get_data_3d()[0], expected.points[:, 0])
    assert "after 60 steps" in e.readout.value


def test_lr_slider_redraws_path_loss_and_pixels(explorer, drawn, pixels):
    e = explorer
    before = pixels(e.fig)
    e.lr_slider.value = 0.01
    expected = run_descent(e.surface, e.start, 0.01, e.steps_slider.value)
    np.testing.assert_array_equal(drawn(e.path_line), expected.points)
    np.testing.assert_allclose(e.loss_line.get_ydata(), np.maximum(expected.losses - e.surface.min_loss, 1e-8))
    assert not np.array_equal(before, pixels(e.fig))


def test_click_on_contour_starts_there(explorer, drawn):
    e = explorer
    x, y = e.ax_contour.transData.transform((3.0, -4.0))
    event = MouseEvent("button_press_event", e.fig.canvas, x, y, button=1)
    e.fig.canvas.callbacks.process("button_press_event", event)
    assert e.start == pytest.approx((3.0, -4.0), abs=0.05)
    np.testing.assert_allclose(drawn(e.path_line)[0], e.start)
    np.testing.assert_array_equal(drawn(e.path_line), e.compute().paths["gd"].points)


def test_click_outside_the_contour_is_ignored(explorer):
    e = explorer
    start = e.start
    x, y = e.ax_loss.transData.transform((10, 1.0))
    e.fig.canvas.callbacks.process("button_press_event", MouseEvent("button_press_event", e.fig.canvas, x, y))
    assert e.start == start


def test_huge_lr_shows_diverged_state(explorer, drawn, pixels):
    e = explorer
    e.lr_slider.value = e.lr_slider.max
    assert e.path.diverged
    assert f"diverged at step {e.path.diverged_at}" in e.readout.value
    assert e.diverged_text.get_text() == f"diverged at step {e.path.diverged_at}"
    assert e.end_marker.get_marker() == "x"
    assert np.isfinite(drawn(e.path_line)).all()
    pixels(e.fig)  # draws without error
    e.lr_slider.value = 0.01
    assert e.diverged_text.get_text() == "" and e.end_marker.get_marker() == "s"


def test_zero_steps_shows_only_the_start(explorer, drawn, pixels):
    e = explorer
    e.steps_slider.value = 0
    assert drawn(e.path_line).tolist() == [list(e.start)]
    assert "after 0 steps" in e.readout.value
    pixels(e.fig)


def test_start_outside_the_region_is_clamped_by_the_sliders(explorer):
    e = explorer
    e.set_start(1e6, -1e6)
    assert e.start == (10.0, -10.0)
    assert not e.path.diverged_at == 0


def test_describe_path_reports_a_start_outside():
    surface = get_surface("ravine")
    assert "outside the region" in describe_path(run_descent(surface, (99.0, 0.0), 0.1, 5), surface)


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_switching_surface_resets_controls_and_redraws(explorer, name, drawn, pixels):
    e = explorer
    e.surface_picker.value = name
    surface = SURFACES[name]
    assert (e.w1_slider.min, e.w1_slider.max) == surface.w1_range
    assert e.start == surface.start and e.lr_slider.value == pytest.approx(surface.lr, rel=0.06)
    np.testing.assert_array_equal(drawn(e.path_line), e.compute().paths["gd"].points)
    assert e.ax_contour.get_xlim() == surface.w1_range
    pixels(e.fig)
    pixels(e.fig3d)


def test_two_minima_readout_names_the_minimum(explorer):
    e = explorer
    e.surface_picker.value = "two_minima"
    e.steps_slider.value = 300
    e.set_start(-0.3, 1.5)
    assert "the global one" in e.readout.value
    e.set_start(0.5, 1.5)
    assert "a local one" in e.readout.value


def test_view_sliders_turn_the_3d_panel(explorer, pixels):
    e = explorer
    before = pixels(e.fig3d)
    e.elev_slider.value, e.azim_slider.value = 10, 40
    assert (e.ax3d.elev, e.ax3d.azim) == (10, 40)
    assert not np.array_equal(before, pixels(e.fig3d))


def test_explorer_without_3d_panel(drawn):
    e = LossSurfaceExplorer("ravine", show_3d=False)
    e.lr_slider.value = 0.05
    assert e.ax3d is None and e.widget.children
    np.testing.assert_array_equal(drawn(e.path_line), e.compute().paths["gd"].points)


def test_the_loss_axis_ends_at_a_round_number_of_steps(explorer):
    assert [round_up_steps(n) for n in (0, 10, 11, 60, 999, 1000, 9000)] == [10, 10, 20, 100, 1000, 1000, 9000]
    explorer.steps_slider.value = 333
    assert explorer.ax_loss.get_xlim() == (0, 500)


# --- layout: what fits a projector and a narrow window ------------------------------------------------
def boxes(widget) -> list:
    """``widget`` and every widget inside it, depth first."""
    return [widget, *(w for child in getattr(widget, "children", ()) for w in boxes(child))]


def sliders_in(widget) -> list:
    return [w for w in boxes(widget) if isinstance(w, SLIDERS)]


def px(value: str) -> int:
    assert value.endswith("px"), value
    return int(value.removesuffix("px"))


@pytest.mark.parametrize("cls", [LossSurfaceExplorer, MomentumExplorer, OptimizerComparison, NoiseCloudExplorer])
def test_every_slider_keeps_a_usable_track_in_a_wrapping_panel(cls):
    e = cls()
    sliders = sliders_in(e.widget)
    assert len(sliders) >= 2 if cls is not NoiseCloudExplorer else len(sliders) == 1
    parents = {id(box): box for box in boxes(e.widget) for child in getattr(box, "children", ()) if child in sliders}
    for box in parents.values():  # every slider sits in a row that wraps instead of squeezing it
        assert box.layout.flex_flow == "row wrap" and box.layout.display == "flex"
    for slider in sliders:
        label = px(slider.style.description_width)
        assert label >= description_px(slider.description) >= 9 * len(slider.description)
        assert px(slider.layout.min_width) - label >= SLIDER_TRACK_PX + 60  # the track, and room for the number
        assert slider.layout.flex.startswith("1 0")  # grows into spare room, never shrinks below min_width


@pytest.mark.parametrize("cls", [LossSurfaceExplorer, MomentumExplorer, OptimizerComparison, NoiseCloudExplorer])
def test_figures_scroll_instead_of_being_cut_off(cls):
    e = cls()
    figures = [b for b in boxes(e.widget) if b.layout.overflow == "auto"]
    assert len(figures) == (2 if cls is LossSurfaceExplorer else 1)
    assert all(b.layout.max_width == "100%" for b in figures)


def test_the_3d_panel_is_its_own_figure_beside_or_under_the_2d_one():
    e = LossSurfaceExplorer()
    assert e.fig3d is not e.fig and e.ax3d.figure is e.fig3d and e.ax_contour.figure is e.fig
    row = next(b for b in boxes(e.widget) if b.layout.flex_flow == "row wrap"
               and sum(1 for w in boxes(b) if w.layout.overflow == "auto") == 2)
    assert len(row.children) == 2  # the 2-D figure, and the 3-D one with its view sliders
    assert {e.elev_slider, e.azim_slider} <= set(sliders_in(row.children[1]))
    assert e.lr_slider not in sliders_in(row)  # the controls stay above, in view while the panels wrap


def test_comparison_legend_sits_outside_both_panels():
    c = OptimizerComparison()
    c.fig.canvas.draw()
    assert c.ax_contour.get_legend() is None and c.ax_loss.get_legend() is None
    (legend,) = c.fig.legends
    renderer = c.fig.canvas.get_renderer()
    box = legend.get_window_extent(renderer)
    assert {t.get_text() for t in legend.get_texts()} == {OPTIMIZER_LABELS[n] for n in OPTIMIZER_NAMES}
    for ax in (c.ax_contour, c.ax_loss):
        assert not box.overlaps(ax.get_window_extent(renderer))


@pytest.mark.parametrize("cls, readout", [(LossSurfaceExplorer, "readout"), (MomentumExplorer, "rates_readout"),
                                          (MomentumExplorer, "readout"), (OptimizerComparison, "readout"),
                                          (NoiseCloudExplorer, "readout")])
def test_readouts_break_only_between_whole_parts(cls, readout):
    html = getattr(cls(), readout).value
    outside = re.sub(r"<span style='white-space:nowrap'>.*?</span>", "", html.replace("<br>", ""))
    assert "nowrap" in html and re.fullmatch(r"[ |]*", outside), outside


def test_full_redraws_skip_ipympls_round_trip_once_the_browser_shows_the_figure(monkeypatch):
    with plt.ioff():
        fig = plt.figure()
    blitter, calls = Blitter(fig), []
    monkeypatch.setattr(fig.canvas, "draw_idle", lambda: calls.append("ask the browser"))
    monkeypatch.setattr(fig.canvas, "draw", lambda: calls.append("draw now"))
    fig.canvas.syncing_data_url = True  # ipympl: no browser has initialized this canvas yet
    blitter.refresh(full=True)
    fig.canvas.syncing_data_url = False
    blitter.refresh(full=True)
    assert calls == ["ask the browser", "draw now"]


def test_a_background_saved_before_a_resize_is_never_restored():
    """ipympl resizes the figure when the browser window changes; restoring a background of the old size
    into the smaller buffer corrupted the kernel's memory once. After a resize the Blitter draws whole."""
    fig, ax = plt.subplots(figsize=(4, 3))
    line, = ax.plot([0, 1], [0, 1])
    blitter = Blitter(fig)
    blitter.set_artists([line])
    fig.canvas.draw()
    draws = []
    fig.canvas.mpl_connect("draw_event", lambda event: draws.append(event))
    blitter.refresh()
    assert not draws  # same size: a blit over the saved background
    fig.set_size_inches(2, 1.5)
    blitter.refresh()
    assert draws, "a background of the old size was restored into the resized figure"
    plt.close(fig)


def test_blitting_an_axis_leaves_the_figure_drawn_so_pyplot_asks_for_no_redraw():
    """Drawing an axis marks its ticks stale. Left stale, pyplot (interactive, as under %matplotlib widget) asks for
    a full draw after every message the kernel handles, the full draw blits the axis again, and ipympl sends frames
    forever: lesson 11's schedule explorer drew ~16 frames a second while nobody touched it."""
    fig, ax = plt.subplots(figsize=(4, 3))
    line, = ax.plot([0, 1], [0, 1])
    asked = []
    fig.stale_callback = lambda artist, stale: asked.append(stale)
    blitter = Blitter(fig)
    blitter.set_artists([ax.yaxis, line])
    fig.canvas.draw()  # a full draw marks artists stale as it lays them out, then the figure drawn
    assert not fig.stale, "a full draw left the figure stale"
    ax.set_ylim(0, 5)  # new limits, blitted with the axis
    asked.clear()
    blitter.refresh()
    assert not fig.stale and not asked, "a blit left the figure stale"
    plt.close(fig)


def test_cached_artists_are_drawn_once_per_key_and_a_kept_layer_shows_what_a_full_draw_shows(monkeypatch):
    fig, ax = plt.subplots(figsize=(4, 3))
    line, = ax.plot([0, 1], [0, 1])
    blitter = Blitter(fig)
    blitter.set_artists([line], cached=[ax.yaxis], key=ax.get_ylim)
    fig.canvas.draw()
    axis_draws = []
    draw = type(ax.yaxis).draw
    monkeypatch.setattr(type(ax.yaxis), "draw", lambda self, *a, **k: (axis_draws.append(1), draw(self, *a, **k)))
    frames = {}
    for top in (2, 5, 2, 5, 2):
        ax.set_ylim(0, top)
        line.set_ydata([0, top / 2])
        blitter.refresh()
        frames.setdefault(top, []).append(np.asarray(fig.canvas.buffer_rgba()).copy())
    assert len(axis_draws) == 2, "each pair of limits draws the axis once; a revisit restores the kept layer"
    for top, shown in frames.items():
        assert all(np.array_equal(frame, shown[0]) for frame in shown)
        ax.set_ylim(0, top)
        line.set_ydata([0, top / 2])
        fig.canvas.draw()  # the whole figure, nothing kept
        assert np.array_equal(np.asarray(fig.canvas.buffer_rgba()), shown[0]), f"ylim top {top}"
    with pytest.raises(ValueError, match="cached artists need a key"):
        blitter.set_artists([line], cached=[ax.yaxis])
    plt.close(fig)


def test_turning_the_3d_view_draws_it_once_and_asks_pyplot_for_no_second_draw(explorer):
    asked = []
    explorer.fig3d.stale_callback = lambda artist, stale: asked.append(stale)
    explorer.elev_slider.value = 50
    assert explorer.ax3d.elev == 50 and not explorer.fig3d.stale and not asked
