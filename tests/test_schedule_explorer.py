"""Lesson 11's schedule explorer: the grid read back from bench/schedule_grid.json, its errors, and the
widget driven headless (dropdown and lr slider in, artists and readout out)."""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import traitlets

from lessons_src.live import SLIDER_TRACK_PX, description_px
from lessons_src.schedule_explorer import (
    ScheduleExplorer,
    accuracy_limits,
    best_cell,
    grid_curves,
    grid_lrs,
    grid_names,
    schedule_view,
)
from lessons_src.schedules import SCHEDULE_NAMES, Schedule

ROOT = Path(__file__).resolve().parents[1]
GRID = json.loads((ROOT / "bench" / "schedule_grid.json").read_text(encoding="utf-8"))
SETTINGS = GRID["settings"]
STEPS = SETTINGS["steps_per_epoch"]
TOTAL_STEPS = SETTINGS["num_epochs"] * STEPS


def percent(curves: dict) -> np.ndarray:
    """A cell's validation accuracies in %, as the figure draws them."""
    return 100 * curves["val_accuracy"]


# --- the record and the pure functions ------------------------------------------------------------
def test_the_record_holds_every_schedule_at_every_lr_for_every_epoch():
    assert grid_names(GRID) == SCHEDULE_NAMES
    assert SETTINGS["steps_per_epoch"] == math.ceil(50_000 / SETTINGS["batch_size"])  # the 50 000 training images
    for name in SCHEDULE_NAMES:
        assert sorted(float(lr) for lr in GRID["runs"][name]) == list(grid_lrs(GRID))
        for run in GRID["runs"][name].values():
            lengths = {len(run[key]) for key in ("train_loss", "val_loss", "val_accuracy", "seconds")}
            assert lengths == {SETTINGS["num_epochs"]} or run["diverged"], run
            assert all(0 <= a <= 1 for a in run["val_accuracy"]) and all(s > 0 for s in run["seconds"])


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
def test_grid_curves_reads_one_cell_of_the_record(name):
    for key, run in GRID["runs"][name].items():
        curves = grid_curves(GRID, name, float(key))
        assert curves["name"] == name and curves["lr"] == float(key) and curves["diverged"] == run["diverged"]
        np.testing.assert_array_equal(curves["epochs"], np.arange(1, len(run["val_accuracy"]) + 1))
        for field in ("train_loss", "val_loss", "val_accuracy", "seconds"):
            np.testing.assert_array_equal(curves[field], run[field])
        final = curves["final_val_accuracy"]
        assert final == run["val_accuracy"][-1] if run["val_accuracy"] else math.isnan(final)


def test_grid_curves_takes_any_real_number_equal_to_a_grid_lr():
    plain = grid_curves(GRID, "step", 0.1)
    for lr in (np.float64(0.1), np.float32(0.1), 1 / 10):
        np.testing.assert_array_equal(grid_curves(GRID, "step", lr)["val_accuracy"], plain["val_accuracy"])


def test_the_best_cell_is_the_highest_final_accuracy_of_a_finished_run():
    finals = {(name, float(lr)): run["val_accuracy"][-1] for name, runs in GRID["runs"].items()
              for lr, run in runs.items() if not run["diverged"]}
    best = best_cell(GRID)
    assert (best["name"], best["lr"]) == max(finals, key=finals.get)
    assert best["final_val_accuracy"] == max(finals.values())


@pytest.mark.parametrize("name", ["cosine", "Constant", "", None])
def test_a_name_not_in_the_grid_is_refused_with_the_names_it_holds(name):
    with pytest.raises(ValueError, match=r"^name must be one of the grid's schedules \['constant', 'step', "
                                         r"'warmup_cosine', 'one_cycle'\], got "):
        grid_curves(GRID, name, 0.1)


@pytest.mark.parametrize("lr", [0.2, 0.001, 1.0])
def test_an_lr_not_in_the_grid_is_refused_with_the_lrs_it_holds(lr):
    with pytest.raises(ValueError, match=rf"^lr must be one of the grid's lrs \[0.01, 0.03, 0.1, 0.3\], got {lr}$"):
        grid_curves(GRID, "constant", lr)


@pytest.mark.parametrize("lr", [True, "0.1", math.nan, -0.1, 0])
def test_an_lr_that_is_no_positive_number_is_refused(lr):
    with pytest.raises(ValueError, match=r"^lr must be a finite number > 0, got "):
        grid_curves(GRID, "constant", lr)


def test_the_view_computes_the_lr_curve_from_the_schedule():
    view = schedule_view(GRID, "one_cycle", 0.1, STEPS)
    np.testing.assert_array_equal(view.lrs, Schedule("one_cycle", 0.1, TOTAL_STEPS).curve())
    np.testing.assert_allclose(view.epochs[[0, STEPS, -1]], [0, 1, (TOTAL_STEPS - 1) / STEPS])
    assert set(view.cells) == set(SCHEDULE_NAMES) and all(c["lr"] == 0.1 for c in view.cells.values())


@pytest.mark.parametrize("lr", [0.01, 0.03, 0.1, 0.3])
def test_the_accuracy_limits_hold_every_cell_at_that_lr_on_even_percents(lr):
    cells = [grid_curves(GRID, name, lr) for name in SCHEDULE_NAMES]
    low, high = accuracy_limits(cells)
    values = np.concatenate([percent(c) for c in cells])
    assert low < values.min() and values.max() < high and low % 2 == 0 and high % 2 == 0
    assert high - low <= values.max() - values.min() + 5  # tight enough to tell the schedules apart


def test_accuracy_limits_of_runs_without_an_epoch_are_the_whole_range():
    assert accuracy_limits([grid_curves(GRID, "constant", 0.3)]) == (0.0, 100.0)


def test_a_steps_per_epoch_other_than_the_grids_is_refused():
    with pytest.raises(ValueError, match=rf"^steps_per_epoch must be the grid's {STEPS} .*got 100$"):
        schedule_view(GRID, "constant", 0.1, 100)
    with pytest.raises(ValueError, match=r"^steps_per_epoch must be an int >= 1, got 391.0"):
        ScheduleExplorer(GRID, 391.0)


# --- the widget, driven through its controls -------------------------------------------------------
@pytest.fixture
def explorer(make_explorer):
    return make_explorer(ScheduleExplorer, GRID, STEPS)


def assert_shows(e: ScheduleExplorer, name: str, lr: float, drawn) -> None:
    """The figure and readout show ``name`` at ``lr``, computed here from the schedule and the record."""
    curve = Schedule(name, lr, TOTAL_STEPS).curve()
    np.testing.assert_array_equal(drawn(e.panels.lr_line), np.column_stack([np.arange(TOTAL_STEPS) / STEPS, curve]))
    assert e.panels.ax_lr.get_ylim() == pytest.approx((0, 1.08 * lr))
    low, high = e.panels.ax_accuracy.get_ylim()
    diverged = []
    for other, line in e.panels.accuracy_lines.items():
        cell = grid_curves(GRID, other, lr)
        np.testing.assert_allclose(drawn(line), np.column_stack([cell["epochs"], percent(cell)]))
        assert line.get_alpha() == (1.0 if other == name else 0.3)
        assert all(low < a < high for a in percent(cell))
        diverged += [other] if cell["diverged"] else []
    assert e.panels.diverged_text.get_text() == (f"diverged: {', '.join(diverged)}" if diverged else "")
    cell = grid_curves(GRID, name, lr)
    text = re.sub(r"<[^>]+>", "", e.readout.value)
    if cell["diverged"]:
        assert f"{name} at peak lr {lr:g}: diverged" in text
    else:
        assert f"{name} at peak lr {lr:g}: validation accuracy {100 * cell['final_val_accuracy']:.2f} %" in text
    best = best_cell(GRID)
    assert f"best in the grid: {best['name']} at lr {best['lr']:g}, {100 * best['final_val_accuracy']:.2f} %" in text


def test_the_explorer_opens_on_the_first_schedule_at_the_middle_lr(explorer, drawn):
    assert (explorer.schedule_picker.value, explorer.lr_slider.value) == ("constant", 0.1)
    assert explorer.lr_slider.description == "lr"
    assert explorer.lr_slider.options == (("0.01", 0.01), ("0.03", 0.03), ("0.1", 0.1), ("0.3", 0.3))
    assert_shows(explorer, "constant", 0.1, drawn)


def test_the_dropdown_moves_the_lr_curve_and_highlights_the_schedule(explorer, drawn, pixels):
    e = explorer
    before_curve, before_pixels = drawn(e.panels.lr_line), pixels(e.fig)
    e.schedule_picker.value = "warmup_cosine"
    assert_shows(e, "warmup_cosine", 0.1, drawn)
    assert not np.array_equal(drawn(e.panels.lr_line), before_curve)
    assert not np.array_equal(pixels(e.fig), before_pixels)


def test_the_lr_slider_rescales_the_curve_and_swaps_every_accuracy_line(explorer, drawn, pixels):
    e = explorer
    e.schedule_picker.value = "one_cycle"
    before_lines = {n: drawn(line) for n, line in e.panels.accuracy_lines.items()}
    before_readout, before_pixels = e.readout.value, pixels(e.fig)
    e.lr_slider.value = 0.01
    assert_shows(e, "one_cycle", 0.01, drawn)
    assert all(not np.array_equal(drawn(line), before_lines[n]) for n, line in e.panels.accuracy_lines.items())
    assert e.readout.value != before_readout and not np.array_equal(pixels(e.fig), before_pixels)


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
@pytest.mark.parametrize("lr", [0.01, 0.03, 0.1, 0.3])
def test_every_cell_can_be_reached_from_the_controls(explorer, drawn, name, lr):
    explorer.lr_slider.value, explorer.schedule_picker.value = lr, name
    assert_shows(explorer, name, lr, drawn)


def test_a_control_change_moves_the_same_artists_without_rebuilding_the_figure(explorer):
    e = explorer
    artists = [e.panels.lr_line, *e.panels.accuracy_lines.values()]
    counts = [len(ax.get_children()) for ax in e.fig.axes]
    e.schedule_picker.value, e.lr_slider.value = "step", 0.3
    assert [e.panels.lr_line, *e.panels.accuracy_lines.values()] == artists
    assert [len(ax.get_children()) for ax in e.fig.axes] == counts and len(e.fig.axes) == 2
    assert all(a.get_animated() for a in artists)  # blitted, never a full redraw


def test_an_lr_off_the_grid_is_refused_and_the_explorer_goes_on(explorer, drawn):
    with pytest.raises(traitlets.TraitError):
        explorer.lr_slider.value = 0.2
    assert explorer.lr_slider.value == 0.1
    explorer.lr_slider.value = 0.03
    assert_shows(explorer, "constant", 0.03, drawn)


def test_a_diverged_cell_is_reported_as_such(make_explorer, drawn):
    grid = copy.deepcopy(GRID)
    run = grid["runs"]["step"]["0.1"]
    for key in ("train_loss", "val_loss", "val_accuracy", "seconds"):
        del run[key][1:]
    run["diverged"] = "training diverged: the loss became nan at epoch 2, step 40"
    e = make_explorer(ScheduleExplorer, grid, STEPS, name="step", lr=0.1)
    assert "diverged in epoch 2" in e.readout.value and "#b00" in e.readout.value
    assert len(drawn(e.panels.accuracy_lines["step"])) == 1


def test_the_constructor_refuses_a_name_or_lr_not_in_the_grid():
    with pytest.raises(ValueError, match=r"^name must be one of the grid's schedules"):
        ScheduleExplorer(GRID, STEPS, name="cosine")
    with pytest.raises(ValueError, match=r"^lr must be one of the grid's lrs"):
        ScheduleExplorer(GRID, STEPS, lr=0.5)


# --- layout: fits a projector, wraps in a narrow window ---------------------------------------------------
def test_the_figure_fits_a_1280x720_projector_beside_its_controls(explorer):
    width, height = explorer.fig.get_size_inches() * explorer.fig.dpi
    assert width <= 900 and height <= 400


def test_the_controls_wrap_and_the_slider_keeps_a_usable_track(explorer):
    controls, readout, figure = explorer.widget.children
    assert controls.layout.flex_flow == "row wrap" and figure.layout.overflow == "auto"
    slider = explorer.lr_slider
    label = int(slider.style.description_width.removesuffix("px"))
    assert label >= description_px("lr")
    assert int(slider.layout.min_width.removesuffix("px")) - label >= SLIDER_TRACK_PX + 60
    assert readout.children == (explorer.readout,)


def test_the_readout_breaks_only_between_whole_parts(explorer):
    html = explorer.readout.value
    outside = re.sub(r"<span style='white-space:nowrap'>.*?</span>", "", html)
    assert "nowrap" in html and re.fullmatch(r"[ |]*", outside), outside


def test_a_control_change_leaves_the_figure_drawn_so_pyplot_asks_for_no_redraw(explorer):
    """The y-axes are blitted; drawing them marks ticks stale, and a stale figure made pyplot ask ipympl for a full
    draw after every kernel message, which blitted the axes again: frames forever in the browser."""
    asked = []
    explorer.fig.stale_callback = lambda artist, stale: asked.append(stale)
    explorer.lr_slider.value = 0.3
    explorer.schedule_picker.value = "step"
    assert not explorer.fig.stale and not asked
    explorer.fig.canvas.draw()  # what the browser asks for on a resize: the blitted axes drawn again
    assert not explorer.fig.stale
