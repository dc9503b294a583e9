"""Character-level next-token data from the source of a Python package: text that ships with every Python, so
nothing is downloaded (the language-model tasks of the monitor's example and the advisor and schedule
benchmarks)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from sgdnoise.validation import positive_int

__all__ = ["CharacterWindows", "python_source_windows"]


@dataclass(frozen=True)
class CharacterWindows:
    """Next-character windows: ``train`` and ``test`` are (inputs, targets), both int64 of shape (n, context),
    targets[:, t] the character after inputs[:, t]; characters are indices into ``alphabet``."""

    train: tuple[Tensor, Tensor]
    test: tuple[Tensor, Tensor]
    alphabet: str

    @property
    def vocab(self) -> int:
        return len(self.alphabet)


def python_source_windows(
    package: str, context: int, n_train: int, n_test: int, *, seed: int = 0, train_fraction: float = 0.9
) -> CharacterWindows:
    """Windows of ``context`` + 1 characters at uniform random starts (one generator seeded ``seed``, train
    drawn first) from the concatenated ``*.py`` files of ``package`` (sorted by name): training windows from
    the first ``train_fraction`` of the text, test windows from the rest, so the two never overlap."""
    for name, value in (("context", context), ("n_train", n_train), ("n_test", n_test)):
        positive_int(name, value)
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must lie in (0, 1), got {train_fraction!r}")
    try:
        module = importlib.import_module(package)
    except ImportError as error:
        raise ValueError(f"cannot import package {package!r}: {error}") from None
    if not getattr(module, "__path__", None) or module.__file__ is None:
        raise ValueError(f"{package!r} is not a package with Python source files")
    text = "".join(path.read_text(encoding="utf-8") for path in sorted(Path(module.__file__).parent.glob("*.py")))
    alphabet = "".join(sorted(set(text)))
    index = {character: i for i, character in enumerate(alphabet)}
    codes = torch.tensor([index[character] for character in text])
    split = int(train_fraction * len(codes))
    if min(split, len(codes) - split) <= context + 1:
        raise ValueError(f"the source of {package!r} ({len(codes)} characters) is too short for context {context}")
    generator = torch.Generator().manual_seed(seed)

    def windows(low: int, high: int, n: int) -> tuple[Tensor, Tensor]:
        starts = torch.randint(low, high - context - 1, (n,), generator=generator)
        sequences = torch.stack([codes[start : start + context + 1] for start in starts])
        return sequences[:, :-1], sequences[:, 1:]

    return CharacterWindows(windows(0, split, n_train), windows(split, len(codes), n_test), alphabet)
