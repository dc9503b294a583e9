"""Tests for sgdnoise.data.formats: the IDX reader and both CIFAR-10 distributions (tiny files made here)."""

import gzip
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from sgdnoise.data import DatasetFormatError, UnsafePickleError, read_cifar10, read_idx
from sgdnoise.data.formats import CIFAR10_BATCHES, CifarUnpickler, read_cifar_python_batch

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


# ---------------------------------------------------------------- tiny CIFAR-10 distributions


def tiny_cifar_batches(per_batch: int = 3, seed: int = 0) -> dict[str, tuple[np.ndarray, list[int]]]:
    """Six batches of random images (flat rows of 3072 bytes, as the official batches hold them) and labels."""
    rng = np.random.default_rng(seed)
    return {
        name: (rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8), rng.integers(0, 10, per_batch).tolist())
        for name in CIFAR10_BATCHES
    }


def binary_batch_bytes(rows: np.ndarray, labels: list[int]) -> bytes:
    """The binary distribution's layout, written record by record: label byte then 3072 pixel bytes."""
    return b"".join(bytes([label]) + row.tobytes() for row, label in zip(rows, labels, strict=True))


def write_cifar_binary(directory: Path, batches) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, (rows, labels) in batches.items():
        (directory / f"{name}.bin").write_bytes(binary_batch_bytes(rows, labels))
    return directory


def python_batch_bytes(rows: np.ndarray, labels: list[int], protocol: int = 2, py2_names: bool = True) -> bytes:
    """A python-distribution batch; ``py2_names`` rewrites numpy 2's module name to the numpy 1.x one the
    official (Python 2) files reference, which protocol 2's text GLOBAL opcode allows byte for byte."""
    content = {b"batch_label": b"batch", b"labels": labels, b"data": rows, b"filenames": [b"x.png"] * len(labels)}
    raw = pickle.dumps(content, protocol=protocol)
    if py2_names:
        assert b"cnumpy._core.multiarray\n_reconstruct\n" in raw
        raw = raw.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    return raw


def write_cifar_python(directory: Path, batches, protocol: int = 2) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, (rows, labels) in batches.items():
        (directory / name).write_bytes(python_batch_bytes(rows, labels, protocol, py2_names=protocol == 2))
    return directory


def tar_gz(directory: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(directory, arcname=directory.name)
    return archive


def expected_arrays(batches) -> dict[str, np.ndarray]:
    train = [batches[name] for name in CIFAR10_BATCHES[:-1]]
    return {
        "train_images": np.concatenate([rows for rows, _ in train]).reshape(-1, 3, 32, 32),
        "train_labels": np.concatenate([labels for _, labels in train]).astype(np.uint8),
        "test_images": batches["test_batch"][0].reshape(-1, 3, 32, 32),
        "test_labels": np.asarray(batches["test_batch"][1], dtype=np.uint8),
    }


def assert_arrays_equal(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert actual.keys() == expected.keys()
    for key in expected:
        assert actual[key].dtype == np.uint8 and np.array_equal(actual[key], expected[key]), key


# ---------------------------------------------------------------- IDX


def test_read_idx_raw_and_gzip_and_dtypes(tmp_path: Path) -> None:
    ints = np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 7
    floats = np.linspace(-1, 1, 5)
    (tmp_path / "ints").write_bytes(idx_bytes(ints))
    (tmp_path / "floats.gz").write_bytes(gzip.compress(idx_bytes(floats)))
    assert np.array_equal(read_idx(tmp_path / "ints"), ints)
    assert np.array_equal(read_idx(tmp_path / "floats.gz"), floats)


def test_read_idx_rejects_bad_files_naming_them(tmp_path: Path) -> None:
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(DatasetFormatError, match=r"bad is not an IDX file .*fresh copy"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(idx_bytes(np.zeros((4, 2), dtype=np.uint8))[:-1])
    with pytest.raises(DatasetFormatError, match="short: IDX header declares shape"):
        read_idx(tmp_path / "short")
    (tmp_path / "cut.gz").write_bytes(gzip.compress(idx_bytes(np.zeros((4, 2), dtype=np.uint8)))[:-6])
    with pytest.raises(DatasetFormatError, match=r"cut\.gz: corrupt gzip"):
        read_idx(tmp_path / "cut.gz")


# ---------------------------------------------------------------- CIFAR-10: both layouts, all containers


def test_binary_and_python_distributions_decode_to_the_same_arrays(tmp_path: Path) -> None:
    batches = tiny_cifar_batches()
    expected = expected_arrays(batches)
    binary = write_cifar_binary(tmp_path / "bin" / "cifar-10-batches-bin", batches)
    python = write_cifar_python(tmp_path / "py" / "cifar-10-batches-py", batches)
    python5 = write_cifar_python(tmp_path / "py5" / "cifar-10-batches-py", batches, protocol=5)
    for path in (binary, binary.parent, python, python.parent, python5):  # folder itself or its parent
        assert_arrays_equal(read_cifar10(path), expected)
    # the pixel layout: record byte 1 + 1024·c + 32·i + j is channel c, row i, column j
    rows, _ = batches["data_batch_1"]
    assert read_cifar10(binary)["train_images"][2, 1, 3, 4] == rows[2, 1024 + 32 * 3 + 4]


def test_archives_of_both_layouts(tmp_path: Path) -> None:
    batches = tiny_cifar_batches(per_batch=2, seed=1)
    expected = expected_arrays(batches)
    binary = tar_gz(write_cifar_binary(tmp_path / "b" / "cifar-10-batches-bin", batches), tmp_path / "b.tar.gz")
    python = tar_gz(write_cifar_python(tmp_path / "p" / "cifar-10-batches-py", batches), tmp_path / "p.tar.gz")
    assert_arrays_equal(read_cifar10(binary), expected)  # the archive file itself
    assert_arrays_equal(read_cifar10(python), expected)
    holder = tmp_path / "holder"
    holder.mkdir()
    binary.rename(holder / "cifar-10-binary.tar.gz")
    assert_arrays_equal(read_cifar10(holder), expected)  # a directory holding the official archive name


def test_read_cifar10_returns_none_where_nothing_is(tmp_path: Path) -> None:
    assert read_cifar10(tmp_path) is None
    assert read_cifar10(tmp_path / "missing") is None


# ---------------------------------------------------------------- CIFAR-10: the restricted unpickler


class RunsCode:
    """Unpickling this calls os.system: what a crafted 'batch' would do under plain pickle.loads."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class CallsEval:
    def __reduce__(self):
        return (eval, ("1 + 1",))


def test_crafted_pickle_is_refused_before_running_anything(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    batches = tmp_path / "cifar-10-batches-py"
    write_cifar_python(batches, tiny_cifar_batches(per_batch=1))
    payload = {b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"x": RunsCode(marker)}
    (batches / "data_batch_3").write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(UnsafePickleError, match=r"data_batch_3: refusing to unpickle posix\.system") as info:
        read_cifar10(tmp_path)
    assert isinstance(info.value, ValueError) and "cifar-10-binary.tar.gz" in str(info.value)
    assert not marker.exists()
    pickle.loads((batches / "data_batch_3").read_bytes())  # the payload is live: plain pickle runs it
    assert marker.exists()
    for protocol in (0, 4, 5):
        with pytest.raises(UnsafePickleError, match=r"(builtins|__builtin__)\.eval"):
            read_cifar_python_batch(pickle.dumps({b"data": CallsEval()}, protocol=protocol), "crafted")


def test_unpickler_allows_exactly_the_array_globals() -> None:
    allowed = set(CifarUnpickler.ALLOWED)
    assert allowed == {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }
    with pytest.raises(UnsafePickleError, match=r"numpy\.load"):
        CifarUnpickler(io.BytesIO(b"cnumpy\nload\n."), "x").load()


# ---------------------------------------------------------------- CIFAR-10: malformed files, one clear message each


def test_malformed_cifar_files_each_give_one_message_naming_the_file(tmp_path: Path) -> None:
    batches = tiny_cifar_batches(per_batch=2)
    binary = write_cifar_binary(tmp_path / "b", batches)
    (binary / "data_batch_2.bin").write_bytes((binary / "data_batch_2.bin").read_bytes()[:-1])
    with pytest.raises(DatasetFormatError, match=r"data_batch_2\.bin: 6145 bytes is not a whole number of 3073"):
        read_cifar10(binary)

    cifar100_like = write_cifar_binary(tmp_path / "c", batches)
    (cifar100_like / "test_batch.bin").write_bytes(bytes([17]) + bytes(3072))
    with pytest.raises(DatasetFormatError, match=r"test_batch\.bin: label byte 17 .*CIFAR-100"):
        read_cifar10(cifar100_like)

    incomplete = write_cifar_binary(tmp_path / "d", batches)
    (incomplete / "data_batch_4.bin").unlink()
    with pytest.raises(DatasetFormatError, match=r"lacks data_batch_4\.bin"):
        read_cifar10(incomplete)

    python = write_cifar_python(tmp_path / "p", batches)
    (python / "data_batch_1").write_bytes(b"not a pickle at all")
    with pytest.raises(DatasetFormatError, match=r"data_batch_1: not a readable CIFAR-10 python batch"):
        read_cifar10(python)
    (python / "data_batch_1").write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(DatasetFormatError, match=r"data_batch_1: not a CIFAR-10 python batch \(holds a list"):
        read_cifar10(python)
    (python / "data_batch_1").write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1]}))
    with pytest.raises(DatasetFormatError, match="'labels' is not a list of 2 ints"):
        read_cifar10(python)

    (tmp_path / "broken.tar.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(DatasetFormatError, match=r"broken\.tar\.gz: not a readable \.tar\.gz archive"):
        read_cifar10(tmp_path / "broken.tar.gz")
    other = tmp_path / "other"
    other.mkdir()
    (other / "readme.txt").write_text("hello")
    with pytest.raises(DatasetFormatError, match=r"other\.tar\.gz does not hold the six CIFAR-10 batches"):
        read_cifar10(tar_gz(other, tmp_path / "other.tar.gz"))
