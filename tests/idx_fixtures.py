"""Small, valid FashionMNIST-shaped IDX files written by the tests themselves."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from lessons_src.data import IDX_FILES


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array (1-D labels or 3-D images) as an IDX file."""
    magic = 2049 if array.ndim == 1 else 2051
    return struct.pack(f">i{array.ndim}i", magic, *array.shape) + array.astype(np.uint8).tobytes()


def fake_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random 28x28 images and labels 0..9."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


def write_fake_fashion_mnist(folder: Path, *, gz: bool = False, n_train: int = 12, n_test: int = 5) -> dict:
    """Write the four IDX files (optionally gzipped, as Debian ships them); return the arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    train_x, train_y = fake_split(n_train, seed=1)
    test_x, test_y = fake_split(n_test, seed=2)
    arrays = dict(zip(IDX_FILES, (train_x, train_y, test_x, test_y), strict=True))
    for name, array in arrays.items():
        payload = idx_bytes(array)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(payload))
        else:
            (folder / name).write_bytes(payload)
    return arrays


def learnable_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noisy 28x28 images whose class k (0..9) lights rows 2k+4..2k+6: a small network learns it in an epoch."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    images = rng.integers(0, 90, (n, 28, 28), dtype=np.uint8)
    for k in range(10):
        images[labels == k, 2 * k + 4:2 * k + 7, :] += 150
    return images, labels


def write_learnable_fashion_mnist(folder: Path, *, n_train: int, n_test: int) -> None:
    """The four IDX files of a learnable stand-in for FashionMNIST (see :func:`learnable_split`)."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = (*learnable_split(n_train, seed=1), *learnable_split(n_test, seed=2))
    for name, array in zip(IDX_FILES, arrays, strict=True):
        (folder / name).write_bytes(idx_bytes(array))
