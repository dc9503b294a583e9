"""The errors a dataset load can raise; all are ValueErrors so callers (and the CLI) catch one family."""

from __future__ import annotations

__all__ = ["DatasetChecksumError", "DatasetFormatError", "DatasetNotFoundError", "UnsafePickleError"]


class DatasetNotFoundError(ValueError):
    """No source (user path, cache, package, download) could provide a dataset."""


class DatasetChecksumError(ValueError):
    """A dataset's content does not match the canonical checksum."""


class DatasetFormatError(ValueError):
    """A dataset file is malformed (truncated, wrong layout, not the format its name promises)."""


class UnsafePickleError(DatasetFormatError):
    """A pickled CIFAR-10 batch references a global that a genuine batch never needs (it could run code)."""
