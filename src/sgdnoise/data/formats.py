"""File formats: LeCun's IDX (MNIST, Fashion-MNIST) and the two CIFAR-10 distributions.

CIFAR-10 comes as ``cifar-10-binary.tar.gz`` (``cifar-10-batches-bin/data_batch_{1..5}.bin`` and
``test_batch.bin``: records of 1 label byte + 3072 pixel bytes, red/green/blue planes of 32×32, row
major), read here without any unpickling, and as ``cifar-10-python.tar.gz`` (``cifar-10-batches-py/``:
pickled dicts), read only through :class:`CifarUnpickler`, which refuses every global except the numpy
array reconstruction a genuine batch needs. Both yield the same uint8 arrays.
"""

from __future__ import annotations

import _codecs
import gzip
import io
import pickle
import tarfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from sgdnoise.data.errors import DatasetFormatError, UnsafePickleError

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]
    from numpy.core import numeric as _numeric  # type: ignore[no-redef]

__all__ = [
    "CIFAR10_ARCHIVES",
    "CIFAR10_BATCHES",
    "SPLIT_KEYS",
    "Arrays",
    "CifarUnpickler",
    "read_cifar10",
    "read_cifar_binary_batch",
    "read_cifar_python_batch",
    "read_idx",
]

SPLIT_KEYS = ("train_images", "train_labels", "test_images", "test_labels")
Arrays = dict[str, np.ndarray]

# --------------------------------------------------------------------------------------------------
# IDX files
# --------------------------------------------------------------------------------------------------

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_REEXTRACT = "replace it with a fresh copy of the original file"


def _gunzip(raw: bytes, origin: object) -> bytes:
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise DatasetFormatError(f"{origin}: corrupt gzip data ({error}); {_REEXTRACT}") from None


def read_idx(path: str | Path) -> np.ndarray:
    """Decode an IDX file (LeCun's MNIST format), gzipped or raw (detected from the content)."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = _gunzip(raw, path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DatasetFormatError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()}); {_REEXTRACT}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetFormatError(f"{path}: truncated IDX header; {_REEXTRACT}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DatasetFormatError(
            f"{path}: IDX header declares shape {shape} ({expected} bytes) but the file "
            f"holds {len(raw) - header} data bytes; {_REEXTRACT}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


# --------------------------------------------------------------------------------------------------
# CIFAR-10
# --------------------------------------------------------------------------------------------------

CIFAR10_BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")
_RECORD = 1 + 3 * 32 * 32
_GET_BINARY = "use the official cifar-10-binary.tar.gz (or its extracted cifar-10-batches-bin/)"


def read_cifar_binary_batch(raw: bytes, origin: object) -> tuple[np.ndarray, np.ndarray]:
    """Images (N,3,32,32) and labels (N,) uint8 of one binary batch: N records of label byte + 3072 pixels."""
    if not raw or len(raw) % _RECORD:
        raise DatasetFormatError(
            f"{origin}: {len(raw)} bytes is not a whole number of {_RECORD}-byte CIFAR-10 records "
            f"(1 label byte + 3072 pixel bytes); the file is truncated or not a CIFAR-10 binary batch: {_GET_BINARY}"
        )
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _RECORD)
    labels = records[:, 0].copy()
    if labels.max() > 9:
        raise DatasetFormatError(
            f"{origin}: label byte {int(labels.max())} is not a CIFAR-10 class (0-9); is this CIFAR-100? {_GET_BINARY}"
        )
    return records[:, 1:].reshape(-1, 3, 32, 32).copy(), labels


class CifarUnpickler(pickle.Unpickler):
    """An unpickler for CIFAR-10 python batches that resolves only the globals such a batch references.

    A batch is a dict of bytes/str keys, lists of ints and bytes, and one uint8 ndarray. The official
    files (Python 2, protocol 2) reference ``numpy.core.multiarray._reconstruct``, ``numpy.ndarray`` and
    ``numpy.dtype``; a batch re-saved under numpy 2 references ``numpy._core.multiarray._reconstruct``
    (protocols 0-4) or ``numpy._core.numeric._frombuffer`` (protocol 5), and Python 3 protocols 0-2
    encode bytes with ``_codecs.encode``. Every other global (``os.system``, ``builtins.eval``, ...)
    raises :class:`UnsafePickleError` before anything is called.
    """

    ALLOWED: ClassVar[Mapping[tuple[str, str], Any]] = MappingProxyType(
        {
            ("numpy.core.multiarray", "_reconstruct"): _multiarray._reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): _multiarray._reconstruct,
            ("numpy.core.numeric", "_frombuffer"): _numeric._frombuffer,
            ("numpy._core.numeric", "_frombuffer"): _numeric._frombuffer,
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
            ("_codecs", "encode"): _codecs.encode,
        }
    )

    def __init__(self, file: io.BytesIO, origin: object) -> None:
        super().__init__(file, encoding="bytes")
        self.origin = origin

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self.origin}: refusing to unpickle {module}.{name}: a CIFAR-10 python batch only references "
                f"numpy array reconstruction, so this file is not a genuine batch (it may be crafted to run "
                f"code); {_GET_BINARY}, which needs no unpickling"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self.origin}: refusing a persistent id in a CIFAR-10 python batch; {_GET_BINARY}")


def _field(batch: dict[Any, Any], key: str) -> Any:
    for candidate in (key.encode(), key):
        if candidate in batch:
            return batch[candidate]
    raise KeyError(key)


def read_cifar_python_batch(raw: bytes, origin: object) -> tuple[np.ndarray, np.ndarray]:
    """Images (N,3,32,32) and labels (N,) uint8 of one pickled batch, unpickled by :class:`CifarUnpickler`."""
    try:
        batch = CifarUnpickler(io.BytesIO(raw), origin).load()
    except UnsafePickleError:
        raise
    except Exception as error:  # any malformed pickle: one message naming the file
        raise DatasetFormatError(
            f"{origin}: not a readable CIFAR-10 python batch ({type(error).__name__}: {error}); {_GET_BINARY}"
        ) from None
    try:
        if not isinstance(batch, dict):
            raise TypeError(f"holds a {type(batch).__name__}, not a dict")
        data, labels = _field(batch, "data"), _field(batch, "labels")
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
            raise TypeError("'data' is not a uint8 array of shape (N, 3072)")
        label_array = np.asarray(labels)
        if label_array.shape != (len(data),) or label_array.dtype.kind not in "iub":
            raise TypeError(f"'labels' is not a list of {len(data)} ints")
        if len(label_array) and (label_array.min() < 0 or label_array.max() > 9):
            raise TypeError("'labels' holds values outside 0-9")
    except (KeyError, TypeError) as error:
        raise DatasetFormatError(f"{origin}: not a CIFAR-10 python batch ({error}); {_GET_BINARY}") from None
    return data.reshape(-1, 3, 32, 32).copy(), label_array.astype(np.uint8)


def _combine(batches: dict[str, tuple[np.ndarray, np.ndarray]]) -> Arrays:
    train = [batches[name] for name in CIFAR10_BATCHES[:-1]]
    test_images, test_labels = batches["test_batch"]
    return {
        "train_images": np.concatenate([images for images, _ in train]),
        "train_labels": np.concatenate([labels for _, labels in train]),
        "test_images": test_images,
        "test_labels": test_labels,
    }


_LAYOUTS: dict[str, tuple[str, str, Callable[[bytes, object], tuple[np.ndarray, np.ndarray]]]] = {
    # layout: (folder inside the archive, file suffix, batch reader)
    "binary": ("cifar-10-batches-bin", ".bin", read_cifar_binary_batch),
    "python": ("cifar-10-batches-py", "", read_cifar_python_batch),
}
CIFAR10_ARCHIVES = {"binary": "cifar-10-binary.tar.gz", "python": "cifar-10-python.tar.gz"}


def _read_cifar_folder(directory: Path, layout: str) -> Arrays:
    _, suffix, reader = _LAYOUTS[layout]
    batches = {}
    for name in CIFAR10_BATCHES:
        file = directory / f"{name}{suffix}"
        if not file.is_file():
            raise DatasetFormatError(
                f"{directory} holds CIFAR-10 {layout} batches but lacks {file.name}; extract the whole archive again"
            )
        batches[name] = reader(file.read_bytes(), file)
    return _combine(batches)


def _read_cifar_archive(archive: Path) -> Arrays:
    """Both layouts, recognised from the member names; one streaming pass, nothing written to disk."""
    wanted = {
        f"{folder}/{name}{suffix}": (layout, name)
        for layout, (folder, suffix, _) in _LAYOUTS.items()
        for name in CIFAR10_BATCHES
    }
    found: dict[str, dict[str, bytes]] = {"binary": {}, "python": {}}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if member.isfile() and member.name in wanted:
                    layout, name = wanted[member.name]
                    extracted = tar.extractfile(member)
                    if extracted is not None:
                        found[layout][name] = extracted.read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise DatasetFormatError(f"{archive}: not a readable .tar.gz archive ({error}); download it again") from None
    for layout in ("binary", "python"):
        if len(found[layout]) == len(CIFAR10_BATCHES):
            reader = _LAYOUTS[layout][2]
            return _combine({name: reader(raw, f"{archive}:{name}") for name, raw in found[layout].items()})
    raise DatasetFormatError(
        f"{archive} does not hold the six CIFAR-10 batches of cifar-10-batches-bin/ or cifar-10-batches-py/; "
        f"{_GET_BINARY}"
    )


def read_cifar10(path: str | Path) -> Arrays | None:
    """CIFAR-10 uint8 arrays from ``path``: an archive, or a directory holding one of the distributions.

    A directory is searched, in order, for ``cifar-10-batches-bin/``, binary batches directly inside
    it, ``cifar-10-batches-py/``, python batches directly inside it, ``cifar-10-binary.tar.gz``,
    ``cifar-10-python.tar.gz``. Returns None when none is there; raises :class:`DatasetFormatError` (a
    ValueError) naming the file when one is there but malformed.
    """
    path = Path(path).expanduser()
    if path.is_file():
        return _read_cifar_archive(path)
    if not path.is_dir():
        return None
    for layout, (folder, suffix, _) in _LAYOUTS.items():
        for directory in (path / folder, path):
            if (directory / f"test_batch{suffix}").is_file() or (directory / f"data_batch_1{suffix}").is_file():
                return _read_cifar_folder(directory, layout)
    for archive in CIFAR10_ARCHIVES.values():
        if (path / archive).is_file():
            return _read_cifar_archive(path / archive)
    return None
