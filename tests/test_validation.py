"""The shared argument checks: the output-directory check."""

import re

import pytest

from sgdnoise.validation import ensure_writable_directory


def test_an_output_directory_is_created_with_its_parents(tmp_path):
    ensure_writable_directory(str(tmp_path / "a" / "b"))
    assert (tmp_path / "a" / "b").is_dir() and list((tmp_path / "a" / "b").iterdir()) == []  # the probe is gone
    ensure_writable_directory(tmp_path / "a")  # an existing directory is fine


def test_an_output_directory_that_cannot_be_made_is_one_error(tmp_path):
    (tmp_path / "file").write_text("")
    for blocked in (tmp_path / "file", tmp_path / "file" / "out"):
        with pytest.raises(ValueError, match=re.escape(f"cannot write to the output directory '{blocked}': ")):
            ensure_writable_directory(blocked)


def test_an_existing_directory_without_write_permission_is_one_error(tmp_path, unwritable_directories):
    with pytest.raises(
        ValueError, match=re.escape(f"cannot write to the output directory '{tmp_path}': Permission denied")
    ):
        ensure_writable_directory(tmp_path)
