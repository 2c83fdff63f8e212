"""Interactive explorers: thin ipywidgets/ipympl shells over the course's pure functions.

A control's change reaches its pure function in two calls: the control calls the explorer's
``update``, which calls ``compute`` (the pure function, given the control values). ``show`` then
moves the existing artists using that result alone, and a blit pushes the pixels. A control set
from code to a value its slider could never take (NaN, ±inf, a bool, a non-number, a value
outside its range) raises :class:`~lessons_src.live.ControlValueError` and keeps its value, so
the explorer goes on working. The machinery they share is in :mod:`lessons_src.live`.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from lessons_src.descent import (
    COMPARISON_SETTINGS,
    OPTIMIZER_LABELS,
    OPTIMIZER_NAMES,
    DescentPath,
    MomentumRuns,
    SurfaceRuns,
    compare_optimizers,
    critical_momentum,
    distances_to,
    momentum_runs,
    run_descent,
)
from lessons_src.language import tr
from lessons_src.live import (
    TEXT_BOX,
    Blitter,
    ControlValueError,
    Explorer,
    LiveCurve,
    StrictFloatLogSlider,
    StrictFloatSlider,
    StrictIntSlider,
    contour_panel,
    control_panel,
    drawn_here,
    figure_box,
    fit_step_axis,
    fix_label_positions,
    loss_panel,
    readout_panel,
    surface_picker,
    two_panels,
    warning_text,
    wrapping_row,
)
from lessons_src.minibatch import (
    MAX_NOISE_BATCHES,
    NOISE_CLOUD_BATCH_SIZES,
    NOISE_CLOUD_POINTS,
    NoiseCloud,
    covariance_ellipse,
    noise_cloud,
    variance_curve,
)
from lessons_src.plotting import (
    DISTANCE_FLOOR,
    LOSS_FLOOR,
    OPTIMIZER_COLORS,
    log_curve,
    plot_surface_3d,
    style_step_panel,
    surface_heights,
)
from lessons_src.readouts import (
    describe_cloud,
    describe_distances,
    describe_path,
    describe_rates,
    describe_runs,
)
from lessons_src.sample_losses import breast_cancer_logistic
from lessons_src.surfaces import QUADRATIC_SURFACES, SURFACES, get_surface
from lessons_src.validation import as_int, as_real

__all__ = ["ControlValueError", "LiveCurve", "LossSurfaceExplorer", "MomentumExplorer", "NoiseCloudExplorer",
           "OptimizerComparison"]

NOISE_CLOUD_COLOR = "tab:red"
SURFACE_3D_MESH = 24  # the 3-D panel redraws in full on every turn: a coarser mesh keeps that fast
MOMENTUM_LINES = {"gd": ("plain GD", "tab:blue"), "momentum": ("momentum", "tab:red")}


def momentum_label(key: str) -> str:
    """The label of MOMENTUM_LINES[key] in the language in use."""
    label = MOMENTUM_LINES[key][0]
    return {"plain GD": tr("plain GD"), "momentum": tr("momentum")}.get(label, label)


def describe_divergence(gd: DescentPath, heavy: DescentPath) -> str:
    """The step at which plain GD and momentum diverged, for the runs that did ("" when neither did)."""
    if gd.diverged and heavy.diverged:
        return tr("GD diverged at step {gd}; momentum diverged at step {momentum}", gd=gd.diverged_at,
                  momentum=heavy.diverged_at)
    if gd.diverged:
        return tr("GD diverged at step {step}", step=gd.diverged_at)
    return tr("momentum diverged at step {step}", step=heavy.diverged_at) if heavy.diverged else ""


def point_label(key: str) -> str:
    """The label of NOISE_CLOUD_POINTS[key] in the language in use (in English when no translation knows it)."""
    label = NOISE_CLOUD_POINTS[key][0]
    return {"at the start (0, −2.5)": tr("at the start (0, −2.5)"),
            "near the minimum, at (−3.5, 0.6)": tr("near the minimum, at (−3.5, 0.6)")}.get(label, label)


# --- lesson 01: gradient descent on a surface --------------------------------------------------------
class LossSurfaceExplorer(Explorer):
    """Gradient descent on a 2-D loss surface: contour + path, loss vs step, and a 3-D view."""

    def __init__(self, surface: str = "source_quadratic", *, show_3d: bool = True) -> None:
        first = get_surface(surface)
        self.surface_picker = surface_picker(list(SURFACES), first.name)
        self.lr_slider = StrictFloatLogSlider(value=first.lr, base=10, min=-4, max=0.5, step=0.05,
                                              description="lr", readout_format=".4f")
        self.steps_slider = StrictIntSlider(value=first.num_steps, min=0, max=1000, description=tr("steps"))
        self.w1_slider = StrictFloatSlider(description=tr("start w1"), step=0.05)
        self.w2_slider = StrictFloatSlider(description=tr("start w2"), step=0.05)
        self.elev_slider = StrictIntSlider(value=35, min=-90, max=90, description=tr("elevation"))
        self.azim_slider = StrictIntSlider(value=-60, min=-180, max=180, description=tr("azimuth"))
        self.readout = widgets.HTML()
        self.show_3d = show_3d
        self.fig, (self.ax_contour, self.ax_loss) = two_panels()
        with plt.ioff():
            self.fig3d = plt.figure(figsize=(3.6, 3.6)) if show_3d else None
        self.ax3d = self.fig3d.add_subplot(projection="3d") if show_3d else None
        self.blitter = Blitter(self.fig)
        self.blitter3d = Blitter(self.fig3d) if show_3d else None
        for slider in (self.elev_slider, self.azim_slider):
            slider.observe(self._on_view, names="value")
        self.fig.canvas.mpl_connect("button_press_event", self._on_click)
        self._start(self.surface_picker, [self.lr_slider, self.steps_slider, self.w1_slider, self.w2_slider])

    @property
    def start(self) -> tuple[float, float]:
        return (self.w1_slider.value, self.w2_slider.value)

    @property
    def path(self) -> DescentPath:
        """The path shown."""
        return self.result.paths["gd"]

    def compute(self) -> SurfaceRuns:
        """The pure result for the current controls: gradient descent from the start point."""
        surface, steps = self.surface, self.steps_slider.value
        return SurfaceRuns(surface, steps, {"gd": run_descent(surface, self.start, self.lr_slider.value, steps)})

    def set_start(self, w1: float, w2: float) -> None:
        """Move the start point (clamped to the drawn region) and redraw once."""
        w1, w2 = (float(np.clip(as_real(name, value), slider.min, slider.max))
                  for name, value, slider in (("w1", w1, self.w1_slider), ("w2", w2, self.w2_slider)))
        with self.holding():
            self.w1_slider.value, self.w2_slider.value = w1, w2
        self.update()

    def _on_click(self, event) -> None:
        if event.inaxes is self.ax_contour and event.xdata is not None:
            self.set_start(event.xdata, event.ydata)

    def _on_view(self, change: dict) -> None:
        if self.ax3d is not None:
            with drawn_here(self.fig3d):  # drawn once, here: no second draw asked of the browser
                self.ax3d.view_init(self.elev_slider.value, self.azim_slider.value)
                self.blitter3d.refresh(full=True)

    def _blitters(self) -> list[Blitter]:
        return [self.blitter] if self.blitter3d is None else [self.blitter, self.blitter3d]

    def _draw_static(self, name: str) -> None:
        """Reset the controls to the surface's own settings, draw its static layers, create the moving artists."""
        surface = get_surface(name)
        with self.holding():
            for slider, (lo, hi), value in ((self.w1_slider, surface.w1_range, surface.start[0]),
                                            (self.w2_slider, surface.w2_range, surface.start[1])):
                slider.min, slider.max = -1e9, 1e9  # widen first so min < max holds at every step
                slider.min, slider.max, slider.value = lo, hi, value
            self.lr_slider.value, self.steps_slider.value = surface.lr, surface.num_steps
        contour_panel(self.ax_contour, surface)
        (self.path_line,) = self.ax_contour.plot([], [], ".-", color="tab:red", markersize=4, linewidth=1.2)
        (self.start_marker,) = self.ax_contour.plot([], [], "o", color="tab:red", markersize=7)
        (self.end_marker,) = self.ax_contour.plot([], [], "s", color="tab:red", markersize=7)
        self.diverged_text = warning_text(self.ax_contour, 0.03)
        (self.loss_line,) = loss_panel(self.ax_loss, surface).plot([1], [1], color="tab:red")
        fix_label_positions(self.ax_contour, self.ax_loss)
        if self.ax3d is not None:
            self.ax3d.clear()
            plot_surface_3d(self.ax3d, surface, n=SURFACE_3D_MESH)
            self.ax3d.view_init(self.elev_slider.value, self.azim_slider.value)
            (self.path3d,) = self.ax3d.plot([], [], [], ".-", color="tab:red", markersize=3, zorder=10)
            self.blitter3d.set_artists([self.path3d])
        self.blitter.set_artists([self.path_line, self.start_marker, self.end_marker,
                                  self.diverged_text, self.loss_line])
        self._full_redraw = True

    def show(self, runs: SurfaceRuns) -> None:
        """Move the existing artists to show ``runs`` (a diverged or empty path included)."""
        surface, path = runs.surface, runs.paths["gd"]
        points = path.points
        self.path_line.set_data(points[:, 0], points[:, 1])
        self.start_marker.set_data(points[:1, 0], points[:1, 1])
        self.end_marker.set_data(points[-1:, 0], points[-1:, 1])
        self.end_marker.set_marker("x" if path.diverged else "s")
        self.diverged_text.set_text(tr("diverged at step {step}", step=path.diverged_at) if path.diverged else "")
        self.loss_line.set_data(*log_curve(path.losses - surface.min_loss, LOSS_FLOOR))
        self._full_redraw |= fit_step_axis(self.ax_loss, runs.num_steps)
        if self.ax3d is not None:
            self.path3d.set_data_3d(points[:, 0], points[:, 1], surface_heights(surface, path.losses))
        self.readout.value = describe_path(path, surface)

    @property
    def widget(self) -> widgets.Widget:
        """The whole explorer as one widget."""
        if not hasattr(self, "_widget"):
            controls = control_panel(self.surface_picker, self.lr_slider, self.steps_slider, self.w1_slider,
                                     self.w2_slider)
            panels = [figure_box(self.fig)]
            if self.fig3d is not None:  # beside the 2-D panels when the window is wide, under them when narrow
                width = round(self.fig3d.get_figwidth() * self.fig3d.dpi) + 16  # its sliders stack under it
                panels.append(widgets.VBox([figure_box(self.fig3d), control_panel(self.elev_slider, self.azim_slider)],
                                           layout=widgets.Layout(width=f"{width}px", max_width="100%")))
            self._widget = widgets.VBox([controls, readout_panel(self.readout), wrapping_row(*panels)])
        return self._widget


# --- lesson 04: momentum on a quadratic, and torch.optim's optimizers side by side --------------------
class MomentumExplorer(Explorer):
    """Plain GD and heavy-ball momentum on a quadratic: paths, distance to the minimum, theory."""

    def __init__(self, surface: str = "ravine") -> None:
        if surface not in QUADRATIC_SURFACES:
            raise ValueError(tr("{name} must be one of {choices}, got {value}", name="surface",
                                choices=list(QUADRATIC_SURFACES), value=repr(surface)))
        self.surface_picker = surface_picker(QUADRATIC_SURFACES, surface)
        self.lr_slider = StrictFloatLogSlider(value=get_surface(surface).lr, base=10, min=-3, max=0, step=0.02,
                                              description="lr η", readout_format=".4f")
        self.momentum_slider = StrictFloatSlider(value=0.9, min=0.0, max=0.99, step=0.001,
                                                 description=tr("momentum γ"), readout_format=".3f",
                                                 style={"description_width": "initial"})
        self.steps_slider = StrictIntSlider(value=100, min=0, max=500, description=tr("steps"))
        self.snap_button = widgets.Button(description=tr("set γ to γ*"), tooltip=tr("critical damping"))
        self.readout = widgets.HTML()
        self.rates_readout = widgets.HTML()
        self.fig, (self.ax_contour, self.ax_distance) = two_panels()
        self.blitter = Blitter(self.fig)
        self.snap_button.on_click(lambda _: self.snap_to_critical())
        self._start(self.surface_picker, [self.lr_slider, self.momentum_slider, self.steps_slider])

    @property
    def paths(self) -> tuple[DescentPath, DescentPath]:
        """The paths shown: (plain GD, heavy-ball momentum)."""
        return self.result.paths["gd"], self.result.paths["momentum"]

    def compute(self) -> MomentumRuns:
        """The pure result for the current controls: both runs from the surface's start, and their theory."""
        return momentum_runs(self.surface, self.lr_slider.value, self.momentum_slider.value, self.steps_slider.value)

    def critical_momentum(self) -> float:
        """γ* for the current lr and surface (clamped to the slider's range)."""
        lam_min = float(self.surface.curvatures()[0])
        lr = min(self.lr_slider.value, 1 / lam_min)
        return min(critical_momentum(lr, lam_min), self.momentum_slider.max)

    def snap_to_critical(self) -> float:
        """Set γ to the critical damping γ* (what the button does); returns it."""
        self.momentum_slider.value = self.critical_momentum()
        return self.momentum_slider.value

    def _draw_static(self, name: str) -> None:
        """Reset lr to the surface's own, draw its static layers and create the artists that updates move."""
        surface = get_surface(name)
        with self.holding():
            self.lr_slider.value = surface.lr
        contour_panel(self.ax_contour, surface)
        self.ax_distance.clear()
        self.lines, self.distance_lines, self.theory_lines, self.end_markers = {}, {}, {}, {}
        for key, (_, color) in MOMENTUM_LINES.items():
            label = momentum_label(key)
            (self.lines[key],) = self.ax_contour.plot([], [], ".-", color=color, markersize=3,
                                                      linewidth=1.1, label=label)
            (self.end_markers[key],) = self.ax_contour.plot([], [], "s", color=color, markersize=7)
            (self.distance_lines[key],) = self.ax_distance.plot([1], [1], color=color, label=label)
            (self.theory_lines[key],) = self.ax_distance.plot(
                [1], [1], "--", color=color, linewidth=0.9, label=tr("{label}: theory d₀·rᵗ", label=label))
        self.ax_contour.plot(*surface.start, "o", color="black", markersize=6)
        self.ax_contour.legend(loc="lower left", fontsize=8)
        self.diverged_text = warning_text(self.ax_contour, 0.93)
        W1, W2, _ = surface.grid()
        farthest = float(np.hypot(W1 - surface.minima[0][0], W2 - surface.minima[0][1]).max())
        style_step_panel(self.ax_distance, top=10 * farthest, floor=DISTANCE_FLOOR, ylabel="‖w − w*‖",
                         title=tr("distance to the minimum"))
        self.ax_distance.legend(loc="lower left", fontsize=7)
        fix_label_positions(self.ax_contour, self.ax_distance)
        self.blitter.set_artists([*self.lines.values(), *self.end_markers.values(),
                                  *self.distance_lines.values(), *self.theory_lines.values(),
                                  self.diverged_text])
        self._full_redraw = True

    def show(self, runs: MomentumRuns) -> None:
        """Move the existing artists to show both runs (diverged or empty ones included) and their theory."""
        minimum = runs.surface.global_minimum
        for key, path in runs.paths.items():
            self.lines[key].set_data(path.points[:, 0], path.points[:, 1])
            self.end_markers[key].set_data(path.points[-1:, 0], path.points[-1:, 1])
            self.end_markers[key].set_marker("x" if path.diverged else "s")
            self.distance_lines[key].set_data(*log_curve(distances_to(path, minimum), DISTANCE_FLOOR))
            theory = runs.theory[key]
            self.theory_lines[key].set_data(np.arange(len(theory)), np.clip(theory, DISTANCE_FLOOR, 1e300))
        self.diverged_text.set_text(describe_divergence(runs.paths["gd"], runs.paths["momentum"]))
        self._full_redraw |= fit_step_axis(self.ax_distance, runs.num_steps)
        self.readout.value = describe_distances({"GD": runs.paths["gd"], tr("momentum"): runs.paths["momentum"]},
                                                minimum)
        self.rates_readout.value = describe_rates(runs.surface, runs.lr, runs.momentum)

    @property
    def widget(self) -> widgets.Widget:
        """The whole explorer as one widget."""
        if not hasattr(self, "_widget"):
            controls = control_panel(self.surface_picker, self.steps_slider, self.lr_slider, self.momentum_slider,
                                     self.snap_button)
            self._widget = widgets.VBox([controls, readout_panel(self.rates_readout, self.readout),
                                         figure_box(self.fig)])
        return self._widget


class OptimizerComparison(Explorer):
    """torch.optim's SGD, momentum, Nesterov, RMSprop and Adam stepping a 2-D tensor: paths overlaid."""

    def __init__(self, surface: str = "ravine",
                 selected: tuple[str, ...] = ("sgd", "momentum", "adam")) -> None:
        unknown = [name for name in selected if name not in OPTIMIZER_NAMES]
        if unknown:
            raise ValueError(tr("selected must hold names from {names}, got {unknown}", names=list(OPTIMIZER_NAMES),
                                unknown=unknown))
        self.surface_picker = surface_picker(list(SURFACES), get_surface(surface).name)
        self.checkboxes = {n: widgets.Checkbox(value=n in selected, description=tr(OPTIMIZER_LABELS[n]),
                                               indent=False, layout=widgets.Layout(width="110px"))
                           for n in OPTIMIZER_NAMES}
        # torch.optim runs cost far more than NumPy ones: recompute when a drag ends, not during it
        self.lr_sliders = {n: StrictFloatLogSlider(base=10, min=-4, max=0.5, step=0.05, description="lr",
                                                   readout_format=".4f", continuous_update=False)
                           for n in OPTIMIZER_NAMES}
        self.momentum_slider = StrictFloatSlider(value=0.9, min=0.0, max=0.99, step=0.01,
                                                 description=tr("momentum γ"), readout_format=".2f",
                                                 continuous_update=False)
        self.steps_slider = StrictIntSlider(min=0, max=1000, description=tr("steps"))
        self.readout = widgets.HTML()
        self.fig, (self.ax_contour, self.ax_loss) = two_panels()
        # the key goes under the panels, where it can never hide a path
        keys = [Line2D([], [], color=c, marker=".", label=tr(OPTIMIZER_LABELS[n])) for n, c in OPTIMIZER_COLORS.items()]
        self.fig.legend(handles=keys, loc="lower center", ncol=len(keys), fontsize=8, frameon=False)
        self.fig.subplots_adjust(bottom=0.25)
        self.blitter = Blitter(self.fig)
        self._start(self.surface_picker, [*self.checkboxes.values(), *self.lr_sliders.values(),
                                          self.momentum_slider, self.steps_slider])

    @property
    def selected(self) -> tuple[str, ...]:
        """The ticked optimizers, in the fixed order of OPTIMIZER_NAMES."""
        return tuple(n for n, box in self.checkboxes.items() if box.value)

    @property
    def paths(self) -> dict[str, DescentPath]:
        """The paths shown, one per ticked optimizer."""
        return self.result.paths

    def settings(self, name: str) -> dict:
        """The keyword arguments ``run_torch_optimizer`` gets for ``name`` from the controls."""
        extra = {"momentum": self.momentum_slider.value} if name in ("momentum", "nesterov") else {}
        return {"lr": self.lr_sliders[name].value, **extra}

    def compute(self) -> SurfaceRuns:
        """The pure result for the current controls: one path per ticked optimizer (kept runs are reused)."""
        return compare_optimizers(self.surface, {n: self.settings(n) for n in self.selected}, self.steps_slider.value)

    def _draw_static(self, name: str) -> None:
        """Reset the controls to the surface's settings, draw its static layers, create the artists."""
        surface, preset = get_surface(name), COMPARISON_SETTINGS[name]
        with self.holding():
            for optimizer, slider in self.lr_sliders.items():
                slider.value = preset["lr"][optimizer]
            self.steps_slider.value = preset["num_steps"]
        contour_panel(self.ax_contour, surface)
        self.ax_contour.plot(*surface.start, "o", color="black", markersize=6)
        loss_panel(self.ax_loss, surface)
        self.lines, self.loss_lines = {}, {}
        for optimizer, color in OPTIMIZER_COLORS.items():
            (self.lines[optimizer],) = self.ax_contour.plot([], [], ".-", color=color, markersize=3, linewidth=1.1,
                                                            label=tr(OPTIMIZER_LABELS[optimizer]))
            (self.loss_lines[optimizer],) = self.ax_loss.plot([1], [1], color=color)
        fix_label_positions(self.ax_contour, self.ax_loss)
        self.blitter.set_artists([*self.lines.values(), *self.loss_lines.values()])
        self._full_redraw = True

    def show(self, runs: SurfaceRuns) -> None:
        """Move each optimizer's artists to its path; unticked optimizers are hidden."""
        for name in OPTIMIZER_COLORS:
            path = runs.paths.get(name)
            self.lines[name].set_visible(path is not None)
            self.loss_lines[name].set_visible(path is not None)
            if path is not None:
                self.lines[name].set_data(path.points[:, 0], path.points[:, 1])
                self.lines[name].set_marker("." if not path.diverged else "x")
                self.loss_lines[name].set_data(*log_curve(path.losses - runs.surface.min_loss, LOSS_FLOOR))
        self._full_redraw |= fit_step_axis(self.ax_loss, runs.num_steps)
        self.readout.value = describe_runs(runs.paths, runs.surface)

    @property
    def widget(self) -> widgets.Widget:
        """The whole comparison as one widget."""
        if not hasattr(self, "_widget"):
            rows = [control_panel(self.checkboxes[n], self.lr_sliders[n]) for n in self.checkboxes]
            panels = [control_panel(self.surface_picker, self.steps_slider), *rows, control_panel(self.momentum_slider)]
            for panel in panels:  # ~400 px each: one column beside the figure, two or more abreast above it
                panel.layout.width, panel.layout.flex, panel.layout.max_width = "auto", "1 1 400px", "100%"
            # beside the figure when the window is wide; above it, as wide as the window, when narrow
            controls = widgets.Box(panels, layout=widgets.Layout(display="flex", flex_flow="row wrap",
                                                                 align_items="flex-start", align_content="flex-start",
                                                                 flex="1 1 420px", max_width="100%"))
            self._widget = widgets.VBox([wrapping_row(controls, figure_box(self.fig)), readout_panel(self.readout)])
        return self._widget


# --- lesson 06: the noise of a mini-batch gradient -------------------------------------------------------
class NoiseCloudExplorer(Explorer):
    """Gradients of many seeded mini-batches at one point of the breast-cancer logistic regression.

    Left: each dot is one batch's gradient (∂L/∂w, ∂L/∂b), the ellipse is two standard deviations
    of the theory Σ/B·(m − B)/(m − 1) around the full-batch gradient (black arrow). Right: the
    variance against the batch size, log-log, with the current batch size circled.
    ``num_batches`` is at most ``minibatch.MAX_NOISE_BATCHES``.
    """

    def __init__(self, batch_size: int = 16, point: str = "start", num_batches: int = 200,
                 seed: int = 0) -> None:
        if isinstance(batch_size, bool) or batch_size not in NOISE_CLOUD_BATCH_SIZES:  # True == 1 is no batch size
            raise ValueError(tr("{name} must be one of {choices}, got {value}", name="batch_size",
                                choices=list(NOISE_CLOUD_BATCH_SIZES), value=repr(batch_size)))
        if point not in NOISE_CLOUD_POINTS:
            raise ValueError(tr("{name} must be one of {choices}, got {value}", name="point",
                                choices=list(NOISE_CLOUD_POINTS), value=repr(point)))
        self.num_batches = as_int("num_batches", num_batches, low=2, high=MAX_NOISE_BATCHES,
                                  remedy=tr("draw fewer batches"))
        self.problem, self.seed, self._curves = breast_cancer_logistic(), as_int("seed", seed), {}
        self.batch_slider = widgets.SelectionSlider(options=NOISE_CLOUD_BATCH_SIZES, value=batch_size,
                                                    description=tr("batch size"))
        self.point_picker = widgets.Dropdown(options=[(point_label(key), key) for key in NOISE_CLOUD_POINTS],
                                             value=point, description=tr("point w"))
        self.readout = widgets.HTML()
        self.fig, (self.ax_cloud, self.ax_variance) = two_panels(figsize=(8.5, 3.8))
        self.blitter = Blitter(self.fig)
        self._start(self.point_picker, [self.batch_slider])

    @property
    def w(self) -> np.ndarray:
        """The point at which the gradients are taken, (w, b)."""
        return np.array(NOISE_CLOUD_POINTS[self.point_picker.value][1])

    @property
    def cloud(self) -> NoiseCloud:
        """The cloud shown."""
        return self.result

    def compute(self) -> NoiseCloud:
        """The pure result for the current controls."""
        return noise_cloud(self.problem, self.w, self.batch_slider.value, self.num_batches, seed=self.seed)

    def _draw_static(self, point: str) -> None:
        """Draw the static layers for ``point`` (fixed limits, the arrow, variance curves) and the moving artists."""
        w = NOISE_CLOUD_POINTS[point][1]
        full = self.problem.grad(w)
        corners = np.vstack([self.problem.sample_grads(w), full, np.zeros(2)])  # B = 1 reaches any sample's
        low, high = corners.min(axis=0), corners.max(axis=0)
        pad = 0.08 * (high - low)
        ax = self.ax_cloud
        ax.clear()
        ax.set(xlim=(low[0] - pad[0], high[0] + pad[0]), ylim=(low[1] - pad[1], high[1] + pad[1]),
               xlabel="∂L/∂w", ylabel="∂L/∂b")
        ax.annotate("", xy=tuple(full), xytext=(0, 0), arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.8})
        ax.plot(0, 0, "+", color="black", markersize=9)
        ax.set_title(tr("batch gradients {point}; arrow: ∇L", point=point_label(point)), fontsize=9, y=1.01)
        (self.cloud_dots,) = ax.plot([], [], ".", color=NOISE_CLOUD_COLOR, alpha=0.35, markersize=4)
        (self.ellipse_line,) = ax.plot([], [], color=NOISE_CLOUD_COLOR, linewidth=1.2)
        self.batch_text = ax.text(0.03, 0.95, "", transform=ax.transAxes, va="top", fontsize=9, bbox=TEXT_BOX)
        self._draw_variance_panel(point, w)
        fix_label_positions(self.ax_cloud, self.ax_variance)
        self.blitter.set_artists([self.cloud_dots, self.ellipse_line, self.batch_text, self.current_marker])
        self._full_redraw = True

    def _draw_variance_panel(self, point: str, w: Any) -> None:
        """The right panel: theory and measured variance against the batch size (B = m has none: off a log axis)."""
        if point not in self._curves:  # the measured dots cost 10 clouds: once per point
            sizes = [b for b in NOISE_CLOUD_BATCH_SIZES if b < self.problem.num_samples]
            self._curves[point] = variance_curve(self.problem, w, sizes, self.num_batches, seed=self.seed)
        curve, ax = self._curves[point], self.ax_variance
        self.measured_by_batch = dict(zip(curve.batch_sizes.tolist(), curve.measured.tolist(), strict=True))
        ax.clear()
        ax.loglog(curve.batch_sizes, curve.theory, "-", color="tab:blue", label=tr("theory Σ/B·(m − B)/(m − 1)"))
        ax.loglog(curve.batch_sizes, curve.theory[0] / curve.batch_sizes, "--", color="0.5", linewidth=1, label="1/B")
        ax.loglog(curve.batch_sizes, curve.measured, "o", color=NOISE_CLOUD_COLOR, markersize=4,
                  label=tr("measured, {count} batches", count=self.num_batches))
        (self.current_marker,) = ax.plot([], [], "o", markersize=13, markerfacecolor="none",
                                         markeredgecolor="black", markeredgewidth=1.5)
        ax.set(xlabel=tr("batch size B"), ylabel="E‖g_B − ∇L‖²")
        ax.set_ylim(curve.theory.min() / 5, curve.theory.max() * 3)  # fixed, so slider moves are blits
        ax.set_title(tr("variance of a batch gradient"), fontsize=9, y=1.01)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")

    def show(self, cloud: NoiseCloud) -> None:
        """Move the existing artists to show ``cloud``."""
        m = self.problem.num_samples
        self.cloud_dots.set_data(cloud.gradients[:, 0], cloud.gradients[:, 1])
        ellipse = covariance_ellipse(cloud.full_gradient, cloud.covariance)
        self.ellipse_line.set_data(ellipse[:, 0], ellipse[:, 1])
        self.batch_text.set_text(tr("B = {batch_size}: {count} batch gradients", batch_size=cloud.batch_size,
                                    count=len(cloud.gradients)))
        noisy = cloud.batch_size < m
        self.current_marker.set_data([cloud.batch_size] if noisy else [], [cloud.measured_variance] if noisy else [])
        self.readout.value = describe_cloud(cloud, m)

    @property
    def widget(self) -> widgets.Widget:
        """The whole explorer as one widget."""
        if not hasattr(self, "_widget"):
            header = widgets.VBox([control_panel(self.batch_slider, self.point_picker), readout_panel(self.readout)])
            self._widget = widgets.VBox([header, figure_box(self.fig)])
        return self._widget
