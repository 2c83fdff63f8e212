"""Interactive explorers: thin ipywidgets/ipympl shells over the pure functions of the course.

Every callback does three things: read the controls, call a pure function (``run_descent``),
update existing artists (``set_data``) and ask for a redraw (``draw_idle``).
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import LogLocator, NullLocator

from lessons_src.descent import DescentPath, run_descent
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
        from IPython.display import display

        display(fig)
    return out


LOSS_FLOOR = 1e-8  # the loss panel's bottom edge: smaller excess losses sit on the axis
STEP_AXIS_LIMITS = (10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


def step_axis_limit(num_steps: int) -> int:
    """The loss panel's right edge: the first round number ≥ num_steps, so most slider moves keep it."""
    return next((limit for limit in STEP_AXIS_LIMITS if limit >= num_steps), int(num_steps))


class LossSurfaceExplorer:
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
    def _on_control(self, change) -> None:
        if not self._holding:
            self.update()

    def _on_surface(self, change) -> None:
        self._use_surface(get_surface(change["new"]))
        self.update()

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
        self.blitter.refresh(full=self._full_redraw)
        if self.blitter3d is not None:
            self.blitter3d.refresh(full=self._full_redraw)
        self._full_redraw = False
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
            self._widget = widgets.VBox([controls, widgets.HBox(panels)])
        return self._widget

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

