"""FashionMNIST provisioning: every path, on small IDX files the tests write."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torchvision import transforms

from lessons_src import data
from lessons_src.data import (
    CorruptDataError,
    DataNotFoundError,
    load_fashion_mnist,
    provision_fashion_mnist,
    raw_dir,
    to_tensors,
    train_validation_split,
    validate_idx_file,
)
from tests.idx_fixtures import idx_bytes, write_fake_fashion_mnist

UNREACHABLE = ["http://127.0.0.1:9/"]  # the discard port: refused at once, never leaves the machine


def test_existing_raw_dir_is_used_as_is(tmp_path):
    arrays = write_fake_fashion_mnist(raw_dir(tmp_path))
    source = provision_fashion_mnist(tmp_path, debian_dir=tmp_path / "none", download=False)
    assert source == "existing"
    train, test = load_fashion_mnist(tmp_path, debian_dir=tmp_path / "none", download=False)
    assert len(train) == 12 and len(test) == 5
    assert np.array_equal(train.data.numpy(), arrays["train-images-idx3-ubyte"])
    assert np.array_equal(test.targets.numpy(), arrays["t10k-labels-idx1-ubyte"])


def test_debian_files_are_decompressed_into_raw_dir(tmp_path):
    debian = tmp_path / "debian"
    arrays = write_fake_fashion_mnist(debian, gz=True)
    root = tmp_path / "root"
    assert provision_fashion_mnist(root, debian_dir=debian, download=False) == "debian"
    for name, array in arrays.items():
        assert (raw_dir(root) / name).read_bytes() == idx_bytes(array)
    assert not list(raw_dir(root).glob("*.partial"))
    train, _ = load_fashion_mnist(root, debian_dir=debian, download=False)
    assert train[0][0].shape == (1, 28, 28)


def test_partial_raw_dir_is_completed_from_debian(tmp_path):
    debian = tmp_path / "debian"
    write_fake_fashion_mnist(debian, gz=True)
    root = tmp_path / "root"
    write_fake_fashion_mnist(raw_dir(root))
    (raw_dir(root) / "t10k-labels-idx1-ubyte").unlink()
    assert provision_fashion_mnist(root, debian_dir=debian, download=False) == "debian"
    assert (raw_dir(root) / "t10k-labels-idx1-ubyte").exists()


def test_download_is_the_last_resort(tmp_path, monkeypatch):
    calls = []

    def fake_download(root, mirrors, timeout_s):
        calls.append(root)
        write_fake_fashion_mnist(raw_dir(root))

    monkeypatch.setattr(data, "_download", fake_download)
    assert provision_fashion_mnist(tmp_path, debian_dir=tmp_path / "none") == "download"
    assert calls == [tmp_path]


def test_no_data_and_no_network_fails_fast_with_both_remedies(tmp_path):
    start = time.perf_counter()
    with pytest.raises(DataNotFoundError) as info:
        load_fashion_mnist(tmp_path, debian_dir=tmp_path / "none", mirrors=UNREACHABLE)
    assert time.perf_counter() - start < 10
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "internet" in message
    assert str(raw_dir(tmp_path)) in message
    assert "Traceback" not in message and "urlopen" not in message


def test_a_download_that_hangs_is_cut_off(tmp_path, monkeypatch):
    monkeypatch.setattr(data.datasets.FashionMNIST, "download", lambda self: time.sleep(30))
    start = time.perf_counter()
    with pytest.raises(DataNotFoundError, match="no answer within 0.5 s"):
        provision_fashion_mnist(tmp_path, debian_dir=tmp_path / "none", timeout_s=0.5)
    assert time.perf_counter() - start < 5


def test_download_false_says_so(tmp_path):
    with pytest.raises(DataNotFoundError, match="download=False"):
        provision_fashion_mnist(tmp_path, debian_dir=tmp_path / "none", download=False)


def test_root_comes_from_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV_VAR, str(tmp_path))
    write_fake_fashion_mnist(raw_dir(tmp_path))
    assert data.default_root() == tmp_path
    train, _ = load_fashion_mnist(debian_dir=tmp_path / "none", download=False)
    assert len(train) == 12


def test_truncated_idx_file_names_the_file(tmp_path):
    folder = raw_dir(tmp_path)
    write_fake_fashion_mnist(folder)
    victim = folder / "train-images-idx3-ubyte"
    victim.write_bytes(victim.read_bytes()[:-100])
    with pytest.raises(CorruptDataError, match="train-images-idx3-ubyte is truncated"):
        load_fashion_mnist(tmp_path, debian_dir=tmp_path / "none", download=False)


def test_wrong_magic_number_names_the_file(tmp_path):
    folder = raw_dir(tmp_path)
    write_fake_fashion_mnist(folder)
    labels = folder / "train-labels-idx1-ubyte"
    images = folder / "train-images-idx3-ubyte"
    labels.write_bytes(images.read_bytes())  # images where labels should be
    with pytest.raises(CorruptDataError, match="train-labels-idx1-ubyte is not a valid IDX file"):
        validate_idx_file(labels, 2049, 1)


def test_image_and_label_counts_must_agree(tmp_path):
    folder = raw_dir(tmp_path)
    write_fake_fashion_mnist(folder)
    (folder / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(4, dtype=np.uint8)))
    with pytest.raises(CorruptDataError, match="5 images but 4 labels"):
        provision_fashion_mnist(tmp_path, debian_dir=tmp_path / "none", download=False)


def test_corrupt_debian_archive_names_the_archive(tmp_path):
    debian = tmp_path / "debian"
    write_fake_fashion_mnist(debian, gz=True)
    archive = debian / "train-images-idx3-ubyte.gz"
    archive.write_bytes(archive.read_bytes()[:50])
    with pytest.raises(CorruptDataError, match="train-images-idx3-ubyte.gz"):
        provision_fashion_mnist(tmp_path / "root", debian_dir=debian, download=False)
    assert not list(raw_dir(tmp_path / "root").glob("*.partial"))


def test_to_tensors_equals_to_tensor_transform(tmp_path):
    write_fake_fashion_mnist(raw_dir(tmp_path))
    train, _ = load_fashion_mnist(tmp_path, debian_dir=tmp_path / "none", download=False,
                                  transform=transforms.ToTensor())
    X, y = to_tensors(train)
    assert X.dtype == torch.float32 and y.dtype == torch.int64
    assert X.shape == (12, 1, 28, 28)
    assert 0.0 <= X.min() and X.max() <= 1.0
    for i in range(len(train)):
        image, label = train[i]
        assert torch.equal(X[i], image)
        assert y[i].item() == label


def test_to_tensors_rejects_other_datasets():
    with pytest.raises(TypeError, match="MNIST-style"):
        to_tensors(torch.utils.data.TensorDataset(torch.zeros(3, 2)))


@given(num_samples=st.integers(2, 300), data=st.data())
def test_train_validation_split_is_a_seeded_partition_in_ascending_order(num_samples, data):
    num_val = data.draw(st.integers(1, num_samples - 1))
    train, val = train_validation_split(num_samples, num_val, seed=3)
    assert len(val) == num_val and len(train) == num_samples - num_val
    assert torch.equal(torch.cat([train, val]).sort().values, torch.arange(num_samples))
    assert torch.equal(train, train.sort().values) and torch.equal(val, val.sort().values)
    again = train_validation_split(num_samples, num_val, seed=3)
    assert torch.equal(again[0], train) and torch.equal(again[1], val)


def test_train_validation_split_depends_on_the_seed_and_refuses_an_empty_part():
    assert not torch.equal(train_validation_split(1000, 100, seed=0)[1], train_validation_split(1000, 100, seed=1)[1])
    for bad in (0, 1000, True, 2.5):
        with pytest.raises(ValueError, match="num_val must be"):
            train_validation_split(1000, bad)


def test_the_class_names_a_lesson_shows_are_the_dataset_s_in_english_and_translated_in_the_editions():
    from lessons_src.data import CLASS_NAMES, class_names
    from lessons_src.language import current_language, use_language

    before = current_language()
    try:
        use_language("en")
        assert class_names() == CLASS_NAMES
        for lang in ("zh", "ja"):
            use_language(lang)
            assert len(set(class_names())) == 10 and not set(class_names()) & set(CLASS_NAMES)
    finally:
        use_language(before)
