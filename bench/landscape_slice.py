"""How fast a slice of the tutorial network's loss is computed, against the plain loop, and how fast lesson 13's
explorer redraws (headless, Agg).

The network is lesson 13's: TutorialMLP after one epoch of SGD (momentum 0.9, lr 0.02, batches of 32, seed 0)
on the 50 000 training images of the seed-0 split. The slice is the plane through the trained weights along two
filter-normalized random directions (seeds 0 and 1), a, b ∈ [−1, 1], on lesson 13's 2 000 seeded training
images. Timed in the same run: ``PlaneEvaluator`` (first layer once per plane, the rest batched) for 31 × 31 and
15 × 15 points, its construction included; the plain loop ``losses_at`` (load the weights, forward, repeat) for
31 × 31 (checked equal); and a 2 000 × 784 × 512 matrix product, the machine's measured peak, to report the
fraction of it each reaches (FLOPs counted as 2·m·n·k per product). Then the explorer's redraw after each control
change (median of 20; slices already computed; a click computes one point exactly). The record also keeps the
31 × 31 slice's losses, which ``figures/landscape_explorer.png`` is drawn from. Targets: 31 × 31 in ≤ 10 s and
15 × 15 in ≤ 2 s on 2 cores; redraws ≤ 50 ms. Writes bench/landscape_slice.json.
Run: .venv/bin/python bench/landscape_slice.py
"""

from __future__ import annotations

import time

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from timing import median_ms, write_record  # noqa: E402  (bench/timing.py)
from torch import nn  # noqa: E402

from lessons_src import set_seed  # noqa: E402
from lessons_src.data import fashion_mnist_splits, normalize  # noqa: E402
from lessons_src.landscape import combine, get_weights, losses_at, train_recording  # noqa: E402
from lessons_src.landscape_explorer import LandscapeExplorer, pca_plane, random_plane  # noqa: E402
from lessons_src.models import TutorialMLP  # noqa: E402
from lessons_src.training import TensorLoader  # noqa: E402

NUM_EXAMPLES, SPAN = 2000, 1.0
BARS_S = {31: 10.0, 15: 2.0}
BAR_MS = 50.0
REPEATS = 20


def train() -> tuple[nn.Module, object, torch.Tensor, torch.Tensor]:
    """Lesson 13's SGD run with its path, and the 2 000 evaluation images."""
    splits = fashion_mnist_splits()
    X, y = normalize(splits.train[0]), splits.train[1]
    idx = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))[:NUM_EXAMPLES]
    set_seed(0)
    model = TutorialMLP()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    loader = TensorLoader(X, y, 32, shuffle=True, seed=0)
    path = train_recording(model, loader, nn.CrossEntropyLoss(), optimizer, 1, every=len(loader) // 30)
    return model, path, X[idx], y[idx]


def peak_gflops() -> float:
    """The best of 20 runs of a 2 000 × 784 × 512 matrix product, in GFLOP/s."""
    a, b = torch.randn(NUM_EXAMPLES, 784), torch.randn(784, 512)
    best = min(_seconds(lambda: a @ b) for _ in range(20))
    return 2 * NUM_EXAMPLES * 784 * 512 / best / 1e9


def _seconds(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def flops(points: int, factored: bool) -> float:
    """Matrix-product FLOPs of a slice of ``points`` points on the tutorial network."""
    rest = 2 * NUM_EXAMPLES * (512 * 512 + 512 * 10)
    first = 2 * NUM_EXAMPLES * 784 * 512
    return 3 * first + points * rest if factored else points * (first + rest)


def main() -> dict:
    model, path, X, y = train()
    weights = get_weights(model)
    peak = peak_gflops()
    results, grids = {}, {}
    for resolution in (31, 15):
        runs = []
        for _ in range(1 if resolution == 31 else 3):
            plane = random_plane(model, weights, X, y, seeds=(0, 1), span=SPAN)  # construction timed too
            start = time.perf_counter()
            grids[resolution] = random_plane(model, weights, X, y, seeds=(0, 1), span=SPAN).grid(1.0, resolution)
            runs.append(time.perf_counter() - start)
        seconds = float(np.median(runs))
        results[f"{resolution}x{resolution} factored (s)"] = round(seconds, 2)
        results[f"{resolution}x{resolution} fraction of peak"] = round(
            flops(resolution**2, True) / seconds / 1e9 / peak, 3)
    evaluator = plane.evaluator
    directions = [[t for wb in layer for t in wb if t is not None] for layer in evaluator.layers[1:]]
    grid = grids[31]
    A, B = np.meshgrid(grid.a, grid.b)
    start = time.perf_counter()
    naive, _ = losses_at(model, [combine(weights, directions, (a, b)) for a, b in zip(A.ravel(), B.ravel(),
                                                                                        strict=True)], X, y)
    naive_seconds = time.perf_counter() - start
    assert np.allclose(naive.reshape(A.shape), grid.loss, rtol=1e-4), "the factored slice differs from the loop"
    results["31x31 plain loop (s)"] = round(naive_seconds, 2)
    results["31x31 plain loop fraction of peak"] = round(flops(961, False) / naive_seconds / 1e9 / peak, 3)
    results["speed-up over the plain loop"] = round(naive_seconds / results["31x31 factored (s)"], 2)
    results["peak: 2000x784x512 matmul (GFLOP/s)"] = round(peak, 1)
    results["within the targets (31x31 <= 10 s, 15x15 <= 2 s)"] = all(
        results[f"{r}x{r} factored (s)"] <= bar for r, bar in BARS_S.items())
    return {"slice": results, "explorer redraw (ms)": redraws(model, path, X, y),
            "grid 31x31": {"a": grid.a.round(4).tolist(), "b": grid.b.round(4).tolist(),
                           "loss": np.round(grid.loss, 5).tolist()}}


def redraws(model, path, X, y) -> dict:
    """Median kernel time of each control change of the explorer, slices already computed."""
    planes = [random_plane(model, get_weights(model), X, y, name="random"), pca_plane(model, path, X, y, name="SGD")]
    explorer = LandscapeExplorer(planes, resolution=15)
    for plane in planes:
        for zoom in (1.0, 2.0):
            plane.grid(zoom, 15)
    explorer.fig.canvas.draw()
    names = [p.name for p in planes]
    times = {"plane (dropdown)": median_ms(lambda v: setattr(explorer.plane_picker, "value", v),
                                           [names[(i + 1) % 2] for i in range(REPEATS)]),
             "range (slider)": median_ms(lambda v: setattr(explorer.zoom_slider, "value", v),
                                         [(2.0, 1.0)[i % 2] for i in range(REPEATS)])}
    explorer.plane_picker.value = names[1]  # the PCA plane: the one with a path
    times["path (dropdown)"] = median_ms(lambda v: setattr(explorer.path_picker, "value", v),
                                         [(None, "SGD")[i % 2] for i in range(REPEATS)])
    times["click (one point computed exactly)"] = median_ms(lambda v: explorer.read_point(*v),
                                                            [(0.01 * i, -0.01 * i) for i in range(REPEATS)])
    times["contour / 3-D (toggle, full redraw)"] = median_ms(lambda v: setattr(explorer.view_picker, "value", v),
                                                             [("3-D", "contour")[i % 2] for i in range(REPEATS)])
    times = {k: round(v, 1) for k, v in times.items()}
    moves = [k for k in times if "computed" not in k and "3-D" not in k]  # blitted: no recomputation, no 3-D
    return {**times, "bar (ms)": BAR_MS, "every blitted control within the bar": all(times[k] <= BAR_MS for k in moves)}


if __name__ == "__main__":
    write_record(__file__, main())
