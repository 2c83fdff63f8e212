"""Initialization schemes and what they do at step 0: per-layer activation and gradient statistics.

- :func:`init_weights` re-initializes every ``nn.Linear`` of a model with one of :data:`SCHEMES`.
- :func:`layer_stats` runs one forward and backward pass on a batch and returns, for every linear layer,
  the spread of its outputs (forward signal) and of the loss's gradient with respect to them (backward
  signal), and the norms of its weights and of their gradient: what the optimizer sees at step 0.

Both are plain functions: :func:`layer_stats` leaves the model's weights and ``.grad`` untouched.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from lessons_src.language import tr

__all__ = ["SCHEMES", "FIXED_STD", "LayerStats", "init_weights", "layer_stats", "linear_layers", "scheme_name"]

SCHEMES = ("default", "xavier", "kaiming", "too small", "too large")
# the two badly scaled schemes: every weight from a normal distribution with this standard deviation
FIXED_STD = {"too small": 0.01, "too large": 0.2}


def scheme_name(scheme: str) -> str:
    """``scheme`` as legends, tables and prints show it, in the language in use; ``scheme`` itself stays the name
    :func:`init_weights` takes (a test keeps the two in step with :data:`SCHEMES`)."""
    names = {"default": tr("default"), "xavier": tr("xavier"), "kaiming": tr("kaiming"),
             "too small": tr("too small"), "too large": tr("too large")}
    return names[_check_scheme(scheme)]


def _check_scheme(scheme: str) -> str:
    """``scheme`` if it is one of :data:`SCHEMES`; otherwise a ValueError that lists them."""
    if scheme not in SCHEMES:
        raise ValueError(tr("{name} must be one of {choices}, got {value}", name="scheme", choices=SCHEMES,
                            value=repr(scheme)))
    return scheme


def linear_layers(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    """(name, layer) of every ``nn.Linear`` in ``model``, in the order ``named_modules`` lists them."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]


def init_weights(model: nn.Module, scheme: str) -> nn.Module:
    """Re-initialize every ``nn.Linear`` of ``model`` in place with ``scheme``; return the model.

    - ``"default"``: PyTorch's own (``reset_parameters``: uniform with variance 1/(3·fan_in), biases too);
    - ``"xavier"``: Glorot & Bengio (2010), normal with variance 2/(fan_in + fan_out), biases 0;
    - ``"kaiming"``: He et al. (2015) for ReLU, normal with variance 2/fan_in, biases 0;
    - ``"too small"`` / ``"too large"``: normal with the standard deviation in :data:`FIXED_STD`, biases 0.
    The random numbers come from torch's generator: call ``set_seed`` first for repeatable weights.
    """
    _check_scheme(scheme)
    layers = linear_layers(model)
    if not layers:
        raise ValueError(tr("model has no nn.Linear layer to initialize"))
    with torch.no_grad():
        for _, layer in layers:
            if scheme == "default":
                layer.reset_parameters()
                continue
            if scheme == "xavier":
                nn.init.xavier_normal_(layer.weight)
            elif scheme == "kaiming":
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            else:
                nn.init.normal_(layer.weight, std=FIXED_STD[scheme])
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return model


@dataclass(frozen=True)
class LayerStats:
    """One linear layer at step 0, measured on one batch."""

    name: str  # the layer's name in the model, e.g. "3"
    activation_std: float  # standard deviation of the layer's outputs (pre-activations) over batch and units
    output_grad_std: float  # standard deviation of ∂L/∂(outputs): the error signal flowing back into the layer
    weight_norm: float  # ‖W‖ (Frobenius)
    weight_grad_norm: float  # ‖∂L/∂W‖: the size of the step the optimizer is offered for this layer

    @property
    def grad_to_weight(self) -> float:
        """‖∂L/∂W‖ / ‖W‖: how large one plain SGD step at lr = 1 would be relative to the weights."""
        return self.weight_grad_norm / self.weight_norm if self.weight_norm else math.inf


def layer_stats(model: nn.Module, X: torch.Tensor, y: torch.Tensor, loss_fn: Callable) -> list[LayerStats]:
    """Per linear layer (in order), the :class:`LayerStats` of one forward and backward pass on (X, y).

    The model's weights and their ``.grad`` are left as they were (gradients come from ``torch.autograd.grad``).
    """
    layers = linear_layers(model)
    if not layers:
        raise ValueError(tr("model has no nn.Linear layer to measure"))
    if len(X) < 2:
        raise ValueError(tr("X must hold at least 2 examples to measure a spread, got {count}", count=len(X)))
    outputs: list[torch.Tensor] = []
    hooks = [layer.register_forward_hook(lambda _m, _i, out: outputs.append(out)) for _, layer in layers]
    try:
        loss = loss_fn(model(X), y)
    finally:
        for hook in hooks:
            hook.remove()
    weights = [layer.weight for _, layer in layers]
    grads = torch.autograd.grad(loss, outputs + weights)
    output_grads, weight_grads = grads[:len(layers)], grads[len(layers):]
    return [LayerStats(name, float(out.detach().std()), float(g_out.std()), float(layer.weight.detach().norm()),
                       float(g_w.norm()))
            for (name, layer), out, g_out, g_w in zip(layers, outputs, output_grads, weight_grads, strict=True)]
