"""The small networks the lessons train and inspect."""

from __future__ import annotations

import torch
from torch import nn

from lessons_src.validation import as_int


class SourceModel(nn.Module):
    """The source tutorials' 3-layer classifier: in → 13 → 8 → out, ReLU then sigmoid hidden layers, logits."""

    def __init__(self, in_features: int = 20, out_features: int = 3) -> None:
        """Build the three linear layers (with biases) for ``in_features`` inputs and ``out_features`` classes."""
        super().__init__()
        in_features = as_int("in_features", in_features, low=1)
        out_features = as_int("out_features", out_features, low=1)
        self.linear1 = nn.Linear(in_features, 13)
        self.linear2 = nn.Linear(13, 8)
        self.output = nn.Linear(8, out_features)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Map X of shape (batch, in_features) to logits of shape (batch, out_features)."""
        sigma1 = torch.relu(self.linear1(X))
        sigma2 = torch.sigmoid(self.linear2(sigma1))
        return self.output(sigma2)  # no softmax: CrossEntropyLoss expects logits


class TutorialMLP(nn.Module):
    """PyTorch's tutorial network for FashionMNIST: 784 → 512 → 512 → 10, ReLU between, logits out.

    The attribute names match the tutorial's ``NeuralNetwork``, so its state_dict keys do too.
    Unlike two of the source tutorials, there is no ReLU after the last layer: a logit must be
    free to be negative, and CrossEntropyLoss applies the softmax itself.
    """

    def __init__(self) -> None:
        """Build the flatten layer and the three linear layers (with biases)."""
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28 * 28, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, 10),
        )

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Map images (batch, 1, 28, 28) to logits (batch, 10)."""
        return self.linear_relu_stack(self.flatten(X))


class SourceFashionMLP(nn.Module):
    """Source tutorial 003's FashionMNIST network: 784 → 128 → 10 without biases, log-probabilities out.

    ``input_batchnorm=True`` puts ``BatchNorm2d(1)`` on the input image, the layer that tutorial
    claims adds 5 % accuracy; it normalizes the pixels with the batch's mean and variance.
    """

    def __init__(self, input_batchnorm: bool = False) -> None:
        """Build the (optional) input BatchNorm and the two bias-free linear layers."""
        super().__init__()
        self.normalize = nn.BatchNorm2d(num_features=1) if input_batchnorm else nn.Identity()
        self.linear1 = nn.Linear(28 * 28, 128, bias=False)
        self.output = nn.Linear(128, 10, bias=False)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Map images (batch, 1, 28, 28) to log-probabilities (batch, 10), the input NLLLoss expects."""
        X = self.normalize(X).reshape(-1, 28 * 28)
        return torch.log_softmax(self.output(torch.relu(self.linear1(X))), dim=1)


class SmallCNN(nn.Module):
    """Lesson 11's small convolutional network: two stages of a 3×3 convolution (16, then 32 channels), ReLU
    and 2×2 max-pooling (28 → 14 → 7 pixels a side), then one linear layer to 10 logits; 20 490 weights."""

    def __init__(self) -> None:
        """Build the two convolution stages and the linear classifier."""
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.classify = nn.Linear(32 * 7 * 7, 10)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Map images (batch, 1, 28, 28) to logits (batch, 10)."""
        return self.classify(self.features(X).flatten(1))
