"""Live displays: what the explorers share, and a training curve that fills in as it trains.

Blitting (redraw only what moves), sliders that refuse values they could never show, small
helpers for an explorer's panels and its layout (controls that wrap, figures that scroll), the
:class:`Explorer` base that wires controls to one update, and :class:`LiveCurve`. The explorers
themselves are in :mod:`lessons_src.widgets`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import ipywidgets as widgets
import matplotlib.figure
import matplotlib.pyplot as plt
import numpy as np
import traitlets
from IPython.display import display

from lessons_src.descent import round_up_steps
from lessons_src.frames import send_fast_frames
from lessons_src.language import tr
from lessons_src.plotting import LOSS_FLOOR, plot_contour, style_step_panel
from lessons_src.surfaces import Surface, get_surface
from lessons_src.validation import as_int, as_real

TEXT_BOX = {"facecolor": "white", "alpha": 0.8, "edgecolor": "none"}


# --- drawing fast ------------------------------------------------------------------------------------
@contextmanager
def drawn_here(fig: matplotlib.figure.Figure) -> Iterator[None]:
    """The block moves and draws ``fig``'s artists itself: pyplot must not redraw the figure for them.

    In interactive mode pyplot redraws a figure that one of its artists marked stale, at once and again
    after every message the kernel handles (a slider's too). Drawing an axis marks its ticks stale, so a
    figure that blits an axis would ask for a full draw after each frame, and the full draw blits it
    again: ipympl then sends frames forever while nobody touches a control. Within this block nothing
    asks for a redraw, and when it ends without an error the figure counts as drawn.
    """
    callback, fig.stale_callback = fig.stale_callback, None
    try:
        yield
        fig.stale = False  # what the block changed, it drew
    finally:
        fig.stale_callback = callback


class Blitter:
    """Redraw only the moving artists of a figure over a saved background (matplotlib's blitting).

    A full draw (first display, resize, new limits) saves the background; :meth:`refresh` then
    restores it, draws the animated artists and pushes the pixels, which is many times cheaper
    than redrawing every tick label.

    Artists that change with a few control values only (an axis whose limits follow the lr) can be
    ``cached``: drawn over the background once per value of ``key()``, kept as a layer, and restored
    with it when that value comes back, so a frame draws them only the first time.
    """

    MAX_LAYERS = 32  # kept layers (a full figure's pixels each); all are dropped when more are needed

    def __init__(self, fig: matplotlib.figure.Figure) -> None:
        self.fig, self.canvas = fig, fig.canvas
        self.artists: list = []
        self.cached: list = []
        self._key: Callable[[], Hashable] | None = None
        self._layers: dict = {}  # key() → the background with the cached artists drawn over it
        self._background = None
        self._background_bounds: tuple | None = None  # the figure's size when the background was saved
        self.canvas.mpl_connect("draw_event", self._on_draw)

    def set_artists(self, artists: list, *, cached: Sequence = (), key: Callable[[], Hashable] | None = None) -> None:
        """Track these artists (marking them animated, so full draws leave them out); ``cached`` ones are drawn
        under them and kept per value of ``key()`` (which must change whenever they would look different)."""
        if cached and key is None:
            raise ValueError("cached artists need a key: a function whose value changes whenever they would look "
                             "different, e.g. lambda: ax.get_ylim()")
        for artist in [*cached, *artists]:
            artist.set_animated(True)
        self.artists, self.cached, self._key = list(artists), list(cached), key
        self._background = None
        self._layers.clear()

    def _on_draw(self, event) -> None:
        self._background = self.canvas.copy_from_bbox(self.fig.bbox)
        self._background_bounds = tuple(self.fig.bbox.bounds)
        self._layers.clear()
        self._draw_artists(self.cached + self.artists)

    def _draw_artists(self, artists: list) -> None:
        with drawn_here(self.fig):
            for artist in artists:
                self.fig.draw_artist(artist)

    def _restore_layer(self) -> None:
        """The background, with the cached artists drawn over it (from the kept layer when there is one)."""
        if not self.cached:
            self.canvas.restore_region(self._background)
            return
        key = self._key()
        if key in self._layers:
            self.canvas.restore_region(self._layers[key])
            return
        self.canvas.restore_region(self._background)
        self._draw_artists(self.cached)
        if len(self._layers) >= self.MAX_LAYERS:
            self._layers.clear()
        self._layers[key] = self.canvas.copy_from_bbox(self.fig.bbox)

    def refresh(self, full: bool = False) -> None:
        """Push the current artists to the screen; a full redraw when asked or when no background exists."""
        # a background saved before the browser resized the figure no longer fits its pixels: restoring it
        # would write outside the smaller buffer, so the figure is drawn whole instead
        stale = self._background_bounds != tuple(self.fig.bbox.bounds)
        if full or self._background is None or stale:
            # ipympl's draw_idle asks the browser to ask back for a draw, a round trip per frame: once the
            # browser shows the figure (before that it needs the round trip to size it), draw at once
            if getattr(self.canvas, "syncing_data_url", True):
                self.canvas.draw_idle()
            else:
                self.canvas.draw()
            return
        self._restore_layer()
        self._draw_artists(self.artists)
        self.canvas.blit(self.fig.bbox)


def fix_label_positions(*axes) -> None:
    """Pin the axis labels in place: matplotlib otherwise measures every tick label on each redraw."""
    for ax in axes:
        ax.xaxis.set_label_coords(0.5, -0.1)
        ax.yaxis.set_label_coords(-0.16, 0.5)


def canvas_or_output(fig: matplotlib.figure.Figure) -> widgets.Widget:
    """The figure's ipympl canvas when it is a widget (sending its frames fast: :mod:`lessons_src.frames`);
    otherwise an Output that shows the figure."""
    if isinstance(fig.canvas, widgets.DOMWidget):
        send_fast_frames(fig.canvas)
        for name, value in (("header_visible", False), ("toolbar_position", "left"), ("resizable", False)):
            if hasattr(fig.canvas, name):
                setattr(fig.canvas, name, value)
        return fig.canvas
    out = widgets.Output()
    with out:
        display(fig)
    return out


# --- layout: controls that wrap, figures that never get cut off ------------------------------------
SLIDER_TRACK_PX = 120  # the narrowest slider track a class can still drag on a projector
_READOUT_PX = 72  # a slider's number, with its margins
SLIDERS = (widgets.FloatSlider, widgets.IntSlider, widgets.FloatLogSlider, widgets.SelectionSlider)
_WRAP = {"display": "flex", "flex_flow": "row wrap", "align_items": "center"}


def description_px(description: str) -> int:
    """Width, in pixels, of the label column a control needs for ``description`` (about 9 px a character, 15 px
    a wide one: a Chinese or Japanese character)."""
    return max(36, sum(15 if unicodedata.east_asian_width(c) in "WF" else 9 for c in description) + 8)


def compact(control: widgets.Widget) -> widgets.Widget:
    """Give ``control`` a label that fits its description and, for a slider, a track of ≥ SLIDER_TRACK_PX px."""
    if not isinstance(control, (*SLIDERS, widgets.Dropdown)):
        return control
    label = description_px(control.description or "")
    control.style.description_width = f"{label}px"
    if isinstance(control, SLIDERS):
        low = label + SLIDER_TRACK_PX + _READOUT_PX + 16
        control.layout = widgets.Layout(min_width=f"{low}px", width=f"{low + 60}px", max_width="460px",
                                        flex="1 0 auto")
    elif isinstance(control, widgets.Dropdown):
        control.layout = widgets.Layout(width=f"{label + 190}px", min_width=f"{label + 150}px", flex="0 0 auto")
    return control


def control_panel(*controls: widgets.Widget) -> widgets.Box:
    """The controls in a row that wraps onto more rows in a narrow window, each at a usable width."""
    return widgets.Box([compact(c) for c in controls], layout=widgets.Layout(**_WRAP, width="100%",
                                                                             grid_gap="0 12px"))


def readout_panel(*readouts: widgets.HTML) -> widgets.VBox:
    """The text readouts, one under the other, each as wide as the output (they wrap between parts only)."""
    for readout in readouts:
        readout.layout = widgets.Layout(width="auto", max_width="100%")
    return widgets.VBox(list(readouts), layout=widgets.Layout(width="100%"))


def figure_box(fig: matplotlib.figure.Figure) -> widgets.Box:
    """The figure in a box that scrolls sideways when the window is narrower than the figure."""
    return widgets.Box([canvas_or_output(fig)], layout=widgets.Layout(max_width="100%", overflow="auto",
                                                                     flex="0 1 auto"))


def wrapping_row(*children: widgets.Widget) -> widgets.Box:
    """Children side by side when they fit, one under the other when they do not."""
    return widgets.Box(list(children), layout=widgets.Layout(**(_WRAP | {"align_items": "flex-start"}), width="100%"))


def two_panels(width_ratio: float = 1.1, figsize: tuple[float, float] = (8, 3.6)):
    """A figure with two side-by-side axes, made without showing it (the explorer shows it)."""
    with plt.ioff():
        return plt.subplots(1, 2, figsize=figsize, gridspec_kw={"width_ratios": [width_ratio, 1]})


def contour_panel(ax, surface: Surface) -> None:
    """Clear ``ax`` and draw the surface's contours, titled with its formula."""
    ax.clear()
    plot_contour(ax, surface)
    ax.set_title(f"{surface.shown_title}: L = {surface.formula}", fontsize=9, y=1.01)


def warning_text(ax, y: float):
    """An empty bold red text centred at height ``y`` of ``ax``, for a 'diverged' notice."""
    return ax.text(0.5, y, "", transform=ax.transAxes, ha="center", color="#b00", fontweight="bold",
                   bbox=TEXT_BOX)


def loss_panel(ax, surface: Surface):
    """Clear ``ax`` as a fixed log panel of L − L* against the step."""
    ax.clear()
    top = 10 * float(surface.grid()[2].max() - surface.min_loss)
    return style_step_panel(ax, top=top, floor=LOSS_FLOOR, ylabel="L(w) − L(w*)", title=tr("loss above the minimum"))


def surface_picker(names: Sequence[str], value: str) -> widgets.Dropdown:
    """A dropdown of the named surfaces, by title."""
    return widgets.Dropdown(options=[(get_surface(n).shown_title, n) for n in names], value=value,
                            description=tr("surface"))


def fit_step_axis(ax, num_steps: int) -> bool:
    """Move the step axis's right edge to the next round number; True when it moved (a full redraw)."""
    xlim = (0, round_up_steps(num_steps))
    if ax.get_xlim() == xlim:
        return False
    ax.set_xlim(*xlim)
    return True


# --- controls that refuse values a slider cannot take -------------------------------------------------
class ControlValueError(traitlets.TraitError, ValueError):
    """An explorer's control was set to a value outside what it offers; the control kept its value."""


class _AsGiven(traitlets.TraitType):
    """A slider value passed on unchanged, so that the slider's validator sees exactly what was set."""

    default_value = 0.0


class _Strict(traitlets.HasTraits):
    """A slider whose value must be a real number (any numeric type, never a bool) within [min, max]."""

    value = _AsGiven().tag(sync=True)

    def _bounds(self) -> tuple[float, float]:
        return self.min, self.max

    @traitlets.validate("value")
    def _validate_value(self, proposal: dict) -> float:
        low, high = self._bounds()
        value, integer = proposal["value"], isinstance(self, widgets.IntSlider)
        slack = 1e-9 * (high - low)  # a browser's log slider can overshoot an end by a rounding error
        try:
            number = (as_int("value", value, low=low, high=high) if integer
                      else as_real("value", value, low=low - slack, high=high + slack))
        except ValueError:
            fields = {"name": self.description or "value", "low": low, "high": high, "value": repr(value),
                      "current": repr(self.value)}
            raise ControlValueError(
                tr("{name} must be an int in [{low:g}, {high:g}], got {value}; it stays {current}", **fields)
                if integer else
                tr("{name} must be a finite number in [{low:g}, {high:g}], got {value}; it stays {current}",
                   **fields)) from None
        return min(max(number, low), high)


class StrictFloatSlider(_Strict, widgets.FloatSlider):
    """A FloatSlider that refuses NaN, ±inf, bools, non-numbers and values outside [min, max]."""


class StrictIntSlider(_Strict, widgets.IntSlider):
    """An IntSlider that refuses floats, bools, non-numbers and values outside [min, max]."""

    value = _AsGiven(0).tag(sync=True)


class StrictFloatLogSlider(_Strict, widgets.FloatLogSlider):
    """A FloatLogSlider that refuses NaN, ±inf, bools, non-numbers and values outside [base^min, base^max]."""

    value = _AsGiven(1.0).tag(sync=True)

    def _bounds(self) -> tuple[float, float]:
        return self.base**self.min, self.base**self.max


# --- what every explorer shares ------------------------------------------------------------------------
class Explorer:
    """Controls wired to :meth:`update`, a guard that holds updates while several controls are set,
    blitted redraws, and display as one widget.

    A subclass builds its controls and figure and calls :meth:`_start`. It defines ``compute()``
    (the pure result for the current controls), ``show(result)`` (move the artists using that
    result alone), ``_draw_static(choice)`` (the layers that change only with the picker) and
    ``widget``.
    """

    _holding = False
    _full_redraw = True
    result: Any = None

    def _start(self, picker: widgets.Widget, controls: Sequence[widgets.Widget]) -> None:
        """Draw ``picker``'s static layers, wire the picker and ``controls``, and show the first result."""
        self._draw_static(picker.value)
        picker.observe(self._on_picker, names="value")
        for control in controls:
            control.observe(self.update, names="value")
        self.update()

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Within this block, changed controls do not recompute (also when the block raises)."""
        held, self._holding = self._holding, True
        try:
            yield
        finally:
            self._holding = held

    def update(self, change: dict | None = None) -> Any:
        """Recompute from the controls, move the artists and redraw; returns the result shown."""
        if self._holding:
            return self.result
        self.result = self.compute()
        with ExitStack() as readouts:  # the new text goes out after the image: the figure shows first
            for readout in self._readouts():
                readouts.enter_context(readout.hold_sync())
            for blitter in self._blitters():  # the explorer draws its figures itself, once
                readouts.enter_context(drawn_here(blitter.fig))
            self.show(self.result)
            self._redraw()
        return self.result

    def _readouts(self) -> list[widgets.HTML]:
        return [w for w in vars(self).values() if isinstance(w, widgets.HTML)]

    def _on_picker(self, change: dict) -> None:
        self._draw_static(change["new"])
        self.update()

    @property
    def surface(self) -> Surface:
        """The surface the picker shows."""
        return get_surface(self.surface_picker.value)

    def _blitters(self) -> list[Blitter]:
        return [self.blitter]

    def _redraw(self) -> None:
        for blitter in self._blitters():
            blitter.refresh(full=self._full_redraw)
        self._full_redraw = False

    def _ipython_display_(self) -> None:
        display(self.widget)


# --- a training curve that fills in epoch by epoch ------------------------------------------------
class LiveCurve:
    """Loss and accuracy lines that redraw after every epoch: ``fit(..., on_epoch_end=LiveCurve(fig))``.

    A thin shell: it keeps three lines and, when called with a History, moves them with
    ``set_data`` and redraws. A live (ipympl) canvas redraws in place; with the inline backend
    the figure is shown once and that same output is replaced after each epoch, so the curve
    also fills in, and stays, in a static export.
    """

    def __init__(self, fig: matplotlib.figure.Figure) -> None:
        """Draw empty train/validation loss lines and a validation accuracy line on two new axes of ``fig``."""
        self.fig = fig
        self.ax_loss, self.ax_accuracy = fig.subplots(1, 2)
        (self.train_line,) = self.ax_loss.plot([], [], "o-", label=tr("train"))
        (self.val_line,) = self.ax_loss.plot([], [], "s--", label=tr("validation"))
        (self.accuracy_line,) = self.ax_accuracy.plot([], [], "o-", color="tab:green")
        self.ax_loss.set(xlabel=tr("epoch"), ylabel=tr("loss (mean over batches)"), xlim=(0.5, 1.5), ylim=(0, 2.5))
        self.ax_accuracy.set(xlabel=tr("epoch"), ylabel=tr("validation accuracy (%)"), xlim=(0.5, 1.5),
                             ylim=(0, 100))
        self.ax_loss.legend(fontsize=8)
        for ax in (self.ax_loss, self.ax_accuracy):
            ax.set_autoscale_on(True)  # the limits above only frame the empty plot
        fig.tight_layout()
        self._output = None
        if not isinstance(fig.canvas, widgets.DOMWidget):
            self._output = display(fig, display_id=True)
            plt.close(fig)  # shown through the handle above, not again at the end of the cell

    def __call__(self, history) -> None:
        """Show every epoch of ``history`` so far."""
        epochs = np.arange(1, history.num_epochs + 1)
        self.train_line.set_data(epochs, history.train_loss)
        self.val_line.set_data(epochs, history.val_loss)
        self.accuracy_line.set_data(epochs, 100 * np.asarray(history.val_accuracy))
        for ax in (self.ax_loss, self.ax_accuracy):
            ax.relim()
            ax.autoscale_view()
        if self._output is None:
            self.fig.canvas.draw()  # draw now: ipympl sends the new image while the cell still runs
        else:
            self._output.update(self.fig)
