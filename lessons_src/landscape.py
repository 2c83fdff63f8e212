"""A real network's loss landscape: directions in weight space, slices of the loss, trajectories, curvature.

Weights and directions are lists of tensors in the order of ``model.parameters()`` (the shape Li et al.'s
code uses), so a direction can be filter-normalized layer by layer. The loss along a line or over a plane
is evaluated at many weight vectors at once by :class:`PlaneEvaluator`: for a stack of ``Linear`` and
``ReLU`` layers the first layer's pre-activation is linear in the weights,
X(W + a·D + b·E)ᵀ = XWᵀ + a·XDᵀ + b·XEᵀ, so it is computed once per plane instead of once per point, and
the other layers run for a chunk of points at once with batched matrix products. :func:`losses_at` is the
plain loop (load the weights, run the model) it is tested against. Curvature: :func:`hessian_vector_product`
(Pearlmutter's double backward), its finite-difference check, and :func:`top_hessian_eigenvalue` by power
iteration. Everything runs on the model's device.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from lessons_src.language import tr
from lessons_src.validation import as_int, as_real

Weights = list[torch.Tensor]  # one tensor per parameter, in model.parameters() order

MAX_RESOLUTION = 61  # points per side of a slice: 61² = 3 721 weight vectors, about a minute on 2 cores
MAX_POINTS_PER_CHUNK = 4  # points run through the layers after the first at once on a CPU (a choice, not tuned)


# --- weights as lists of tensors ---------------------------------------------------------------------
def get_weights(model: nn.Module) -> Weights:
    """A detached copy of every parameter of ``model``, in ``model.parameters()`` order."""
    return [p.detach().clone() for p in model.parameters()]


def set_weights(model: nn.Module, weights: Sequence[torch.Tensor]) -> nn.Module:
    """Copy ``weights`` into ``model``'s parameters (same order and shapes); returns the model."""
    params = list(model.parameters())
    _check_like("weights", weights, params)
    with torch.no_grad():
        for p, w in zip(params, weights, strict=True):
            p.copy_(w)
    return model


def _check_like(name: str, tensors: Sequence[torch.Tensor], reference: Sequence[torch.Tensor]) -> None:
    """ValueError unless ``tensors`` holds one tensor of each shape in ``reference``, in order."""
    shapes = [tuple(t.shape) for t in tensors]
    wanted = [tuple(t.shape) for t in reference]
    if shapes != wanted:
        raise ValueError(tr("{name} must hold one tensor per parameter with shapes {wanted}, got {shapes}; "
                            "build it from the same model (get_weights, random_direction)", name=name,
                            wanted=wanted, shapes=shapes))


def flatten(weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """All tensors of ``weights`` as one vector (n,)."""
    return torch.cat([w.reshape(-1) for w in weights])


def unflatten(vector: torch.Tensor, like: Sequence[torch.Tensor]) -> Weights:
    """The vector (n,) cut into tensors shaped like ``like``."""
    sizes = [t.numel() for t in like]
    if vector.numel() != sum(sizes):
        raise ValueError(tr("vector must have {count} entries (the weights' count), got {numel}", count=sum(sizes),
                            numel=vector.numel()))
    return [piece.reshape(t.shape) for piece, t in zip(torch.split(vector, sizes), like, strict=True)]


def combine(centre: Sequence[torch.Tensor], directions: Sequence[Sequence[torch.Tensor]],
            coeffs: Sequence[float]) -> Weights:
    """centre + Σ_j coeffs[j]·directions[j], tensor by tensor."""
    out = [c.clone() for c in centre]
    for coeff, direction in zip(coeffs, directions, strict=True):
        for o, d in zip(out, direction, strict=True):
            o.add_(d, alpha=float(coeff))
    return out


# --- directions --------------------------------------------------------------------------------------
def random_direction(weights: Sequence[torch.Tensor], seed: int) -> Weights:
    """Gaussian noise shaped like ``weights``, drawn from a CPU generator seeded with ``seed`` (the same on every
    device), then moved to each weight's device."""
    generator = torch.Generator().manual_seed(as_int("seed", seed))
    return [torch.randn(w.shape, generator=generator, dtype=w.dtype).to(w.device) for w in weights]


def filter_normalize(direction: Sequence[torch.Tensor], weights: Sequence[torch.Tensor]) -> Weights:
    """Li et al.'s filter-wise normalization: each filter of ``direction`` (a row of a Linear weight, an output
    channel of a Conv weight: a slice along dim 0) rescaled to the norm of the same filter of ``weights``.
    Tensors with one dimension or none (biases, normalization layers' weights) are set to zero, as Li et al.
    do with ``--xignore biasbn`` in their figures: the slice moves only the filters."""
    _check_like("direction", direction, weights)
    out = []
    for d, w in zip(direction, weights, strict=True):
        if d.dim() <= 1:
            out.append(torch.zeros_like(d))
            continue
        d_norm = d.reshape(len(d), -1).norm(dim=1).clamp_min(1e-12)
        w_norm = w.reshape(len(w), -1).norm(dim=1)
        out.append(d * (w_norm / d_norm).reshape(-1, *([1] * (d.dim() - 1))))
    return out


def filter_normalized_direction(weights: Sequence[torch.Tensor], seed: int) -> Weights:
    """A seeded random direction, filter-normalized to ``weights``."""
    return filter_normalize(random_direction(weights, seed), weights)


# --- evaluating the loss at many weight vectors ------------------------------------------------------
def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The Linear layers of a model built from Flatten, Linear and ReLU only (ReLU between every two Linears,
    none after the last), in order; ValueError for any other model."""
    leaves = [m for m in model.modules() if not list(m.children())]
    kinds = [type(m).__name__ for m in leaves if not isinstance(m, nn.Flatten)]
    expected = [k for i in range(kinds.count("Linear")) for k in (["ReLU", "Linear"] if i else ["Linear"])]
    if not kinds or kinds != expected:
        raise ValueError(tr("model must be Flatten, then Linear layers with a ReLU between each two (like "
                            "TutorialMLP), got layers {kinds}; for another model use losses_at, the plain loop",
                            kinds=kinds))
    if [id(p) for p in model.parameters()] != [id(p) for m in leaves if isinstance(m, nn.Linear)
                                               for p in (m.weight, m.bias) if p is not None]:
        raise ValueError(tr("model's parameters must be its Linear layers' weight and bias, in order"))
    return [m for m in leaves if isinstance(m, nn.Linear)]


def _split_linear(weights: Sequence[torch.Tensor], layers: Sequence[nn.Linear]) -> list[tuple]:
    """(weight, bias or None) of each layer, taken from the flat list ``weights``."""
    out, i = [], 0
    for layer in layers:
        bias = weights[i + 1] if layer.bias is not None else None
        out.append((weights[i], bias))
        i += 2 if layer.bias is not None else 1
    return out


class PlaneEvaluator:
    """The mean cross-entropy and accuracy on (X, y) at weights centre + Σ_j c_j·directions[j], for many points c.

    Built once per plane (or line): the first layer's pre-activation for the centre and for every direction,
    X·Wᵀ + b, is computed here, once; :meth:`evaluate` then combines them per point and runs the remaining
    layers for up to ``MAX_POINTS_PER_CHUNK`` points at once (``torch.bmm``). The model must be a
    Flatten/Linear/ReLU stack (``linear_layers``); X and y are moved to the model's device.
    """

    def __init__(self, model: nn.Module, centre: Sequence[torch.Tensor], directions: Sequence[Sequence[torch.Tensor]],
                 X: torch.Tensor, y: torch.Tensor) -> None:
        layers = linear_layers(model)
        params = list(model.parameters())
        _check_like("centre", centre, params)
        for j, direction in enumerate(directions):
            _check_like(f"directions[{j}]", direction, params)
        if not directions:
            raise ValueError(tr("directions must hold at least one direction, got none"))
        if len(X) != len(y) or len(X) == 0:
            raise ValueError(tr("X and y must hold the same number (> 0) of examples, got {x_count} and {y_count}",
                                x_count=len(X), y_count=len(y)))
        self.device = params[0].device
        self.num_directions = len(directions)
        self.y = y.to(self.device)
        X = X.to(self.device).reshape(len(X), -1)
        self.layers = [_split_linear([t.to(self.device) for t in w], layers) for w in (centre, *directions)]
        with torch.no_grad():  # first layer: X·Wᵀ + b for the centre and for each direction, (1 + k, N, width)
            first = []
            for weight, bias in (layer[0] for layer in self.layers):
                z = X @ weight.T
                first.append(z if bias is None else z + bias)
            self.first = torch.stack(first)
        # the other layers' weights and biases for the centre and every direction, stacked: (1 + k, out, in)
        self.rest = [(torch.stack([layer[i][0] for layer in self.layers]),
                      None if self.layers[0][i][1] is None else torch.stack([layer[i][1] for layer in self.layers]))
                     for i in range(1, len(self.layers[0]))]

    def evaluate(self, coeffs: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(mean loss, accuracy) at each of the P points ``coeffs`` (P, k): float64 arrays (P,)."""
        c = torch.as_tensor(np.asarray(coeffs, dtype=np.float64), dtype=self.first.dtype, device=self.device)
        if c.dim() != 2 or c.shape[1] != self.num_directions:
            raise ValueError(tr("coeffs must have shape (points, {directions}), got {shape}",
                                directions=self.num_directions, shape=tuple(c.shape)))
        if not torch.isfinite(c).all():
            raise ValueError(tr("coeffs must be finite numbers"))
        losses, accuracies = [], []
        most = MAX_POINTS_PER_CHUNK if self.device.type == "cpu" else 64  # a GPU: more points at once
        chunk = max(1, min(most, int(2**25 // self.first[0].numel())))  # ≤ 128 MiB of activations
        with torch.no_grad():
            for start in range(0, len(c), chunk):
                loss, accuracy = self._chunk(c[start:start + chunk])
                losses.append(loss)
                accuracies.append(accuracy)
        return torch.cat(losses).double().cpu().numpy(), torch.cat(accuracies).double().cpu().numpy()

    def _chunk(self, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss and accuracy (P,) for the points c (P, k)."""
        full = torch.cat([torch.ones(len(c), 1, dtype=c.dtype, device=c.device), c], dim=1)  # (P, 1 + k)
        # first layer of every point, (P, N, width): Z0 + Σ_j c_j·Z_j, no matrix product with X
        h = (full @ self.first.reshape(len(self.first), -1)).reshape(len(c), *self.first.shape[1:])
        for weights, biases in self.rest:
            h = h.relu_()
            weight = torch.einsum("pj,joi->poi", full, weights)  # each point's own weight matrix
            h = torch.bmm(h, weight.transpose(1, 2))
            if biases is not None:
                h = h + (full @ biases)[:, None, :]
        P, N, C = h.shape
        losses = nn.functional.cross_entropy(h.reshape(P * N, C), self.y.repeat(P), reduction="none")
        accuracy = (h.argmax(dim=2) == self.y).float().mean(dim=1)
        return losses.reshape(P, N).mean(dim=1), accuracy

    def grid(self, span: float | tuple[float, float, float, float], resolution: int) -> SliceGrid:
        """The loss over a square grid of ``resolution``² points: a, b in [−span, span] (or a box
        (a_min, a_max, b_min, b_max)); needs a plane (two directions)."""
        if self.num_directions != 2:
            raise ValueError(tr("grid needs a plane (2 directions), this evaluator has {directions}",
                                directions=self.num_directions))
        box = span_box(span)
        resolution = as_int("resolution", resolution, low=2, high=MAX_RESOLUTION,
                            remedy=tr("a finer slice takes longer than the explorer's budget"))
        a = np.linspace(box[0], box[1], resolution)
        b = np.linspace(box[2], box[3], resolution)
        A, B = np.meshgrid(a, b)  # rows follow b, columns follow a (as contour wants)
        loss, accuracy = self.evaluate(np.stack([A.ravel(), B.ravel()], axis=1))
        return SliceGrid(a, b, loss.reshape(A.shape), accuracy.reshape(A.shape))


def span_box(span: float | Sequence[float]) -> tuple[float, float, float, float]:
    """(a_min, a_max, b_min, b_max) from a half-width ``span`` > 0 or from such a box."""
    if isinstance(span, Sequence) and not isinstance(span, str):
        if len(span) != 4:
            raise ValueError(tr("span must be a number > 0 or a box (a_min, a_max, b_min, b_max), got {span}",
                                span=repr(span)))
        box = tuple(as_real("span", v) for v in span)
        if not (box[0] < box[1] and box[2] < box[3]):
            raise ValueError(tr("span's box must have a_min < a_max and b_min < b_max, got {span}", span=repr(span)))
        return box
    half = as_real("span", span, low=0.0, low_open=True)
    return -half, half, -half, half


@dataclass(frozen=True)
class SliceGrid:
    """The loss over a grid of a plane: ``a`` (R,), ``b`` (R,), ``loss`` and ``accuracy`` (R, R), rows along b."""

    a: np.ndarray
    b: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray

    @property
    def centre_loss(self) -> float:
        """The loss at (0, 0), interpolated bilinearly when (0, 0) is not a grid point."""
        return float(bilinear(self, 0.0, 0.0))

    def loss_at(self, a: float, b: float) -> float:
        """The loss at (a, b), interpolated bilinearly between grid points (NaN outside the grid)."""
        return float(bilinear(self, a, b))


def bilinear(grid: SliceGrid, a: float, b: float) -> float:
    """Bilinear interpolation of ``grid.loss`` at (a, b); NaN outside the grid."""
    if not (grid.a[0] <= a <= grid.a[-1] and grid.b[0] <= b <= grid.b[-1]):
        return math.nan
    i = min(int(np.searchsorted(grid.a, a, side="right")) - 1, len(grid.a) - 2)
    j = min(int(np.searchsorted(grid.b, b, side="right")) - 1, len(grid.b) - 2)
    s = (a - grid.a[i]) / (grid.a[i + 1] - grid.a[i])
    t = (b - grid.b[j]) / (grid.b[j + 1] - grid.b[j])
    L = grid.loss
    return float((1 - s) * (1 - t) * L[j, i] + s * (1 - t) * L[j, i + 1] + (1 - s) * t * L[j + 1, i]
                 + s * t * L[j + 1, i + 1])


def losses_at(model: nn.Module, points: Sequence[Sequence[torch.Tensor]], X: torch.Tensor, y: torch.Tensor,
              batch_size: int = 10_000) -> tuple[np.ndarray, np.ndarray]:
    """The plain loop, for any model: load each weight list of ``points`` into ``model``, run it on (X, y) in
    batches; (mean cross-entropy over the examples, accuracy), float64 (P,). The model keeps its weights."""
    batch_size = as_int("batch_size", batch_size, low=1)
    device = next(model.parameters()).device
    saved, was_training = get_weights(model), model.training
    model.eval()
    losses, accuracies = [], []
    try:
        with torch.no_grad():
            for weights in points:
                set_weights(model, weights)
                total, correct = torch.zeros((), dtype=torch.float64, device=device), 0
                for start in range(0, len(X), batch_size):
                    X_b, y_b = X[start:start + batch_size].to(device), y[start:start + batch_size].to(device)
                    logits = model(X_b)
                    total += nn.functional.cross_entropy(logits, y_b, reduction="sum").double()
                    correct += int((logits.argmax(dim=1) == y_b).sum())
                losses.append(total.item() / len(X))
                accuracies.append(correct / len(X))
    finally:
        set_weights(model, saved)
        model.train(was_training)
    return np.array(losses), np.array(accuracies)


def interpolation_points(start: Sequence[torch.Tensor], end: Sequence[torch.Tensor],
                         ts: Sequence[float]) -> list[Weights]:
    """The weights (1 − t)·start + t·end for each t (Goodfellow et al.'s line; t outside [0, 1] goes beyond)."""
    direction = [e - s for s, e in zip(start, end, strict=True)]
    return [combine(start, [direction], [t]) for t in ts]


def interpolate(model: nn.Module, start: Sequence[torch.Tensor], end: Sequence[torch.Tensor], ts: Sequence[float],
                X: torch.Tensor, y: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(loss, accuracy) at (1 − t)·start + t·end for each t, batched (:class:`PlaneEvaluator` on one direction)."""
    direction = [e - s for s, e in zip(start, end, strict=True)]
    return PlaneEvaluator(model, start, [direction], X, y).evaluate(np.asarray(ts, dtype=float)[:, None])


# --- a training run that keeps its path -----------------------------------------------------------------
@dataclass(frozen=True)
class Trajectory:
    """A training run's path through weight space."""

    snapshots: torch.Tensor  # (T, n): the flattened weights at the start and after every ``every`` updates
    steps: np.ndarray  # (T,): the update after which each snapshot was taken (0: the start)
    train_loss: np.ndarray  # (updates,): the loss of every mini-batch, before its update
    seconds: float


def train_recording(model: nn.Module, loader, loss_fn, optimizer: torch.optim.Optimizer, num_epochs: int,
                    every: int) -> Trajectory:
    """Train ``model`` in place for ``num_epochs`` passes over ``loader`` (batches on the model's device),
    keeping the flattened weights at the start, after every ``every`` updates and at the end."""
    import time

    num_epochs, every = as_int("num_epochs", num_epochs, low=1), as_int("every", every, low=1)
    start, snapshots, steps, losses, step = time.perf_counter(), [flatten(get_weights(model))], [0], [], 0
    model.train()
    for _ in range(num_epochs):
        for X, y in loader:
            loss = loss_fn(model(X), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
            step += 1
            if step % every == 0:
                snapshots.append(flatten(get_weights(model)))
                steps.append(step)
    if steps[-1] != step:
        snapshots.append(flatten(get_weights(model)))
        steps.append(step)
    train_loss = torch.stack(losses).cpu().numpy()  # one sync at the end, not one per step
    if not np.isfinite(train_loss).all():
        raise ValueError(tr("the training loss became NaN or infinite; lower the lr"))
    return Trajectory(torch.stack(snapshots), np.array(steps), train_loss, time.perf_counter() - start)


# --- the trajectory's principal directions ------------------------------------------------------------
@dataclass(frozen=True)
class TrajectoryPCA:
    """The top principal directions of a weight trajectory around its last point (Li et al.'s section 7)."""

    directions: torch.Tensor  # (k, n): unit vectors, orthogonal
    explained: np.ndarray  # (k,): fraction of the trajectory's variance along each
    coords: np.ndarray  # (T, k): each snapshot minus the last, projected on the directions


def trajectory_pca(snapshots: torch.Tensor, k: int = 2) -> TrajectoryPCA:
    """PCA of ``snapshots`` (T, n), the flattened weights along training, with T ≥ 3: the rows minus the last
    one, centred on their mean (as scikit-learn's PCA, which Li et al. use), and their top ``k`` right singular
    vectors; the snapshots' coordinates are their offsets from the last one projected on those vectors."""
    if snapshots.dim() != 2 or len(snapshots) < 3:
        raise ValueError(tr("snapshots must have shape (T ≥ 3, n), got {shape}; record more steps",
                            shape=tuple(snapshots.shape)))
    k = as_int("k", k, low=1, high=len(snapshots) - 1)
    offsets = (snapshots - snapshots[-1]).double()
    centred = offsets - offsets.mean(dim=0)
    gram = centred @ centred.T  # (T, T): the SVD of a short, wide matrix through its Gram matrix
    eigenvalues, vectors = torch.linalg.eigh(gram)
    eigenvalues, vectors = eigenvalues.flip(0).clamp_min(0), vectors.flip(1)
    singular = eigenvalues[:k].sqrt()
    directions = (vectors[:, :k].T @ centred) / singular[:, None]  # right singular vectors, (k, n)
    explained = (eigenvalues[:k] / eigenvalues.sum()).cpu().numpy()
    coords = (offsets @ directions.T).cpu().numpy()
    return TrajectoryPCA(directions.to(snapshots.dtype), explained, coords)


# --- curvature ----------------------------------------------------------------------------------------
def _loss_function(model: nn.Module, X: torch.Tensor, y: torch.Tensor):
    """The mean cross-entropy on (X, y) as a function of a list of tensors shaped like the parameters."""
    names = [name for name, _ in model.named_parameters()]
    device = next(model.parameters()).device
    X, y = X.to(device), y.to(device)

    def loss(weights: Sequence[torch.Tensor]) -> torch.Tensor:
        return nn.functional.cross_entropy(functional_call(model, dict(zip(names, weights, strict=True)), (X,)), y)

    return loss


def loss_gradient(model: nn.Module, weights: Sequence[torch.Tensor], X: torch.Tensor, y: torch.Tensor) -> Weights:
    """∇L(weights) on (X, y), one tensor per parameter (the model's own weights are left alone)."""
    w = [t.detach().requires_grad_(True) for t in weights]
    return list(torch.autograd.grad(_loss_function(model, X, y)(w), w))


def hessian_vector_product(model: nn.Module, weights: Sequence[torch.Tensor], X: torch.Tensor, y: torch.Tensor,
                           v: Sequence[torch.Tensor]) -> Weights:
    """H·v, H the Hessian of the mean cross-entropy on (X, y) at ``weights`` (Pearlmutter's trick: the gradient
    of g·v, g the gradient kept in the graph); costs about two backward passes, never forms H."""
    _check_like("v", v, list(model.parameters()))
    w = [t.detach().requires_grad_(True) for t in weights]
    grads = torch.autograd.grad(_loss_function(model, X, y)(w), w, create_graph=True)
    dot = sum((g * u.to(g.device)).sum() for g, u in zip(grads, v, strict=True))
    return [h.detach() for h in torch.autograd.grad(dot, w)]


def hvp_finite_difference(model: nn.Module, weights: Sequence[torch.Tensor], X: torch.Tensor, y: torch.Tensor,
                          v: Sequence[torch.Tensor], eps: float = 1e-3) -> Weights:
    """(∇L(w + ε·v) − ∇L(w − ε·v)) / 2ε, the central-difference estimate of H·v."""
    eps = as_real("eps", eps, low=0.0, low_open=True)
    plus = loss_gradient(model, combine(weights, [v], [eps]), X, y)
    minus = loss_gradient(model, combine(weights, [v], [-eps]), X, y)
    return [(p - m) / (2 * eps) for p, m in zip(plus, minus, strict=True)]


@dataclass(frozen=True)
class PowerIteration:
    """The result of :func:`top_hessian_eigenvalue`."""

    eigenvalue: float  # the Hessian's eigenvalue of largest magnitude (the top one at a minimum)
    vector: Weights  # its unit eigenvector
    estimates: np.ndarray  # the Rayleigh quotient vᵀHv after each iteration
    converged: bool


def _norm(weights: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.sqrt(sum((t.double() ** 2).sum() for t in weights))


def top_hessian_eigenvalue(model: nn.Module, weights: Sequence[torch.Tensor], X: torch.Tensor, y: torch.Tensor,
                           *, num_iterations: int = 30, tol: float = 1e-3, seed: int = 0) -> PowerIteration:
    """Power iteration v ← Hv / ‖Hv‖ from a seeded random v, with Hessian-vector products on (X, y): the
    eigenvalue of largest magnitude, stopped when vᵀHv changes by less than ``tol`` (relative)."""
    num_iterations = as_int("num_iterations", num_iterations, low=1, high=1000)
    tol = as_real("tol", tol, low=0.0)
    v = random_direction(weights, seed)
    scale = _norm(v)
    v = [t / scale.to(t.dtype) for t in v]
    estimates, converged = [], False
    for _ in range(num_iterations):
        hv = hessian_vector_product(model, weights, X, y, v)
        estimates.append(float(sum((a.double() * b.double()).sum() for a, b in zip(v, hv, strict=True))))
        norm = _norm(hv)
        if norm == 0:
            break
        v = [t / norm.to(t.dtype) for t in hv]
        if len(estimates) > 1 and abs(estimates[-1] - estimates[-2]) <= tol * abs(estimates[-1]):
            converged = True
            break
    return PowerIteration(estimates[-1], v, np.array(estimates), converged)


__all__ = ["MAX_RESOLUTION", "PlaneEvaluator", "PowerIteration", "SliceGrid", "Trajectory", "TrajectoryPCA", "bilinear",
           "combine", "filter_normalize", "filter_normalized_direction", "flatten", "get_weights",
           "hessian_vector_product", "hvp_finite_difference", "interpolate", "interpolation_points",
           "linear_layers", "loss_gradient", "losses_at", "random_direction", "set_weights", "span_box",
           "top_hessian_eigenvalue", "train_recording", "trajectory_pca", "unflatten"]
