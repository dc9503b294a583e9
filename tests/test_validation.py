"""The shared argument checks: the output-directory check, the momentum coefficient."""

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


def test_a_momentum_coefficient_is_a_real_number_in_zero_one():
    import numpy as np

    from sgdnoise.validation import momentum_coefficient

    assert momentum_coefficient("momentum", np.float32(0.5)) == 0.5 and momentum_coefficient("m", 0) == 0.0
    for bad in (1.0, -0.1, float("nan"), True, "0.5"):
        with pytest.raises(ValueError, match=r"^momentum must be a number in \[0, 1\) \(why\), got "):
            momentum_coefficient("momentum", bad, why="why")
