"""Lesson 11's schedule explorer: four learning-rate schedules at four peak lrs, read off a grid of runs.

The grid is the record ``bench/schedule_grid.py`` writes (the notebook loads it and passes it in):
``settings`` (``num_epochs``, ``steps_per_epoch``, ``lrs``, ...) and ``runs[name][repr(lr)]``, each run
holding per-epoch ``train_loss``, ``val_loss``, ``val_accuracy`` (fractions) and ``seconds``, and
``diverged`` (None, or why the run stopped early). The pure functions read the grid and compute a
:class:`ScheduleView`; :func:`schedule_panels` draws the two panels (the explorer's and the static
figure's); :class:`ScheduleExplorer` is the thin widget over them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.colors import to_hex
from matplotlib.lines import Line2D
from matplotlib.text import Text

from lessons_src.language import tr
from lessons_src.live import (
    TEXT_BOX,
    Blitter,
    Explorer,
    control_panel,
    figure_box,
    fix_label_positions,
    readout_panel,
    two_panels,
)
from lessons_src.readouts import parts, warning
from lessons_src.schedules import Schedule
from lessons_src.validation import as_int, as_real

SCHEDULE_COLORS = {"constant": "tab:gray", "step": "tab:blue", "warmup_cosine": "tab:green", "one_cycle": "tab:red"}
CURVE_KEYS = ("train_loss", "val_loss", "val_accuracy", "seconds")


# --- reading the grid ------------------------------------------------------------------------------
def grid_names(grid: dict) -> tuple[str, ...]:
    """The schedules the grid holds, in its order."""
    return tuple(grid["runs"])


def grid_lrs(grid: dict) -> tuple[float, ...]:
    """The peak learning rates the grid holds, ascending."""
    return tuple(sorted(float(lr) for lr in grid["settings"]["lrs"]))


def grid_curves(grid: dict, name: str, lr: float) -> dict[str, Any]:
    """One cell of the grid: per-epoch arrays (``epochs`` 1..n, losses, ``val_accuracy`` as fractions,
    ``seconds``), ``final_val_accuracy`` (NaN when no epoch finished) and ``diverged`` (None or why)."""
    names, lrs = grid_names(grid), grid_lrs(grid)
    if name not in names:
        raise ValueError(tr("name must be one of the grid's schedules {choices}, got {value}", choices=list(names),
                            value=repr(name)))
    value = as_real("lr", lr, low=0.0, low_open=True)
    matches = [known for known in lrs if math.isclose(value, known, rel_tol=1e-6)]
    if not matches:
        raise ValueError(tr("lr must be one of the grid's lrs {choices}, got {value}", choices=list(lrs),
                            value=repr(lr)))
    cell = {float(key): run for key, run in grid["runs"][name].items()}[matches[0]]
    curves = {key: np.asarray(cell[key], dtype=float) for key in CURVE_KEYS}
    accuracy = curves["val_accuracy"]
    return {"name": name, "lr": matches[0], "epochs": np.arange(1, len(accuracy) + 1), **curves,
            "final_val_accuracy": float(accuracy[-1]) if len(accuracy) else math.nan,
            "diverged": cell.get("diverged")}


def best_cell(grid: dict) -> dict[str, Any]:
    """The cell with the highest final validation accuracy among the runs that finished (``grid_curves``'s dict)."""
    num_epochs = grid["settings"]["num_epochs"]
    cells = [grid_curves(grid, name, lr) for name in grid_names(grid) for lr in grid_lrs(grid)]
    finished = [c for c in cells if c["diverged"] is None and len(c["epochs"]) == num_epochs]
    if not finished:
        raise ValueError(tr("the grid holds no run that finished all its epochs"))
    return max(finished, key=lambda c: c["final_val_accuracy"])


def accuracy_limits(cells: list[dict]) -> tuple[float, float]:
    """y-limits (%) that hold every validation accuracy of ``cells`` (``grid_curves`` dicts), on even percents."""
    values = [100 * a for cell in cells for a in cell["val_accuracy"]]
    if not values:
        return 0.0, 100.0
    return max(0.0, 2 * math.floor(min(values) / 2 - 0.25)), min(100.0, 2 * math.ceil(max(values) / 2 + 0.25))


def lr_curve(name: str, lr: float, num_epochs: int, steps_per_epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """(epoch, lr) of every update: x = step / steps_per_epoch, shapes (num_epochs · steps_per_epoch,)."""
    total_steps = num_epochs * steps_per_epoch
    return np.arange(total_steps) / steps_per_epoch, Schedule(name, lr, total_steps).curve()


# --- the view: everything the panels and the readout show ----------------------------------------
@dataclass(frozen=True)
class ScheduleView:
    """One setting of the explorer: the chosen schedule's lr curve, every schedule's cell at that lr, the best cell."""

    name: str
    lr: float
    epochs: np.ndarray  # x of the lr curve, in epochs, shape (total_steps,)
    lrs: np.ndarray  # lr of every update, shape (total_steps,)
    cells: dict[str, dict]  # grid_curves of every schedule at this lr, by name
    accuracy_limits: tuple[float, float]  # y-limits (%) that hold every cell at this lr
    best: dict  # grid_curves of the grid's best cell

    @property
    def cell(self) -> dict:
        """The chosen cell."""
        return self.cells[self.name]

    @property
    def diverged(self) -> list[str]:
        """The schedules whose run diverged at this lr."""
        return [name for name, cell in self.cells.items() if cell["diverged"] is not None]


def schedule_view(grid: dict, name: str, lr: float, steps_per_epoch: int) -> ScheduleView:
    """The view for schedule ``name`` at peak ``lr``; ``steps_per_epoch`` must be the grid's (updates per epoch)."""
    steps_per_epoch = check_steps_per_epoch(grid, steps_per_epoch)
    chosen = grid_curves(grid, name, lr)  # refuses a name or lr not in the grid
    cells = {other: grid_curves(grid, other, chosen["lr"]) for other in grid_names(grid)}
    epochs, lrs = lr_curve(name, chosen["lr"], grid["settings"]["num_epochs"], steps_per_epoch)
    return ScheduleView(name, chosen["lr"], epochs, lrs, cells, accuracy_limits(list(cells.values())),
                        best_cell(grid))


def check_steps_per_epoch(grid: dict, steps_per_epoch: int) -> int:
    """``steps_per_epoch`` as an int, refused when it differs from the one the grid's runs took."""
    steps = as_int("steps_per_epoch", steps_per_epoch, low=1)
    recorded = grid["settings"].get("steps_per_epoch")
    if recorded is not None and steps != recorded:
        raise ValueError(tr("steps_per_epoch must be the grid's {recorded} (the updates per epoch its runs took), "
                            "got {value}", recorded=recorded, value=repr(steps_per_epoch)))
    return steps


def _percent(fraction: float) -> str:
    """A fraction as a percentage with two decimals."""
    return f"{100 * fraction:.2f} %"


def describe_view(view: ScheduleView) -> str:
    """One line of HTML: the chosen cell's final validation accuracy (or where it diverged), and the best cell."""
    cell, best = view.cell, view.best
    name = f"<b style='color:{to_hex(SCHEDULE_COLORS.get(view.name, 'black'))}'>{view.name}</b>"
    head = tr("{name} at peak lr {lr:g}:", name=name, lr=view.lr)
    if cell["diverged"] is not None:
        result = warning(tr("diverged in epoch {epoch}", epoch=len(cell["epochs"]) + 1))
    else:
        result = tr("validation accuracy <b>{accuracy}</b> after {epochs} epochs",
                    accuracy=_percent(cell["final_val_accuracy"]), epochs=len(cell["epochs"]))
    best_text = tr("best in the grid: {name} at lr {lr:g}, {accuracy}", name=best["name"], lr=best["lr"],
                   accuracy=_percent(best["final_val_accuracy"]))
    return parts(head, result, sep=" ") + " | " + parts(best_text)


# --- drawing -----------------------------------------------------------------------------------------
@dataclass
class SchedulePanels:
    """The artists a view moves: the lr curve (left) and one accuracy line per schedule (right)."""

    ax_lr: Any
    ax_accuracy: Any
    lr_line: Line2D
    accuracy_lines: dict[str, Line2D]
    diverged_text: Text

    @property
    def axes(self) -> list:
        """The two y-axes: their limits follow the peak lr, so they are blitted too (a new lr redraws a few tick
        labels, never the whole figure), and kept per pair of limits (:meth:`limits`) once drawn."""
        return [self.ax_lr.yaxis, self.ax_accuracy.yaxis]

    def limits(self) -> tuple:
        """What the y-axes look like: their limits."""
        return self.ax_lr.get_ylim(), self.ax_accuracy.get_ylim()

    @property
    def artists(self) -> list:
        """What moves with every view, in drawing order: the lines and the 'diverged' note."""
        return [self.lr_line, *self.accuracy_lines.values(), self.diverged_text]

    def show(self, view: ScheduleView) -> None:
        """Move the artists to ``view``: the chosen schedule bold, the others at the same lr faint."""
        color = SCHEDULE_COLORS.get(view.name, "black")
        self.lr_line.set_data(view.epochs, view.lrs)
        self.lr_line.set_color(color)
        self.ax_lr.set_ylim(0, 1.08 * view.lr)
        self.ax_accuracy.set_ylim(*view.accuracy_limits)
        for name, line in self.accuracy_lines.items():
            cell, chosen = view.cells[name], name == view.name
            line.set_data(cell["epochs"], 100 * cell["val_accuracy"])
            line.set(alpha=1.0 if chosen else 0.3, linewidth=2.2 if chosen else 1.0, marker="o" if chosen else ".")
        self.diverged_text.set_text(tr("diverged: {names}", names=", ".join(view.diverged)) if view.diverged else "")


def schedule_panels(ax_lr, ax_accuracy, grid: dict) -> SchedulePanels:
    """Style the two axes (fixed epochs; :meth:`SchedulePanels.show` sets the y-limits) and create the empty artists."""
    num_epochs = grid["settings"]["num_epochs"]
    ax_lr.set(xlim=(0, num_epochs), xticks=range(num_epochs + 1), xlabel=tr("epoch"), ylabel="lr")
    ax_lr.set_title(tr("lr of every update"), fontsize=9, y=1.01)
    ax_lr.grid(True, alpha=0.3)
    (lr_line,) = ax_lr.plot([], [], linewidth=1.6)
    ax_accuracy.set(xlim=(0.8, num_epochs + 0.2), xticks=range(1, num_epochs + 1), xlabel=tr("epoch"),
                    ylabel=tr("validation accuracy (%)"))
    ax_accuracy.set_title(tr("validation accuracy at this peak lr"), fontsize=9, y=1.01)
    ax_accuracy.grid(True, alpha=0.3)
    lines = {name: ax_accuracy.plot([], [], color=SCHEDULE_COLORS.get(name, "black"), markersize=5)[0]
             for name in grid_names(grid)}
    keys = [Line2D([], [], color=line.get_color(), label=name) for name, line in lines.items()]
    ax_accuracy.legend(handles=keys, loc="lower right", fontsize=7)
    fix_label_positions(ax_lr, ax_accuracy)
    diverged = ax_accuracy.text(0.03, 0.96, "", transform=ax_accuracy.transAxes, va="top", fontsize=8,
                                color="#b00", fontweight="bold", bbox=TEXT_BOX)  # top left: above epoch 1's points
    return SchedulePanels(ax_lr, ax_accuracy, lr_line, lines, diverged)


# --- the widget ----------------------------------------------------------------------------------------
class ScheduleExplorer(Explorer):
    """Pick a schedule and a peak lr: its lr over the run (left) and its validation accuracy per epoch (right),
    beside the other schedules at that lr, from a grid of runs recorded by ``bench/schedule_grid.py``."""

    def __init__(self, grid: dict, steps_per_epoch: int, *, name: str | None = None,
                 lr: float | None = None) -> None:
        names, lrs = grid_names(grid), grid_lrs(grid)
        name = names[0] if name is None else name
        lr = lrs[len(lrs) // 2] if lr is None else lr
        first = grid_curves(grid, name, lr)  # refuses a name or lr not in the grid
        self.grid, self.steps_per_epoch = grid, check_steps_per_epoch(grid, steps_per_epoch)
        self.schedule_picker = widgets.Dropdown(options=list(names), value=name, description=tr("schedule"))
        self.lr_slider = widgets.SelectionSlider(options=[(f"{v:g}", v) for v in lrs], value=first["lr"],
                                                 description="lr")
        self.readout = widgets.HTML()
        self.fig, (ax_lr, ax_accuracy) = two_panels(width_ratio=1.0, figsize=(8, 3.4))
        self.fig.subplots_adjust(left=0.1, right=0.98, bottom=0.16, top=0.9, wspace=0.3)
        self.panels = schedule_panels(ax_lr, ax_accuracy, grid)
        self.blitter = Blitter(self.fig)
        self.blitter.set_artists(self.panels.artists, cached=self.panels.axes, key=self.panels.limits)
        for control in (self.schedule_picker, self.lr_slider):
            control.observe(self.update, names="value")
        self.update()

    @property
    def view(self) -> ScheduleView:
        """The view shown."""
        return self.result

    def compute(self) -> ScheduleView:
        """The pure result for the current controls."""
        return schedule_view(self.grid, self.schedule_picker.value, self.lr_slider.value, self.steps_per_epoch)

    def show(self, view: ScheduleView) -> None:
        """Move the existing artists to ``view`` and write its readout."""
        self.panels.show(view)
        self.readout.value = describe_view(view)

    @property
    def widget(self) -> widgets.Widget:
        """The whole explorer as one widget."""
        if not hasattr(self, "_widget"):
            self._widget = widgets.VBox([control_panel(self.schedule_picker, self.lr_slider),
                                         readout_panel(self.readout), figure_box(self.fig)])
        return self._widget
