"""Lesson 13's landscape explorer: slices of a real network's loss, read live.

A :class:`Plane` is a centre and two directions in weight space with a :class:`~lessons_src.landscape.PlaneEvaluator`
(the first layer computed once), a default box and the training paths projected onto it. :func:`random_plane` and
:func:`pca_plane` build the two kinds the lesson uses. :func:`landscape_view` is the pure result of the controls: a
slice (from the cache, or computed at the asked resolution), the path to draw and the numbers to read;
:class:`LandscapePanel` draws it (the explorer's panel and the still figure's); :class:`LandscapeExplorer` is the
thin widget: choose the plane, the range, the resolution, the path and contour or 3-D; a click reads the loss.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import LogNorm
from torch import nn

from lessons_src.landscape import (
    PlaneEvaluator,
    SliceGrid,
    Trajectory,
    filter_normalized_direction,
    span_box,
    trajectory_pca,
    unflatten,
)
from lessons_src.language import tr
from lessons_src.live import TEXT_BOX, Blitter, Explorer, control_panel, figure_box, readout_panel
from lessons_src.validation import as_real

RESOLUTIONS = (7, 11, 15, 21, 31)
ZOOMS = (0.25, 0.5, 1.0, 2.0, 4.0)
VIEWS = ("contour", "3-D")
LOSS_NORM = (0.2, 5.0)  # the colour scale's loss range (chance is 2.3), the same for every plane so that slices compare


# --- planes --------------------------------------------------------------------------------------------
@dataclass
class Plane:
    """A plane through weight space: ``evaluator`` (centre + a·d1 + b·d2), its default ``box`` (a_min, a_max,
    b_min, b_max), the training ``paths`` projected onto it ((T, 2) each), axis labels, and computed slices."""

    name: str
    evaluator: PlaneEvaluator
    box: tuple[float, float, float, float]
    paths: dict[str, np.ndarray] = field(default_factory=dict)
    labels: tuple[str, str] = field(default_factory=lambda: (tr("a (direction 1)"), tr("b (direction 2)")))
    grids: dict[tuple[float, int], SliceGrid] = field(default_factory=dict)  # by (zoom, resolution)
    explained: tuple[float, ...] = ()  # a PCA plane's fractions of the path's variance along d1 and d2
    point_losses: dict[tuple[float, float], float] = field(default_factory=dict)  # exact losses read, by (a, b)

    def zoomed_box(self, zoom: float) -> tuple[float, float, float, float]:
        """The default box scaled by ``zoom`` about its middle."""
        zoom = as_real("zoom", zoom, low=0.0, low_open=True)
        a_mid, b_mid = (self.box[0] + self.box[1]) / 2, (self.box[2] + self.box[3]) / 2
        a_half, b_half = zoom * (self.box[1] - self.box[0]) / 2, zoom * (self.box[3] - self.box[2]) / 2
        return a_mid - a_half, a_mid + a_half, b_mid - b_half, b_mid + b_half

    def loss_at(self, a: float, b: float) -> float:
        """The exact loss at (a, b) (one weight vector evaluated, not interpolated), computed once and kept."""
        key = (as_real("a", a), as_real("b", b))
        if key not in self.point_losses:
            self.point_losses[key] = float(self.evaluator.evaluate(np.array([key]))[0][0])
        return self.point_losses[key]

    def grid(self, zoom: float, resolution: int) -> SliceGrid:
        """The slice over the zoomed box at ``resolution``² points, computed once and kept."""
        key = (float(zoom), int(resolution))
        if key not in self.grids:
            self.grids[key] = self.evaluator.grid(self.zoomed_box(zoom), resolution)
        return self.grids[key]


def random_plane(model: nn.Module, weights: Sequence[torch.Tensor], X: torch.Tensor, y: torch.Tensor, *,
                 seeds: tuple[int, int] = (0, 1), span: float = 1.0, name: str | None = None) -> Plane:
    """The plane through ``weights`` spanned by two filter-normalized random directions (seeded), box ±``span``."""
    directions = [filter_normalized_direction(weights, seed) for seed in seeds]
    return Plane(name or tr("random, seeds {first} and {second}", first=seeds[0], second=seeds[1]),
                 PlaneEvaluator(model, weights, directions, X, y), span_box(span),
                 labels=(tr("a (filter-normalized)"), tr("b (filter-normalized)")))


def pca_plane(model: nn.Module, trajectory: Trajectory, X: torch.Tensor, y: torch.Tensor, *, name: str,
              others: dict[str, Trajectory] | None = None, margin: float = 0.25) -> Plane:
    """The plane through the trajectory's last weights spanned by its top-2 PCA directions; the box holds the
    path with ``margin`` to spare; ``others``' paths are projected onto it too (their shadows on the plane)."""
    pca = trajectory_pca(trajectory.snapshots, k=2)
    centre = trajectory.snapshots[-1]
    like = list(model.parameters())
    directions = [unflatten(d.to(centre.dtype), like) for d in pca.directions]
    paths = {name: pca.coords}
    for other, run in (others or {}).items():
        paths[other] = ((run.snapshots - centre).double() @ pca.directions.double().T).cpu().numpy()
    low, high = pca.coords.min(axis=0), pca.coords.max(axis=0)
    pad = margin * (high - low).max()
    box = (low[0] - pad, high[0] + pad, low[1] - pad, high[1] + pad)
    labels = tuple(tr("PC{index} ({percent:.1f} % of the variance)", index=i + 1, percent=100 * pca.explained[i])
                   for i in range(2))
    return Plane(tr("PCA of {name}", name=name), PlaneEvaluator(model, unflatten(centre, like), directions, X, y), box,
                 paths, labels, explained=tuple(float(e) for e in pca.explained))


# --- the view: what the panel shows ---------------------------------------------------------------------
@dataclass(frozen=True)
class LandscapeView:
    """One setting of the explorer: the slice, the path drawn on it (or none), the view and the point read."""

    plane: str
    grid: SliceGrid
    labels: tuple[str, str]
    path_name: str | None
    path: np.ndarray | None  # (T, 2)
    view: str
    point: tuple[float, float] | None  # the point clicked, if any
    point_loss: float | None  # the loss there, computed exactly (not interpolated)

    @property
    def lowest(self) -> tuple[float, float, float]:
        """(a, b, loss) of the slice's lowest grid point."""
        j, i = np.unravel_index(np.nanargmin(self.grid.loss), self.grid.loss.shape)
        return float(self.grid.a[i]), float(self.grid.b[j]), float(self.grid.loss[j, i])


def landscape_view(plane: Plane, zoom: float, resolution: int, path_name: str | None = None, view: str = "contour",
                   point: tuple[float, float] | None = None) -> LandscapeView:
    """The view of ``plane`` zoomed by ``zoom`` at ``resolution``² points, with the path ``path_name`` (a key of
    ``plane.paths``, or None) and the exact loss at ``point`` (a, b), if given."""
    if view not in VIEWS:
        raise ValueError(tr("{name} must be one of {choices}, got {value}", name="view", choices=list(VIEWS),
                            value=repr(view)))
    if path_name is not None and path_name not in plane.paths:
        raise ValueError(tr("{name} must be None or one of {choices}, got {value}", name="path_name",
                            choices=list(plane.paths), value=repr(path_name)))
    if resolution not in RESOLUTIONS:
        raise ValueError(tr("{name} must be one of {choices}, got {value}; finer slices take longer than an explorer "
                            "should wait (use PlaneEvaluator.grid)", name="resolution", choices=list(RESOLUTIONS),
                            value=repr(resolution)))
    if point is not None and (not isinstance(point, Sequence) or len(point) != 2):
        raise ValueError(tr("point must be None or a pair (a, b), got {value}", value=repr(point)))
    grid = plane.grid(zoom, resolution)
    point_loss = None if point is None else plane.loss_at(*point)
    return LandscapeView(plane.name, grid, plane.labels, path_name,
                         None if path_name is None else plane.paths[path_name], view, point, point_loss)


def describe_view(view: LandscapeView) -> str:
    """One line of HTML: the loss at the centre, the slice's lowest point and range, and the point read."""
    a, b, low = view.lowest
    text = tr("<b>{plane}</b>: loss {centre:.3f} at the centre (0, 0); lowest on the grid {lowest:.3f} at "
              "({a:.2f}, {b:.2f}); highest {highest:.3g} ({columns}×{rows} points)", plane=view.plane,
              centre=view.grid.centre_loss, lowest=low, a=a, b=b, highest=np.nanmax(view.grid.loss),
              columns=len(view.grid.a), rows=len(view.grid.b))
    if view.point is not None:
        text += " | " + tr("<b>click</b>: loss {loss:.4f} at ({a:.3f}, {b:.3f})", loss=view.point_loss,
                           a=view.point[0], b=view.point[1])
    return text


# --- drawing -------------------------------------------------------------------------------------------
class LandscapePanel:
    """A contour axes and a 3-D axes in the same place (one shown): the slice as colours and contour lines, the
    path and its end, the lowest grid point and the point read. :meth:`show` moves them to a view."""

    def __init__(self, fig, rect: Sequence[float] = (0.1, 0.12, 0.68, 0.8)) -> None:
        self.fig = fig
        self.ax = fig.add_axes(rect)
        self.ax3d = fig.add_axes(rect, projection="3d")
        norm = LogNorm(*LOSS_NORM)
        self.image = self.ax.imshow(np.full((2, 2), 1.0), origin="lower", aspect="auto", cmap="viridis", norm=norm,
                                    extent=(0, 1, 0, 1), interpolation="nearest")  # a tile per grid point
        self.shown: SliceGrid | None = None  # the slice the image shows (as colours: see drawn_slice)
        self.image.get_cursor_data = self.loss_under  # the figure's footer reads the loss, not the tile's colour
        fig.colorbar(self.image, cax=fig.add_axes((rect[0] + rect[2] + 0.03, rect[1], 0.025, rect[3])),
                     label=tr("loss (log scale)"))
        (self.path_line,) = self.ax.plot([], [], ".-", color="white", markersize=3, linewidth=1.2)
        (self.path_end,) = self.ax.plot([], [], "s", color="white", markersize=6)
        (self.lowest,) = self.ax.plot([], [], "*", color="red", markersize=11, label=tr("lowest grid point"))
        (self.centre,) = self.ax.plot([0], [0], "o", color="black", markersize=6, label=tr("centre (0, 0)"))
        (self.point,) = self.ax.plot([], [], "x", color="magenta", markersize=10, mew=2)
        self.title = self.ax.set_title("", fontsize=9)
        self.ax.legend(loc="upper right", fontsize=7)
        self.contours = None  # the contour lines shown
        self.drawn_slices: dict[int, tuple[SliceGrid, np.ndarray, Any]] = {}  # by id(grid): see drawn_slice
        self.surface = None
        self.text = self.ax.text(0.02, 0.03, "", transform=self.ax.transAxes, fontsize=8, bbox=TEXT_BOX)

    @property
    def axes(self) -> list:
        """The contour view's axes and title: the box changes with the plane and the range, and the title with the
        plane and the path, so they are blitted too, and kept per look (:meth:`box`) once drawn."""
        return [self.ax.xaxis, self.ax.yaxis, self.title]

    def box(self) -> tuple:
        """What the axes and the title look like: the limits, the labels and the title's text."""
        return (self.ax.get_xlim(), self.ax.get_ylim(), self.ax.get_xlabel(), self.ax.get_ylabel(),
                self.title.get_text())

    @property
    def artists(self) -> list:
        """What moves with every view in the contour view, drawn over the axes."""
        return [self.image, self.path_line, self.path_end, self.lowest, self.centre, self.point, self.text,
                *([self.contours] if self.contours is not None else [])]

    def loss_under(self, event: Any) -> float | None:
        """The loss of the grid point whose tile is under the mouse (None off the slice)."""
        grid = self.shown
        if grid is None or event.xdata is None or event.ydata is None or event.inaxes is not self.ax:
            return None
        return float(grid.loss[np.abs(grid.b - event.ydata).argmin(), np.abs(grid.a - event.xdata).argmin()])

    def drawn_slice(self, grid: SliceGrid) -> tuple[np.ndarray, Any]:
        """``grid``'s tiles as colours (RGBA bytes, the colour bar's scale) and its contour lines (12 levels, log-spaced
        over its losses), made once per slice and kept: a slice shown again (the range slider moved back) reuses
        them; its lines are hidden while another slice shows."""
        kept = self.drawn_slices.get(id(grid))
        if kept is None:  # the grid kept in the entry keeps its id from being reused
            tiles = self.image.to_rgba(np.clip(grid.loss, *LOSS_NORM), bytes=True)
            levels = np.geomspace(max(np.nanmin(grid.loss), 1e-3), np.nanmax(grid.loss), 12)
            contours = self.ax.contour(grid.a, grid.b, grid.loss, levels=levels, colors="white", linewidths=0.5,
                                       alpha=0.6)
            contours.set_visible(False)
            contours.set_animated(self.image.get_animated())  # as the other artists: blitted in the explorer
            self.drawn_slices[id(grid)] = kept = (grid, tiles, contours)  # the slice kept too: its id stays its own
        return kept[1], kept[2]

    def show(self, view: LandscapeView) -> None:
        """Move the artists to ``view``: the slice's contour lines (made once per slice); the 3-D surface is redrawn."""
        grid, three_d = view.grid, view.view == "3-D"
        self.ax.set_visible(not three_d)
        self.ax3d.set_visible(three_d)
        tiles, contours = self.drawn_slice(grid)
        self.image.set_data(tiles)
        self.shown = grid
        # each tile centred on its grid point (the axes show the grid's own range: the edge tiles are halved); tiles
        # with a contour over them are what was computed, and their flat colours cost half the PNG of a smooth image
        da, db = (grid.a[-1] - grid.a[0]) / (len(grid.a) - 1), (grid.b[-1] - grid.b[0]) / (len(grid.b) - 1)
        self.image.set_extent((grid.a[0] - da / 2, grid.a[-1] + da / 2, grid.b[0] - db / 2, grid.b[-1] + db / 2))
        self.ax.set(xlim=(grid.a[0], grid.a[-1]), ylim=(grid.b[0], grid.b[-1]), xlabel=view.labels[0],
                    ylabel=view.labels[1])
        if self.contours is not None:
            self.contours.set_visible(False)
        self.contours = contours
        self.contours.set_visible(True)
        path = view.path if view.path is not None else np.empty((0, 2))
        self.path_line.set_data(path[:, 0], path[:, 1])
        self.path_end.set_data(path[-1:, 0], path[-1:, 1])
        a, b, _ = view.lowest
        self.lowest.set_data([a], [b])
        self.point.set_data(*(([view.point[0]], [view.point[1]]) if view.point is not None else ([], [])))
        self.title.set_text(tr("{plane} · path: {path}", plane=view.plane, path=view.path_name) if view.path_name
                            else view.plane)
        self.text.set_text(tr("loss at the centre {loss:.3f}", loss=grid.centre_loss))
        if three_d:
            self.ax3d.clear()
            A, B = np.meshgrid(grid.a, grid.b)
            log_loss = np.log10(np.clip(grid.loss, *LOSS_NORM))
            self.surface = self.ax3d.plot_surface(A, B, log_loss, cmap="viridis", norm=plt.Normalize(
                *np.log10(LOSS_NORM)), linewidth=0, antialiased=False)
            self.ax3d.set(xlabel=view.labels[0], ylabel=view.labels[1], zlabel=tr("log10 loss"),
                          title=self.title.get_text())  # the plane's own axis names, as in the contour view
            self.ax3d.view_init(35, -60)


# --- the widget ----------------------------------------------------------------------------------------
class LandscapeExplorer(Explorer):
    """Slices of a real network's loss: pick the plane, the range (× the plane's box), the resolution (slices not
    yet computed are computed on demand), the path to draw, contour or 3-D; click the contour to read the loss."""

    def __init__(self, planes: Sequence[Plane], *, resolution: int = 15) -> None:
        if not planes:
            raise ValueError(tr("planes must hold at least one Plane, got none"))
        if resolution not in RESOLUTIONS:
            raise ValueError(tr("{name} must be one of {choices}, got {value}", name="resolution",
                                choices=list(RESOLUTIONS), value=repr(resolution)))
        names = [plane.name for plane in planes]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(tr("planes must have different names (the dropdown shows them), got {repeated} more "
                                "than once: pass name= to random_plane or pca_plane", repeated=repeated))
        self.planes = {plane.name: plane for plane in planes}
        self.plane_picker = widgets.Dropdown(options=list(self.planes), description=tr("plane"))
        self.zoom_slider = widgets.SelectionSlider(options=[(f"×{z:g}", z) for z in ZOOMS], value=1.0,
                                                   description=tr("range"), continuous_update=False)
        self.resolution_picker = widgets.Dropdown(options=[(f"{r}×{r}", r) for r in RESOLUTIONS], value=resolution,
                                                  description=tr("resolution"))
        self.path_picker = widgets.Dropdown(description=tr("path"))
        self.view_picker = widgets.ToggleButtons(options=[(tr("contour"), "contour"), (tr("3-D"), "3-D")],
                                                 value="contour")
        self.readout = widgets.HTML()
        self.point: tuple[float, float] | None = None
        with plt.ioff():
            self.fig = plt.figure(figsize=(6.2, 4.6))
        self.panel = LandscapePanel(self.fig, rect=(0.16, 0.12, 0.62, 0.8))  # left of 0.16: ipympl's toolbar
        self.blitter = Blitter(self.fig)
        self.blitter.set_artists(self.panel.artists, cached=self.panel.axes, key=self.panel.box)
        self.fig.canvas.mpl_connect("button_press_event", self.on_click)
        self._start(self.plane_picker, [self.zoom_slider, self.resolution_picker, self.path_picker,
                                        self.view_picker])

    @property
    def plane(self) -> Plane:
        """The plane shown."""
        return self.planes[self.plane_picker.value]

    @property
    def view(self) -> LandscapeView:
        """The view shown."""
        return self.result

    def _draw_static(self, name: str) -> None:
        """A new plane: offer its paths (its own first), forget the point read. Its axes and title are a new kept
        layer over the same background (the colour bar and the legend do not change), so it is blitted too."""
        paths = list(self.planes[name].paths)
        with self.holding():
            self.path_picker.options = [(tr("none"), None), *((p, p) for p in paths)]
            self.path_picker.index = 1 if paths else 0  # by index: a Dropdown's value None would show it blank
        self.point = None

    def compute(self) -> LandscapeView:
        """The pure result for the current controls (and the point clicked)."""
        return landscape_view(self.plane, self.zoom_slider.value, self.resolution_picker.value,
                              self.path_picker.value, self.view_picker.value, self.point)

    def show(self, view: LandscapeView) -> None:
        """Move the artists to ``view`` and write the readout; 3-D and view changes redraw the whole figure."""
        self._full_redraw |= view.view == "3-D" or self.panel.ax.get_visible() != (view.view == "contour")
        self.panel.show(view)
        # new contour lines are new artists: track them without dropping the saved background
        contour = view.view == "contour"
        self.blitter.artists = self.panel.artists if contour else []
        self.blitter.cached = self.panel.axes if contour else []
        self.readout.value = describe_view(view)

    def read_point(self, a: float, b: float) -> LandscapeView:
        """Read the exact loss at (a, b) of the plane shown (what a click does); a point outside the box shown is
        refused (ValueError), and nothing changes."""
        a_min, a_max, b_min, b_max = self.plane.zoomed_box(self.zoom_slider.value)
        point = (as_real("a", a, low=a_min, high=a_max), as_real("b", b, low=b_min, high=b_max))  # checked first
        self.point = point
        return self.update()

    def on_click(self, event: Any) -> None:
        """A click on the contour reads the loss there."""
        if event.inaxes is self.panel.ax and event.xdata is not None and not math.isnan(event.xdata):
            self.read_point(event.xdata, event.ydata)

    @property
    def widget(self) -> widgets.Widget:
        """The whole explorer as one widget."""
        if not hasattr(self, "_widget"):
            controls = control_panel(self.plane_picker, self.path_picker, self.zoom_slider, self.resolution_picker,
                                     self.view_picker)
            self.plane_picker.layout.width = "360px"  # the planes' names are long: "random plane at SGD, batch 2 048"
            self._widget = widgets.VBox([controls, readout_panel(self.readout), figure_box(self.fig)])
        return self._widget
