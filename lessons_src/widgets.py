"""Interactive explorers: thin ipywidgets/ipympl shells over the pure functions of the course.

Every callback does three things: read the controls, call a pure function (``run_descent``),
update existing artists (``set_data``) and ask for a redraw (``draw_idle``).
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display
from matplotlib.ticker import LogLocator, NullLocator

from lessons_src import descent
from lessons_src.descent import OPTIMIZER_NAMES, DescentPath, critical_momentum, run_descent
from lessons_src.minibatch import (
    NoiseCloud,
    breast_cancer_logistic,
    covariance_ellipse,
    minibatch_variance,
    noise_cloud,
)
from lessons_src.plotting import plot_contour, plot_surface_3d, surface_heights
from lessons_src.surfaces import SURFACES, Surface, get_surface


def describe_path(path: DescentPath, surface: Surface) -> str:
    """One line of HTML: final loss and distance to the nearest minimum, or where it diverged."""
    if path.diverged_at == 0:
        return "<b style='color:#b00'>start is outside the region: nothing to run</b>"
    if path.diverged:
        return (f"<b style='color:#b00'>diverged at step {path.diverged_at}</b>: the steps grew until "
                f"the point left the plot (largest stable lr at the minimum: {surface.max_stable_lr():.3g})")
    distances = [path.distance_to(m) for m in surface.minima]
    nearest = int(np.argmin(distances))
    which = "" if len(surface.minima) == 1 else (" (the global one)" if nearest == 0 else " (a local one)")
    return (f"after {path.num_steps} steps: loss {path.final_loss:.4g}, "
            f"distance to the nearest minimum{which} {distances[nearest]:.3g}")


class Blitter:
    """Redraw only the moving artists of a figure over a saved background (matplotlib's blitting).

    A full draw (first display, resize, new limits) saves the background; :meth:`refresh` then
    restores it, draws the animated artists and pushes the pixels, which is many times cheaper
    than redrawing every tick label.
    """

    def __init__(self, fig) -> None:
        self.fig, self.canvas = fig, fig.canvas
        self.artists: list = []
        self._background = None
        self.canvas.mpl_connect("draw_event", self._on_draw)

    def set_artists(self, artists: list) -> None:
        """Track these artists (marking them animated, so full draws leave them out)."""
        for artist in artists:
            artist.set_animated(True)
        self.artists = list(artists)
        self._background = None

    def _on_draw(self, event) -> None:
        self._background = self.canvas.copy_from_bbox(self.fig.bbox)
        self._draw_artists()

    def _draw_artists(self) -> None:
        for artist in self.artists:
            self.fig.draw_artist(artist)

    def refresh(self, full: bool = False) -> None:
        """Push the current artists to the screen; a full redraw when asked or when no background exists."""
        if full or self._background is None:
            self.canvas.draw_idle()
            return
        self.canvas.restore_region(self._background)
        self._draw_artists()
        self.canvas.blit(self.fig.bbox)


def fix_label_positions(ax) -> None:
    """Pin the axis labels in place: matplotlib otherwise measures every tick label on each redraw."""
    ax.xaxis.set_label_coords(0.5, -0.1)
    ax.yaxis.set_label_coords(-0.16, 0.5)


def _canvas_or_output(fig):
    """The figure's ipympl canvas when it is a widget; otherwise an Output that shows the figure."""
    if isinstance(fig.canvas, widgets.DOMWidget):
        for name, value in (("header_visible", False), ("toolbar_position", "left"), ("resizable", False)):
            if hasattr(fig.canvas, name):
                setattr(fig.canvas, name, value)
        return fig.canvas
    out = widgets.Output()
    with out:
        display(fig)
    return out


LOSS_FLOOR = 1e-8  # the loss panel's bottom edge: smaller excess losses sit on the axis
STEP_AXIS_LIMITS = (10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


def step_axis_limit(num_steps: int) -> int:
    """The loss panel's right edge: the first round number ≥ num_steps, so most slider moves keep it."""
    return next((limit for limit in STEP_AXIS_LIMITS if limit >= num_steps), int(num_steps))


class Explorer:
    """What every explorer shares: a control moved while others are being set (``_holding``) waits,
    any other recomputes; a redraw blits, or draws in full after the axes changed; displaying the
    explorer shows its ``widget``. Subclasses provide ``update``, ``_use_surface`` and ``widget``.
    """

    _holding = False
    _full_redraw = True

    def _blitters(self) -> list[Blitter]:
        return [self.blitter]

    def _on_control(self, change) -> None:
        if not self._holding:
            self.update()

    def _on_surface(self, change) -> None:
        self._use_surface(get_surface(change["new"]))
        self.update()

    def _redraw(self) -> None:
        for blitter in self._blitters():
            blitter.refresh(full=self._full_redraw)
        self._full_redraw = False

    def _ipython_display_(self) -> None:
        display(self.widget)


class LossSurfaceExplorer(Explorer):
    """Gradient descent on a 2-D loss surface: contour + path, loss vs step, and a 3-D view."""

    def __init__(self, surface: str = "seed_quadratic", *, show_3d: bool = True) -> None:
        first = get_surface(surface)
        self.surface_picker = widgets.Dropdown(
            options=[(s.title, s.name) for s in SURFACES.values()], value=first.name,
            description="surface")
        self.lr_slider = widgets.FloatLogSlider(value=first.lr, base=10, min=-4, max=0.5, step=0.05,
                                                description="lr", readout_format=".4f")
        self.steps_slider = widgets.IntSlider(value=first.num_steps, min=0, max=1000, description="steps")
        self.w1_slider = widgets.FloatSlider(description="start w1", step=0.05)
        self.w2_slider = widgets.FloatSlider(description="start w2", step=0.05)
        self.elev_slider = widgets.IntSlider(value=35, min=-90, max=90, description="elevation")
        self.azim_slider = widgets.IntSlider(value=-60, min=-180, max=180, description="azimuth")
        self.readout = widgets.HTML()
        self.show_3d = show_3d
        self._holding = False

        with plt.ioff():
            self.fig, (self.ax_contour, self.ax_loss) = plt.subplots(
                1, 2, figsize=(9, 4), gridspec_kw={"width_ratios": [1.1, 1]})
            self.fig3d = plt.figure(figsize=(4.2, 4)) if show_3d else None
        self.ax3d = self.fig3d.add_subplot(projection="3d") if show_3d else None
        self.blitter = Blitter(self.fig)
        self.blitter3d = Blitter(self.fig3d) if show_3d else None
        self._use_surface(first)

        self.surface_picker.observe(self._on_surface, names="value")
        for slider in (self.lr_slider, self.steps_slider, self.w1_slider, self.w2_slider):
            slider.observe(self._on_control, names="value")
        for slider in (self.elev_slider, self.azim_slider):
            slider.observe(self._on_view, names="value")
        self.fig.canvas.mpl_connect("button_press_event", self._on_click)
        self.update()

    # --- the state the controls describe -------------------------------------------------------
    @property
    def surface(self) -> Surface:
        return get_surface(self.surface_picker.value)

    @property
    def start(self) -> tuple[float, float]:
        return (self.w1_slider.value, self.w2_slider.value)

    def compute(self) -> DescentPath:
        """The pure result the figure shows for the current controls."""
        return run_descent(self.surface, self.start, self.lr_slider.value, self.steps_slider.value)

    # --- callbacks --------------------------------------------------------------------------------
    def _blitters(self) -> list[Blitter]:
        return [self.blitter] if self.blitter3d is None else [self.blitter, self.blitter3d]

    def _on_view(self, change) -> None:
        if self.ax3d is not None:
            self.ax3d.view_init(self.elev_slider.value, self.azim_slider.value)
            self.blitter3d.refresh(full=True)

    def _on_click(self, event) -> None:
        if event.inaxes is self.ax_contour and event.xdata is not None:
            self.set_start(event.xdata, event.ydata)

    def set_start(self, w1: float, w2: float) -> None:
        """Move the start point (clamped to the drawn region) and redraw once."""
        self._holding = True
        try:
            self.w1_slider.value, self.w2_slider.value = float(w1), float(w2)
        finally:
            self._holding = False
        self.update()

    # --- drawing ----------------------------------------------------------------------------------
    def _use_surface(self, surface: Surface) -> None:
        """Redraw the static layers for ``surface`` and create the artists that updates move."""
        self._holding = True
        for slider, (lo, hi), value in ((self.w1_slider, surface.w1_range, surface.start[0]),
                                        (self.w2_slider, surface.w2_range, surface.start[1])):
            slider.min, slider.max = -1e9, 1e9  # widen first so min < max holds at every step
            slider.min, slider.max, slider.value = lo, hi, value
        self.lr_slider.value, self.steps_slider.value = surface.lr, surface.num_steps
        self._holding = False

        self.ax_contour.clear()
        plot_contour(self.ax_contour, surface)
        self.ax_contour.set_title(f"{surface.title}: L = {surface.formula}", fontsize=9, y=1.01)
        (self.path_line,) = self.ax_contour.plot([], [], ".-", color="tab:red", markersize=4, linewidth=1.2)
        (self.start_marker,) = self.ax_contour.plot([], [], "o", color="tab:red", markersize=7)
        (self.end_marker,) = self.ax_contour.plot([], [], "s", color="tab:red", markersize=7)
        self.diverged_text = self.ax_contour.text(
            0.5, 0.03, "", transform=self.ax_contour.transAxes, ha="center", color="#b00",
            fontweight="bold", bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})

        self.ax_loss.clear()
        (self.loss_line,) = self.ax_loss.semilogy([1], [1], color="tab:red")
        # fixed per surface, so moving lr or the start point never changes the tick labels
        self.ax_loss.set_ylim(LOSS_FLOOR, 10 * float(surface.grid()[2].max() - surface.min_loss))
        self.ax_loss.set(xlabel="step", ylabel="L(w) − L(w*)")
        self.ax_loss.set_title("loss above the minimum", fontsize=9, y=1.01)
        self.ax_loss.yaxis.set_major_locator(LogLocator(numticks=6))
        self.ax_loss.yaxis.set_minor_locator(NullLocator())
        self.ax_loss.grid(True, which="major", alpha=0.3)
        for ax in (self.ax_contour, self.ax_loss):
            fix_label_positions(ax)

        if self.ax3d is not None:
            self.ax3d.clear()
            plot_surface_3d(self.ax3d, surface)
            self.ax3d.view_init(self.elev_slider.value, self.azim_slider.value)
            (self.path3d,) = self.ax3d.plot([], [], [], ".-", color="tab:red", markersize=3, zorder=10)
            self.blitter3d.set_artists([self.path3d])
        self.blitter.set_artists([self.path_line, self.start_marker, self.end_marker,
                                  self.diverged_text, self.loss_line])
        self._full_redraw = True

    def show(self, path: DescentPath) -> None:
        """Move the existing artists to show ``path`` (a diverged or empty path included)."""
        surface, points = self.surface, path.points
        self.path_line.set_data(points[:, 0], points[:, 1])
        self.start_marker.set_data(points[:1, 0], points[:1, 1])
        self.end_marker.set_data(points[-1:, 0], points[-1:, 1])
        self.end_marker.set_marker("x" if path.diverged else "s")
        self.diverged_text.set_text(f"diverged at step {path.diverged_at}" if path.diverged else "")
        excess = np.maximum(path.losses - surface.min_loss, LOSS_FLOOR)
        finite = np.isfinite(excess)
        self.loss_line.set_data(np.arange(len(excess))[finite], excess[finite])
        xlim = (0, step_axis_limit(self.steps_slider.value))
        if self.ax_loss.get_xlim() != xlim:
            self.ax_loss.set_xlim(*xlim)
            self._full_redraw = True
        if self.ax3d is not None:
            self.path3d.set_data_3d(points[:, 0], points[:, 1], surface_heights(surface, path.losses))
        self.readout.value = describe_path(path, surface)

    def update(self) -> DescentPath:
        """Recompute from the controls, move the artists, redraw; returns the path shown."""
        self.path = self.compute()
        self.show(self.path)
        self._redraw()
        return self.path

    # --- display ----------------------------------------------------------------------------------
    @property
    def widget(self) -> widgets.Widget:
        """The whole explorer as one widget."""
        if not hasattr(self, "_widget"):
            controls = widgets.VBox([
                widgets.HBox([self.surface_picker, self.lr_slider, self.steps_slider]),
                widgets.HBox([self.w1_slider, self.w2_slider]),
                self.readout,
            ])
            panels = [_canvas_or_output(self.fig)]
            if self.fig3d is not None:
                panels.append(widgets.VBox([_canvas_or_output(self.fig3d), self.elev_slider, self.azim_slider]))
            # the panels wrap onto a second row on narrow screens instead of being cut off
            wrap = widgets.Layout(display="flex", flex_flow="row wrap", align_items="flex-start")
            self._widget = widgets.VBox([controls, widgets.Box(panels, layout=wrap)])
        return self._widget



# --- lesson 03: momentum on a quadratic, and torch.optim's optimizers side by side --------------

MOMENTUM_SURFACES = ("ravine", "seed_quadratic")
GD_COLOR, MOMENTUM_COLOR = "tab:blue", "tab:red"
DISTANCE_FLOOR = 1e-8  # the distance panel's bottom edge


def describe_rates(surface: Surface, lr: float, momentum: float) -> str:
    """HTML: the theoretical rates of GD and momentum on a quadratic surface, and γ* for this lr."""
    lams = surface.curvatures()
    gd, heavy = descent.gd_rate(lr, lams), descent.momentum_rate(lr, momentum, lams)

    def say(rate: float) -> str:
        if rate >= 1:
            return f"<b style='color:#b00'>{rate:.4f}</b> (≥ 1: the distance grows)"
        return f"<b>{rate:.4f}</b> (1000× closer in {np.log(1e-3) / np.log(rate):.0f} steps)"

    star = (f"γ* = (1 − √(η·λmin))² = <b>{descent.critical_momentum(lr, float(lams[0])):.4f}</b>"
            if lr * lams[0] <= 1 else "γ*: undefined (η·λmin > 1)")
    return (f"λ = {lams[0]:.3g}, {lams[-1]:.3g} | rate per step: GD {say(gd)}; "
            f"momentum {say(heavy)} | {star}")


class MomentumExplorer(Explorer):
    """Plain GD and heavy-ball momentum on a quadratic: paths, distance to the minimum, theory."""

    def __init__(self, surface: str = "ravine") -> None:
        if surface not in MOMENTUM_SURFACES:
            raise ValueError(f"surface must be one of {list(MOMENTUM_SURFACES)}, got {surface!r}")
        first = get_surface(surface)
        self.surface_picker = widgets.Dropdown(
            options=[(get_surface(n).title, n) for n in MOMENTUM_SURFACES], value=surface,
            description="surface")
        self.lr_slider = widgets.FloatLogSlider(value=first.lr, base=10, min=-3, max=0, step=0.02,
                                                description="lr η", readout_format=".4f")
        self.momentum_slider = widgets.FloatSlider(value=0.9, min=0.0, max=0.99, step=0.001,
                                                   description="momentum γ", readout_format=".3f",
                                                   style={"description_width": "initial"})
        self.steps_slider = widgets.IntSlider(value=100, min=0, max=500, description="steps")
        self.snap_button = widgets.Button(description="set γ to γ*", tooltip="critical damping")
        self.readout = widgets.HTML()
        self.rates_readout = widgets.HTML()
        self._holding = False

        with plt.ioff():
            self.fig, (self.ax_contour, self.ax_distance) = plt.subplots(
                1, 2, figsize=(9, 4), gridspec_kw={"width_ratios": [1.1, 1]})
        self.blitter = Blitter(self.fig)
        self._use_surface(first)

        self.surface_picker.observe(self._on_surface, names="value")
        for slider in (self.lr_slider, self.momentum_slider, self.steps_slider):
            slider.observe(self._on_control, names="value")
        self.snap_button.on_click(lambda _: self.snap_to_critical())
        self.update()

    @property
    def surface(self) -> Surface:
        return get_surface(self.surface_picker.value)

    def compute(self) -> tuple[DescentPath, DescentPath]:
        """The pure results the figure shows: (plain GD, heavy-ball momentum) from the surface's start."""
        s, lr, steps = self.surface, self.lr_slider.value, self.steps_slider.value
        return (run_descent(s, s.start, lr, steps),
                run_descent(s, s.start, lr, steps, momentum=self.momentum_slider.value))

    def critical_momentum(self) -> float:
        """γ* for the current lr and surface (clamped to the slider's range)."""
        lam_min = float(self.surface.curvatures()[0])
        lr = min(self.lr_slider.value, 1 / lam_min)
        return min(critical_momentum(lr, lam_min), self.momentum_slider.max)

    def snap_to_critical(self) -> float:
        """Set γ to the critical damping γ* (what the button does); returns it."""
        self.momentum_slider.value = self.critical_momentum()
        return self.momentum_slider.value

    def _use_surface(self, surface: Surface) -> None:
        """Draw the static layers for ``surface`` and create the artists that updates move."""
        self._holding = True
        self.lr_slider.value = surface.lr
        self._holding = False
        self.ax_contour.clear()
        plot_contour(self.ax_contour, surface)
        self.ax_contour.set_title(f"{surface.title}: L = {surface.formula}", fontsize=9, y=1.01)
        self.ax_distance.clear()
        self.lines, self.distance_lines, self.theory_lines, self.end_markers = {}, {}, {}, {}
        for key, color, label in (("gd", GD_COLOR, "plain GD"), ("momentum", MOMENTUM_COLOR, "momentum")):
            (self.lines[key],) = self.ax_contour.plot([], [], ".-", color=color, markersize=3,
                                                      linewidth=1.1, label=label)
            (self.end_markers[key],) = self.ax_contour.plot([], [], "s", color=color, markersize=7)
            (self.distance_lines[key],) = self.ax_distance.semilogy([1], [1], color=color, label=label)
            (self.theory_lines[key],) = self.ax_distance.semilogy(
                [1], [1], "--", color=color, linewidth=0.9, label=f"{label}: theory d₀·rᵗ")
        self.ax_contour.plot(*surface.start, "o", color="black", markersize=6)
        self.ax_contour.legend(loc="lower left", fontsize=8)
        self.diverged_text = self.ax_contour.text(
            0.5, 0.93, "", transform=self.ax_contour.transAxes, ha="center", color="#b00",
            fontweight="bold", bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
        W1, W2, _ = surface.grid()
        farthest = float(np.hypot(W1 - surface.minima[0][0], W2 - surface.minima[0][1]).max())
        self.ax_distance.set_ylim(DISTANCE_FLOOR, 10 * farthest)  # fixed, so redraws are blits
        self.ax_distance.set(xlabel="step", ylabel="‖w − w*‖")
        self.ax_distance.set_title("distance to the minimum", fontsize=9, y=1.01)
        self.ax_distance.yaxis.set_major_locator(LogLocator(numticks=6))
        self.ax_distance.yaxis.set_minor_locator(NullLocator())
        self.ax_distance.grid(True, which="major", alpha=0.3)
        self.ax_distance.legend(loc="lower left", fontsize=7)
        for ax in (self.ax_contour, self.ax_distance):
            fix_label_positions(ax)
        self.blitter.set_artists([*self.lines.values(), *self.end_markers.values(),
                                  *self.distance_lines.values(), *self.theory_lines.values(),
                                  self.diverged_text])
        self._full_redraw = True

    def show(self, paths: tuple[DescentPath, DescentPath]) -> None:
        """Move the existing artists to show the two paths (diverged or empty ones included)."""
        surface = self.surface
        lr, momentum, lams = self.lr_slider.value, self.momentum_slider.value, surface.curvatures()
        rates = {"gd": descent.gd_rate(lr, lams), "momentum": descent.momentum_rate(lr, momentum, lams)}
        diverged = []
        for key, path in zip(("gd", "momentum"), paths, strict=True):
            points = path.points
            self.lines[key].set_data(points[:, 0], points[:, 1])
            self.end_markers[key].set_data(points[-1:, 0], points[-1:, 1])
            self.end_markers[key].set_marker("x" if path.diverged else "s")
            distances = np.maximum(descent.distances_to(path, surface.global_minimum), DISTANCE_FLOOR)
            steps = np.arange(len(distances))
            self.distance_lines[key].set_data(steps, distances)
            theory_steps = np.arange(self.steps_slider.value + 1)
            with np.errstate(over="ignore", divide="ignore"):
                theory = distances[0] * rates[key] ** theory_steps
            self.theory_lines[key].set_data(theory_steps, np.clip(theory, DISTANCE_FLOOR, 1e300))
            if path.diverged:
                diverged.append(f"{'GD' if key == 'gd' else 'momentum'} diverged at step {path.diverged_at}")
        self.diverged_text.set_text("; ".join(diverged))
        xlim = (0, step_axis_limit(self.steps_slider.value))
        if self.ax_distance.get_xlim() != xlim:
            self.ax_distance.set_xlim(*xlim)
            self._full_redraw = True
        self.readout.value = " | ".join(
            f"<b style='color:#b00'>{name}: diverged at step {p.diverged_at}</b>" if p.diverged else
            f"{name}: distance {p.distance_to(surface.global_minimum):.3g} after {p.num_steps} steps"
            for name, p in zip(("GD", "momentum"), paths, strict=True))
        self.rates_readout.value = describe_rates(surface, lr, momentum)

    def update(self) -> tuple[DescentPath, DescentPath]:
        """Recompute from the controls, move the artists, redraw; returns (GD path, momentum path)."""
        self.paths = self.compute()
        self.show(self.paths)
        self._redraw()
        return self.paths

    @property
    def widget(self) -> widgets.Widget:
        """The whole explorer as one widget."""
        if not hasattr(self, "_widget"):
            controls = widgets.VBox([
                widgets.HBox([self.surface_picker, self.steps_slider]),
                widgets.HBox([self.lr_slider, self.momentum_slider, self.snap_button]),
                self.rates_readout, self.readout,
            ])
            self._widget = widgets.VBox([controls, _canvas_or_output(self.fig)])
        return self._widget



OPTIMIZER_LABELS = {"sgd": "SGD", "momentum": "momentum", "nesterov": "Nesterov",
                    "rmsprop": "RMSprop", "adam": "Adam"}
OPTIMIZER_COLORS = {"sgd": "tab:blue", "momentum": "tab:red", "nesterov": "tab:purple",
                    "rmsprop": "tab:orange", "adam": "tab:green"}
# Learning rates that make each optimizer move sensibly on each surface, and a number of steps.
COMPARISON_SETTINGS = {
    "seed_quadratic": {"num_steps": 100, "lr": {"sgd": 0.05, "momentum": 0.005, "nesterov": 0.005,
                                                 "rmsprop": 0.3, "adam": 0.5}},
    "ravine": {"num_steps": 100, "lr": {"sgd": 0.09, "momentum": 0.02, "nesterov": 0.02,
                                         "rmsprop": 0.1, "adam": 0.2}},
    "rosenbrock": {"num_steps": 200, "lr": {"sgd": 0.0012, "momentum": 0.0012, "nesterov": 0.0012,
                                             "rmsprop": 0.05, "adam": 0.2}},
    "two_minima": {"num_steps": 100, "lr": {"sgd": 0.05, "momentum": 0.05, "nesterov": 0.05,
                                             "rmsprop": 0.03, "adam": 0.1}},
}


def describe_runs(paths: dict[str, DescentPath], surface: Surface) -> str:
    """HTML, one line per optimizer: where it ended, or the step at which it diverged."""
    lines = []
    for name, path in paths.items():
        label = f"<b style='color:{OPTIMIZER_COLORS[name]}'>{OPTIMIZER_LABELS[name]}</b>"
        if path.diverged:
            lines.append(f"{label}: <b style='color:#b00'>diverged at step {path.diverged_at}</b>")
        else:
            distance = min(path.distance_to(m) for m in surface.minima)
            lines.append(f"{label}: loss − L* {path.final_loss - surface.min_loss:.3g}, "
                         f"distance to the nearest minimum {distance:.3g}")
    return "<br>".join(lines) or "tick at least one optimizer"


class OptimizerComparison(Explorer):
    """torch.optim's SGD, momentum, Nesterov, RMSprop and Adam stepping a 2-D tensor: paths overlaid."""

    def __init__(self, surface: str = "ravine",
                 selected: tuple[str, ...] = ("sgd", "momentum", "adam")) -> None:
        names = OPTIMIZER_NAMES
        unknown = [name for name in selected if name not in names]
        if unknown:
            raise ValueError(f"selected must hold names from {list(names)}, got {unknown}")
        first = get_surface(surface)
        self.surface_picker = widgets.Dropdown(
            options=[(s.title, s.name) for s in SURFACES.values()], value=first.name, description="surface")
        self.checkboxes = {n: widgets.Checkbox(value=n in selected, description=OPTIMIZER_LABELS[n],
                                               indent=False, layout=widgets.Layout(width="110px"))
                           for n in names}
        # torch.optim runs cost far more than NumPy ones: recompute when a drag ends, not during it
        self.lr_sliders = {n: widgets.FloatLogSlider(base=10, min=-4, max=0.5, step=0.05, description="lr",
                                                     readout_format=".4f", continuous_update=False)
                           for n in names}
        self.momentum_slider = widgets.FloatSlider(value=0.9, min=0.0, max=0.99, step=0.01,
                                                   description="γ (mom., Nest.)", readout_format=".2f",
                                                   continuous_update=False)
        self.steps_slider = widgets.IntSlider(min=0, max=1000, description="steps")
        self.readout = widgets.HTML()
        self._holding, self._cache = False, {}

        with plt.ioff():
            self.fig, (self.ax_contour, self.ax_loss) = plt.subplots(
                1, 2, figsize=(9, 4), gridspec_kw={"width_ratios": [1.1, 1]})
        self.blitter = Blitter(self.fig)
        self._use_surface(first)

        self.surface_picker.observe(self._on_surface, names="value")
        for control in (*self.checkboxes.values(), *self.lr_sliders.values(),
                        self.momentum_slider, self.steps_slider):
            control.observe(self._on_control, names="value")
        self.update()

    @property
    def surface(self) -> Surface:
        return get_surface(self.surface_picker.value)

    @property
    def selected(self) -> tuple[str, ...]:
        """The ticked optimizers, in the fixed order of OPTIMIZER_NAMES."""
        return tuple(n for n, box in self.checkboxes.items() if box.value)

    def settings(self, name: str) -> dict:
        """The keyword arguments ``run_torch_optimizer`` gets for ``name`` from the controls."""
        extra = {"momentum": self.momentum_slider.value} if name in ("momentum", "nesterov") else {}
        return {"lr": self.lr_sliders[name].value, **extra}

    def path(self, name: str) -> DescentPath:
        """``name``'s path for the current controls; runs are kept, so only changed ones recompute."""
        surface, steps = self.surface, self.steps_slider.value
        settings = self.settings(name)
        # run to the next round number of steps, so dragging the steps slider mostly cuts a kept run
        key = (surface.name, name, *sorted(settings.items()), step_axis_limit(steps))
        if key not in self._cache:
            if len(self._cache) > 200:
                self._cache.clear()
            self._cache[key] = descent.run_torch_optimizer(surface, surface.start, name,
                                                     num_steps=step_axis_limit(steps), **settings)
        return descent.first_steps(self._cache[key], steps)

    def compute(self) -> dict[str, DescentPath]:
        """The pure results the figure shows: one path per ticked optimizer."""
        return {name: self.path(name) for name in self.selected}

    def _use_surface(self, surface: Surface) -> None:
        """Reset the controls to the surface's settings, draw its static layers, create the artists."""
        preset = COMPARISON_SETTINGS[surface.name]
        self._holding = True
        for name, slider in self.lr_sliders.items():
            slider.value = preset["lr"][name]
        self.steps_slider.value = preset["num_steps"]
        self._holding = False

        self.ax_contour.clear()
        plot_contour(self.ax_contour, surface)
        self.ax_contour.set_title(f"{surface.title}: L = {surface.formula}", fontsize=9, y=1.01)
        self.ax_contour.plot(*surface.start, "o", color="black", markersize=6)
        self.ax_loss.clear()
        self.lines, self.loss_lines = {}, {}
        for name, color in OPTIMIZER_COLORS.items():
            (self.lines[name],) = self.ax_contour.plot([], [], ".-", color=color, markersize=3,
                                                       linewidth=1.1, label=OPTIMIZER_LABELS[name])
            (self.loss_lines[name],) = self.ax_loss.semilogy([1], [1], color=color)
        self.ax_contour.legend(loc="lower left", fontsize=7, ncol=2)
        self.ax_loss.set_ylim(LOSS_FLOOR, 10 * float(surface.grid()[2].max() - surface.min_loss))
        self.ax_loss.set(xlabel="step", ylabel="L(w) − L(w*)")
        self.ax_loss.set_title("loss above the minimum", fontsize=9, y=1.01)
        self.ax_loss.yaxis.set_major_locator(LogLocator(numticks=6))
        self.ax_loss.yaxis.set_minor_locator(NullLocator())
        self.ax_loss.grid(True, which="major", alpha=0.3)
        for ax in (self.ax_contour, self.ax_loss):
            fix_label_positions(ax)
        self.blitter.set_artists([*self.lines.values(), *self.loss_lines.values()])
        self._full_redraw = True

    def show(self, paths: dict[str, DescentPath]) -> None:
        """Move each optimizer's artists to its path; unticked optimizers are hidden."""
        surface = self.surface
        for name in OPTIMIZER_COLORS:
            path = paths.get(name)
            self.lines[name].set_visible(path is not None)
            self.loss_lines[name].set_visible(path is not None)
            if path is None:
                continue
            self.lines[name].set_data(path.points[:, 0], path.points[:, 1])
            self.lines[name].set_marker("." if not path.diverged else "x")
            excess = np.maximum(path.losses - surface.min_loss, LOSS_FLOOR)
            finite = np.isfinite(excess)
            self.loss_lines[name].set_data(np.arange(len(excess))[finite], excess[finite])
        xlim = (0, step_axis_limit(self.steps_slider.value))
        if self.ax_loss.get_xlim() != xlim:
            self.ax_loss.set_xlim(*xlim)
            self._full_redraw = True
        self.readout.value = describe_runs(paths, surface)

    def update(self) -> dict[str, DescentPath]:
        """Recompute from the controls, move the artists, redraw; returns the paths shown."""
        self.paths = self.compute()
        self.show(self.paths)
        self._redraw()
        return self.paths

    @property
    def widget(self) -> widgets.Widget:
        """The whole comparison as one widget."""
        if not hasattr(self, "_widget"):
            rows = [widgets.HBox([self.checkboxes[n], self.lr_sliders[n]]) for n in self.checkboxes]
            controls = widgets.VBox([widgets.HBox([self.surface_picker, self.steps_slider]),
                                     *rows, self.momentum_slider, self.readout])
            self._widget = widgets.HBox([controls, _canvas_or_output(self.fig)])
        return self._widget



# --- lesson 04: the noise of a mini-batch gradient -------------------------------------------------
NOISE_CLOUD_BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 569)  # 569: the whole data set
NOISE_CLOUD_POINTS = {"start": ("at the start (0, −2.5)", (0.0, -2.5)),
                      "near": ("near the minimum, at (−3.5, 0.6)", (-3.5, 0.6))}
NOISE_CLOUD_COLOR = "tab:red"


def describe_cloud(cloud: NoiseCloud, num_samples: int) -> str:
    """One line of HTML: iterations per epoch, measured and theoretical variance, share of downhill batches."""
    head = f"<b>B = {cloud.batch_size}</b>: {cloud.iterations_per_epoch} iterations per epoch (drop_last)"
    if cloud.batch_size >= num_samples:
        return (f"{head} | every batch is the whole data set, so every batch gradient <i>is</i> ∇L: "
                f"variance 0, the factor (m − B)/(m − 1) = 0")
    return (f"{head} | variance of g_B: measured <b>{cloud.measured_variance:.4g}</b>, theory "
            f"{cloud.theory_variance:.4g} | variance × B = {cloud.measured_variance * cloud.batch_size:.3g} | "
            f"{cloud.share_downhill:.0%} of the batch gradients point downhill (g_B·∇L > 0)")


class NoiseCloudExplorer(Explorer):
    """Gradients of many seeded mini-batches at one point of the breast-cancer logistic regression.

    Left: each dot is one batch's gradient (∂L/∂w, ∂L/∂b), the ellipse is two standard deviations
    of the theory Σ/B·(m − B)/(m − 1) around the full-batch gradient (black arrow). Right: the
    variance against the batch size, log-log, with the current batch size circled.
    """

    def __init__(self, batch_size: int = 16, point: str = "start", num_batches: int = 200,
                 seed: int = 0) -> None:
        if batch_size not in NOISE_CLOUD_BATCH_SIZES:
            raise ValueError(f"batch_size must be one of {list(NOISE_CLOUD_BATCH_SIZES)}, got {batch_size!r}")
        if point not in NOISE_CLOUD_POINTS:
            raise ValueError(f"point must be one of {list(NOISE_CLOUD_POINTS)}, got {point!r}")
        if isinstance(num_batches, bool) or not isinstance(num_batches, int) or num_batches < 2:
            raise ValueError(f"num_batches must be an int >= 2, got {num_batches!r}")
        self.problem = breast_cancer_logistic()
        self.num_batches, self.seed, self._measured = num_batches, seed, {}
        self.batch_slider = widgets.SelectionSlider(options=NOISE_CLOUD_BATCH_SIZES, value=batch_size,
                                                    description="batch size")
        self.point_picker = widgets.Dropdown(options=[(label, key) for key, (label, _) in NOISE_CLOUD_POINTS.items()],
                                             value=point, description="point w")
        self.readout = widgets.HTML()
        with plt.ioff():
            self.fig, (self.ax_cloud, self.ax_variance) = plt.subplots(
                1, 2, figsize=(9.5, 4.2), gridspec_kw={"width_ratios": [1.1, 1]})
        self.blitter = Blitter(self.fig)
        self._use_point(point)
        self.batch_slider.observe(self._on_batch_size, names="value")
        self.point_picker.observe(self._on_point, names="value")
        self.update()

    @property
    def w(self) -> np.ndarray:
        """The point at which the gradients are taken, (w, b)."""
        return np.array(NOISE_CLOUD_POINTS[self.point_picker.value][1])

    def compute(self) -> NoiseCloud:
        """The pure result the figure shows for the current controls."""
        return noise_cloud(self.problem, self.w, self.batch_slider.value, self.num_batches, seed=self.seed)

    def _on_batch_size(self, change) -> None:
        self.update()

    def _on_point(self, change) -> None:
        self._use_point(change["new"])
        self.update()

    def _use_point(self, point: str) -> None:
        """Draw the static layers for ``point`` (fixed limits, the arrow, the variance curves) and the moving artists."""
        w, m = np.array(NOISE_CLOUD_POINTS[point][1]), self.problem.num_samples
        per_sample = self.problem.sample_grads(w)          # the B = 1 cloud can reach any of these
        full = self.problem.grad(w)
        corners = np.vstack([per_sample, full, np.zeros(2)])
        low, high = corners.min(axis=0), corners.max(axis=0)
        pad = 0.08 * (high - low)
        self.ax_cloud.clear()
        self.ax_cloud.set(xlim=(low[0] - pad[0], high[0] + pad[0]), ylim=(low[1] - pad[1], high[1] + pad[1]),
                          xlabel="∂L/∂w", ylabel="∂L/∂b")
        self.ax_cloud.annotate("", xy=tuple(full), xytext=(0, 0),
                               arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.8})
        self.ax_cloud.plot(0, 0, "+", color="black", markersize=9)
        self.ax_cloud.set_title(f"batch gradients {NOISE_CLOUD_POINTS[point][0]}; arrow: ∇L",
                                fontsize=9, y=1.01)
        (self.cloud_dots,) = self.ax_cloud.plot([], [], ".", color=NOISE_CLOUD_COLOR, alpha=0.35, markersize=4)
        (self.ellipse_line,) = self.ax_cloud.plot([], [], color=NOISE_CLOUD_COLOR, linewidth=1.2)
        self.batch_text = self.ax_cloud.text(0.03, 0.95, "", transform=self.ax_cloud.transAxes, va="top",
                                             fontsize=9, bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})

        sizes = np.array([b for b in NOISE_CLOUD_BATCH_SIZES if b < m])   # B = m has variance 0: off a log axis
        theory = np.array([minibatch_variance(self.problem, w, int(b)) for b in sizes])
        if point not in self._measured:   # the measured dots of the right panel, once per point
            self._measured[point] = {int(b): noise_cloud(self.problem, w, int(b), self.num_batches,
                                                         seed=self.seed).measured_variance for b in sizes}
        self.measured_by_batch = self._measured[point]
        self.ax_variance.clear()
        self.ax_variance.loglog(sizes, theory, "-", color="tab:blue", label="theory Σ/B·(m − B)/(m − 1)")
        self.ax_variance.loglog(sizes, theory[0] / sizes, "--", color="0.5", linewidth=1, label="1/B")
        self.ax_variance.loglog(sizes, list(self.measured_by_batch.values()), "o", color=NOISE_CLOUD_COLOR,
                                markersize=4, label=f"measured, {self.num_batches} batches")
        (self.current_marker,) = self.ax_variance.plot([], [], "o", markersize=13, markerfacecolor="none",
                                                       markeredgecolor="black", markeredgewidth=1.5)
        self.ax_variance.set(xlabel="batch size B", ylabel="E‖g_B − ∇L‖²")
        self.ax_variance.set_ylim(theory.min() / 5, theory.max() * 3)   # fixed, so slider moves are blits
        self.ax_variance.set_title("variance of a batch gradient", fontsize=9, y=1.01)
        self.ax_variance.grid(True, which="major", alpha=0.3)
        self.ax_variance.legend(fontsize=7, loc="lower left")
        for ax in (self.ax_cloud, self.ax_variance):
            fix_label_positions(ax)
        self.blitter.set_artists([self.cloud_dots, self.ellipse_line, self.batch_text, self.current_marker])
        self._full_redraw = True

    def show(self, cloud: NoiseCloud) -> None:
        """Move the existing artists to show ``cloud``."""
        m = self.problem.num_samples
        self.cloud_dots.set_data(cloud.gradients[:, 0], cloud.gradients[:, 1])
        ellipse = covariance_ellipse(cloud.full_gradient, cloud.covariance)
        self.ellipse_line.set_data(ellipse[:, 0], ellipse[:, 1])
        self.batch_text.set_text(f"B = {cloud.batch_size}: {len(cloud.gradients)} batch gradients")
        if cloud.batch_size < m:
            self.current_marker.set_data([cloud.batch_size], [cloud.measured_variance])
        else:
            self.current_marker.set_data([], [])
        self.readout.value = describe_cloud(cloud, m)

    def update(self) -> NoiseCloud:
        """Recompute from the controls, move the artists, redraw; returns the cloud shown."""
        self.cloud = self.compute()
        self.show(self.cloud)
        self._redraw()
        return self.cloud

    @property
    def widget(self) -> widgets.Widget:
        """The whole explorer as one widget."""
        if not hasattr(self, "_widget"):
            controls = widgets.VBox([widgets.HBox([self.batch_slider, self.point_picker]), self.readout])
            self._widget = widgets.VBox([controls, _canvas_or_output(self.fig)])
        return self._widget

