"""FashionMNIST, offline first: find it, check it, load it, and hold it in memory as tensors.

Where the data comes from, in order:

1. ``<root>/FashionMNIST/raw/`` already holding the four IDX files;
2. Debian's ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist/*.gz``),
   decompressed into that folder;
3. torchvision's own download (needs the internet).

``root`` is the argument, else the ``COURSE_DATA_DIR`` environment variable, else ``data/`` at
the repository root. Run ``python -m lessons_src.data`` to prepare the data once.
"""

from __future__ import annotations

import errno
import gzip
import os
import shutil
import struct
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import datasets, transforms

from lessons_src.language import tr
from lessons_src.validation import as_int

DATA_ENV_VAR = "COURSE_DATA_DIR"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASS_NAMES: tuple[str, ...] = tuple(datasets.FashionMNIST.classes)
IMAGE_SHAPE = (1, 28, 28)


def class_names() -> tuple[str, ...]:
    """The ten class names in the language in use, in label order (``CLASS_NAMES``: the dataset's own English ones;
    a test keeps the two in step)."""
    return (tr("T-shirt/top"), tr("Trouser"), tr("Pullover"), tr("Dress"), tr("Coat"), tr("Sandal"), tr("Shirt"),
            tr("Sneaker"), tr("Bag"), tr("Ankle boot"))

# name -> (IDX magic number, number of dimensions)
IDX_FILES: dict[str, tuple[int, int]] = {
    "train-images-idx3-ubyte": (2051, 3),
    "train-labels-idx1-ubyte": (2049, 1),
    "t10k-images-idx3-ubyte": (2051, 3),
    "t10k-labels-idx1-ubyte": (2049, 1),
}


class DataNotFoundError(RuntimeError):
    """FashionMNIST is not on disk and could not be fetched."""


class CorruptDataError(RuntimeError):
    """An IDX file is truncated or is not the file its name says."""


def default_root() -> Path:
    """The data root: ``$COURSE_DATA_DIR`` if set, else ``data/`` at the repository root."""
    if os.environ.get(DATA_ENV_VAR):
        return Path(os.environ[DATA_ENV_VAR]).expanduser()
    repo = Path(__file__).resolve().parents[1]
    if (repo / "pyproject.toml").exists():
        return repo / "data"
    return Path.home() / ".cache" / "optim-course" / "data"


def raw_dir(root: str | os.PathLike | None = None) -> Path:
    """Where torchvision looks for the IDX files: ``<root>/FashionMNIST/raw``."""
    return Path(root if root is not None else default_root()) / "FashionMNIST" / "raw"


def validate_idx_file(path: str | os.PathLike, magic: int, ndim: int) -> tuple[int, ...]:
    """Check an IDX file's header and length, and a label file's values; return its shape, e.g. (60000, 28, 28)."""
    path = Path(path)
    size = path.stat().st_size
    header_len = 4 + 4 * ndim
    with open(path, "rb") as f:
        header = f.read(header_len)
    if len(header) < header_len:
        raise CorruptDataError(
            tr("{path} is truncated ({size} bytes, shorter than its header). Delete it and run again.",
               path=path, size=size)
        )
    found_magic = struct.unpack(">i", header[:4])[0]
    if found_magic != magic:
        raise CorruptDataError(
            tr("{path} is not a valid IDX file: magic number {found}, expected {expected}. Delete it and run again.",
               path=path, found=found_magic, expected=magic)
        )
    shape = struct.unpack(f">{ndim}i", header[4:])
    expected = header_len + int(torch.tensor(shape).prod())
    if size != expected:
        raise CorruptDataError(
            tr("{path} is truncated or corrupt: header says shape {shape} ({expected} bytes), file has {size} "
               "bytes. Delete it and run again.", path=path, shape=shape, expected=expected, size=size)
        )
    if ndim == 1:
        _validate_labels(path, header_len)
    return shape


def _validate_labels(path: Path, header_len: int) -> None:
    """A label file must hold class indices 0..9; any other byte is corruption, caught here, not inside torch."""
    labels = np.frombuffer(path.read_bytes()[header_len:], dtype=np.uint8)
    bad = np.flatnonzero(labels >= len(CLASS_NAMES))
    if len(bad):
        raise CorruptDataError(
            tr("{path} holds label {label} at position {position} ({count} label(s) outside 0-{top}); FashionMNIST "
               "has {classes} classes. Delete it and run again.", path=path, label=labels[bad[0]], position=bad[0],
               count=len(bad), top=len(CLASS_NAMES) - 1, classes=len(CLASS_NAMES))
        )


def validate_raw_dir(folder: str | os.PathLike) -> dict[str, tuple[int, ...]]:
    """Check all four IDX files in ``folder``; images and labels must agree in count."""
    folder = Path(folder)
    shapes = {name: validate_idx_file(folder / name, *spec) for name, spec in IDX_FILES.items()}
    for split in ("train", "t10k"):
        n_images = shapes[f"{split}-images-idx3-ubyte"][0]
        n_labels = shapes[f"{split}-labels-idx1-ubyte"][0]
        if n_images != n_labels:
            raise CorruptDataError(
                tr("{folder}: {split} has {images} images but {labels} labels. Delete the folder and run again.",
                   folder=folder, split=split, images=n_images, labels=n_labels)
            )
    return shapes


def _missing(folder: Path) -> list[str]:
    return [name for name in IDX_FILES if not (folder / name).exists()]


def _require_writable(folder: Path) -> None:
    """Create ``folder`` if needed and make sure files can be written there, or say how to choose another."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError(errno.EACCES, "the folder is read-only", str(folder))
    except OSError as err:
        raise DataNotFoundError(
            tr("FashionMNIST is not in {folder}, and it cannot be put there ({reason}).\n"
               "Set {variable} to a folder you can write (e.g. export {variable}=~/course-data) "
               "and run again, or copy the four IDX files into that folder.",
               folder=folder, reason=err.strerror or err, variable=DATA_ENV_VAR)
        ) from None


def _copy_from_debian(folder: Path, debian_dir: Path) -> bool:
    """Decompress Debian's ``*.gz`` files into ``folder``; False if the package is absent."""
    sources = {name: debian_dir / f"{name}.gz" for name in _missing(folder)}
    if not all(src.exists() for src in sources.values()):
        return False
    folder.mkdir(parents=True, exist_ok=True)
    for name, src in sources.items():
        partial = folder / f"{name}.partial"
        try:
            with gzip.open(src, "rb") as fin, open(partial, "wb") as fout:
                shutil.copyfileobj(fin, fout)
            validate_idx_file(partial, *IDX_FILES[name])
        except (OSError, EOFError, CorruptDataError) as err:
            partial.unlink(missing_ok=True)
            raise CorruptDataError(tr("{source} could not be decompressed into a valid IDX file: {error}",
                                      source=src, error=err)) from err
        partial.replace(folder / name)  # atomic: a crash never leaves a half-written IDX file
    return True


def _download(root: Path, mirrors: Sequence[str] | None, timeout_s: float) -> None:
    """torchvision's own download, given at most ``timeout_s`` seconds."""
    attrs = {} if mirrors is None else {"mirrors": list(mirrors)}
    # The class must be called FashionMNIST: torchvision derives the folder name from it.
    downloader = type("FashionMNIST", (datasets.FashionMNIST,), attrs)
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            downloader(str(root), train=True, download=True)
        except Exception as err:  # noqa: BLE001 - reported to the caller below
            errors.append(err)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise TimeoutError(tr("no answer within {seconds} s", seconds=f"{timeout_s:g}"))
    if errors:
        raise errors[0]


def _not_found_message(folder: Path, debian_dir: Path, reason: str) -> str:
    return tr(
        "FashionMNIST was not found and could not be downloaded.\n"
        "  looked in: {folder} (the four IDX files) and {debian_dir} (Debian's package)\n"
        "  download: {reason}\n"
        "Get it one of two ways, then run again:\n"
        "  1. offline: {install}\n"
        "     (or copy the four files {files} into {folder})\n"
        "  2. online: run again with internet access and torchvision downloads it there.\n"
        "To use data kept elsewhere, set {variable} to the folder that holds FashionMNIST/raw/.",
        folder=folder, debian_dir=debian_dir, reason=reason, install="sudo apt-get install dataset-fashion-mnist",
        files=", ".join(IDX_FILES), variable=DATA_ENV_VAR,
    )


def provision_fashion_mnist(
    root: str | os.PathLike | None = None,
    *,
    debian_dir: str | os.PathLike = DEBIAN_DIR,
    download: bool = True,
    mirrors: Sequence[str] | None = None,
    timeout_s: float = 8.0,
) -> str:
    """Make sure ``<root>/FashionMNIST/raw`` holds valid IDX files; return where they came from."""
    root = Path(root) if root is not None else default_root()
    folder, debian_dir = raw_dir(root), Path(debian_dir)
    source = "existing"
    if _missing(folder):
        _require_writable(folder)
        if _copy_from_debian(folder, debian_dir):
            source = "debian"
        elif not download:
            raise DataNotFoundError(_not_found_message(folder, debian_dir, tr("not tried (download=False)")))
        else:
            try:
                _download(root, mirrors, timeout_s)
            except Exception as err:  # noqa: BLE001 - any failure gets the same advice
                first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                raise DataNotFoundError(_not_found_message(folder, debian_dir, first_line)) from None
            source = "download"
    validate_raw_dir(folder)
    return source


def load_fashion_mnist(
    root: str | os.PathLike | None = None,
    *,
    transform: Callable | None = None,
    debian_dir: str | os.PathLike = DEBIAN_DIR,
    download: bool = True,
    mirrors: Sequence[str] | None = None,
    timeout_s: float = 8.0,
) -> tuple[datasets.FashionMNIST, datasets.FashionMNIST]:
    """Return torchvision's FashionMNIST (train, test); ``transform=None`` means ``ToTensor()``."""
    root = Path(root) if root is not None else default_root()
    provision_fashion_mnist(
        root, debian_dir=debian_dir, download=download, mirrors=mirrors, timeout_s=timeout_s
    )
    transform = transform if transform is not None else transforms.ToTensor()
    train = datasets.FashionMNIST(str(root), train=True, transform=transform, download=False)
    test = datasets.FashionMNIST(str(root), train=False, transform=transform, download=False)
    return train, test


def to_tensors(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """All images as float32 (N, 1, 28, 28) in [0, 1] and labels as int64 (N,), without a loader."""
    if not (hasattr(dataset, "data") and hasattr(dataset, "targets")):
        raise TypeError(tr("dataset must have .data and .targets (an MNIST-style dataset), got {type}",
                           type=type(dataset).__name__))
    X = dataset.data.unsqueeze(1).to(torch.float32).div(255)  # same arithmetic as ToTensor()
    y = torch.as_tensor(dataset.targets, dtype=torch.int64)
    return X, y


def sample_per_class(labels: torch.Tensor, per_class: int, seed: int = 0) -> torch.Tensor:
    """Indices of ``per_class`` seeded random examples of each class: shape (num_classes, per_class)."""
    if per_class < 1:
        raise ValueError(tr("{name} must be >= {low}, got {value}", name="per_class", low=1, value=per_class))
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for label in range(int(labels.max()) + 1):
        members = torch.nonzero(labels == label).flatten()
        if len(members) < per_class:
            raise ValueError(tr("class {label} has {count} examples, fewer than per_class={per_class}",
                                label=label, count=len(members), per_class=per_class))
        rows.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    return torch.stack(rows)


def train_validation_split(num_samples: int, num_val: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (train, validation) of a seeded random split of ``range(num_samples)``, each in ascending order.

    The validation examples are held out of training so that choices (a recipe, an lr, a verdict) can be
    made on them; the test set is kept for one final measurement. Ascending order keeps a loader that
    does not shuffle serving the examples in the data set's own order.
    """
    num_samples = as_int("num_samples", num_samples, low=2)
    num_val = as_int("num_val", num_val, low=1, high=num_samples - 1,
                     remedy=tr("keep at least one example for training and one for validation"))
    order = torch.randperm(num_samples, generator=torch.Generator().manual_seed(as_int("seed", seed)))
    return order[num_val:].sort().values, order[:num_val].sort().values


class TensorSplits(NamedTuple):
    """FashionMNIST in memory as (X, y) pairs: training, validation (held out of the training set) and test."""

    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]


def fashion_mnist_splits(num_val: int = 10_000, seed: int = 0, root: str | os.PathLike | None = None) -> TensorSplits:
    """The 60 000 training images split by :func:`train_validation_split`, and the 10 000 test images, as tensors."""
    train_set, test_set = load_fashion_mnist(root)
    X, y = to_tensors(train_set)
    train_idx, val_idx = train_validation_split(len(y), num_val, seed)
    return TensorSplits((X[train_idx], y[train_idx]), (X[val_idx], y[val_idx]), to_tensors(test_set))


# Mean and standard deviation of every pixel of the 60 000 training images, after ToTensor().
FASHION_MNIST_MEAN = 0.2860
FASHION_MNIST_STD = 0.3530


def normalize(X: torch.Tensor, mean: float = FASHION_MNIST_MEAN, std: float = FASHION_MNIST_STD) -> torch.Tensor:
    """Shift and scale pixels to mean 0 and standard deviation 1 over the training set: (X − mean) / std."""
    if std <= 0:
        raise ValueError(tr("{name} must be > {low}, got {value}", name="std", low=0, value=std))
    return (X - mean) / std


def main() -> int:
    """Prepare the data and say where it is (``python -m lessons_src.data``)."""
    try:
        source = provision_fashion_mnist()
    except (DataNotFoundError, CorruptDataError) as err:
        print(err, file=sys.stderr)
        return 1
    print(tr("FashionMNIST ready in {folder} (source: {source})", folder=raw_dir(), source=source))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
