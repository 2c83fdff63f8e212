"""What the unit tests share: figures closed after every test, a figure's pixels, the artists'
data, and explorers built headless with their figures drawn once."""

from __future__ import annotations

from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def close_figures():
    """Every test starts without open figures and leaves none behind."""
    yield
    plt.close("all")


def _pixels(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba()).copy()


def _drawn(line) -> np.ndarray:
    return np.column_stack(line.get_data())


@pytest.fixture
def pixels() -> Callable:
    """``pixels(fig)``: the figure drawn in full, as an RGBA array (H, W, 4)."""
    return _pixels


@pytest.fixture
def drawn() -> Callable:
    """``drawn(line)``: the points a Line2D shows, shape (n, 2)."""
    return _drawn


@pytest.fixture
def make_explorer() -> Callable:
    """``make_explorer(cls, *args, **kwargs)``: an explorer whose figures have each been drawn once."""
    def make(cls, *args, **kwargs):
        explorer = cls(*args, **kwargs)
        for fig in (explorer.fig, getattr(explorer, "fig3d", None)):
            if fig is not None:
                fig.canvas.draw()
        return explorer
    return make


@pytest.fixture(scope="session")
def cancer():
    """Logistic regression on the breast-cancer data's mean radius (569 samples)."""
    from lessons_src.sample_losses import breast_cancer_logistic

    return breast_cancer_logistic()


@pytest.fixture(scope="session")
def wells():
    """Lesson 01's two-minima surface as the average of 256 seeded, tilted samples."""
    from lessons_src.sample_losses import tilted_two_minima

    return tilted_two_minima()
