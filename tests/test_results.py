import json
import math
import os
import stat

import numpy as np
import pytest
import torch

from sgdnoise.results import Claim, atomic_file, canonical_json, check_status, dumps, nan_if_none, strict_json


def test_non_finite_numbers_become_null_everywhere():
    value = {"a": math.nan, "b": [1.0, math.inf, -math.inf], "c": np.float32("nan"), "d": torch.tensor([1.5, math.nan])}
    assert strict_json(value) == {"a": None, "b": [1.0, None, None], "c": None, "d": [1.5, None]}
    text = dumps(value)
    assert "NaN" not in text and "Infinity" not in text and '"nan"' not in text
    assert json.loads(text)["d"] == [1.5, None]


def test_numpy_and_torch_scalars_tuples_and_sets_become_plain_json():
    assert strict_json((np.int64(3), np.bool_(True), torch.tensor(2.5), {3, 1})) == [3, True, 2.5, [1, 3]]
    assert canonical_json({"b": 1, "a": (1, 2)}) == '{"a":[1,2],"b":1}'


def test_an_unknown_object_is_refused_rather_than_stringified():
    with pytest.raises(TypeError, match="cannot write object"):
        strict_json(object())


def test_claim_values_are_sanitised_and_missing_numbers_read_back_as_nan():
    claim = Claim("fig1/y", "a statement", "inconclusive", {"k": np.float32(math.nan), "n": np.int64(3)})
    assert claim.to_dict() == {
        "id": "fig1/y",
        "statement": "a statement",
        "verdict": "inconclusive",
        "holds": False,
        "kind": "paper",
        "value": {"k": None, "n": 3},
        "note": "",
        "provenance": {},
        "test": {},
    }
    assert math.isnan(nan_if_none(None)) and nan_if_none(2) == 2.0


def test_status_vocabulary_is_closed():
    assert check_status("failed") == "failed"
    with pytest.raises(ValueError, match="finished, diverged, failed"):
        check_status("done")


def test_a_claim_refuses_a_verdict_or_kind_outside_the_vocabulary():
    with pytest.raises(ValueError, match="holds, fails, inconclusive"):
        Claim("fig1/y", "s", "true", 1.0)
    with pytest.raises(ValueError, match="paper, extension, calibration"):
        Claim("fig1/y", "s", "holds", 1.0, kind="guess")


@pytest.mark.parametrize("durable", [False, True])
@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_an_atomic_file_gets_the_mode_the_umask_gives_and_leaves_no_temporary(tmp_path, umask, durable):
    previous = os.umask(umask)
    try:
        with atomic_file(tmp_path / "out" / "file.bin", durable=durable) as handle:
            handle.write(b"new")
    finally:
        os.umask(previous)
    written = tmp_path / "out" / "file.bin"
    assert written.read_bytes() == b"new" and stat.S_IMODE(written.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in written.parent.iterdir()] == ["file.bin"]


def test_an_atomic_file_that_fails_mid_write_leaves_the_old_file_whole(tmp_path):
    target = tmp_path / "file.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="killed"), atomic_file(target) as handle:
        handle.write(b"half")
        raise RuntimeError("killed")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["file.bin"]
