"""The small networks the lessons train and inspect."""

from __future__ import annotations

import torch
from torch import nn


class SeedModel(nn.Module):
    """The seeds' 3-layer classifier: in → 13 → 8 → out, ReLU then sigmoid hidden layers, logits out."""

    def __init__(self, in_features: int = 20, out_features: int = 3) -> None:
        """Build the three linear layers (with biases) for ``in_features`` inputs and ``out_features`` classes."""
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        self.linear1 = nn.Linear(in_features, 13)
        self.linear2 = nn.Linear(13, 8)
        self.output = nn.Linear(8, out_features)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Map X of shape (batch, in_features) to logits of shape (batch, out_features)."""
        sigma1 = torch.relu(self.linear1(X))
        sigma2 = torch.sigmoid(self.linear2(sigma1))
        return self.output(sigma2)  # no softmax: CrossEntropyLoss expects logits
