"""Tests for sgdnoise.data.augment: crop-flip is exact, deterministic per seed and uniform over its choices."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from sgdnoise.data import AUGMENTATIONS, augment


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def recover_transform(image: torch.Tensor, output: torch.Tensor) -> list[tuple[int, int, bool]]:
    """Every (dy, dx, flip) for which ``output`` is exactly that crop of the zero-padded ``image``."""
    _, height, width = image.shape
    padded = F.pad(image, (4, 4, 4, 4))
    matches = []
    for dy, dx, flip in itertools.product(range(9), range(9), (False, True)):
        crop = padded[:, dy : dy + height, dx : dx + width]
        if torch.equal(crop.flip(-1) if flip else crop, output):
            matches.append((dy, dx, flip))
    return matches


def test_each_output_is_a_shifted_flipped_crop_of_its_input_drawn_from_the_generator() -> None:
    x = torch.randn(40, 3, 6, 5, generator=seeded(0)) + 10  # no zeros: every crop position is distinct
    out = augment("crop-flip", x, seeded(7))
    assert out.shape == x.shape and out.dtype == x.dtype
    replay = seeded(7)  # the documented draw order: offsets (2, B), then flips (B,)
    offsets = torch.randint(0, 9, (2, 40), generator=replay)
    flips = torch.randint(0, 2, (40,), generator=replay, dtype=torch.bool)
    for b in range(40):
        assert recover_transform(x[b], out[b]) == [(int(offsets[0, b]), int(offsets[1, b]), bool(flips[b]))]


def test_deterministic_per_seed_and_independent_of_dtype() -> None:
    x = torch.randn(16, 3, 8, 8, generator=seeded(1))
    a, b = augment("crop-flip", x, seeded(3)), augment("crop-flip", x, seeded(3))
    assert torch.equal(a, b)
    assert not torch.equal(a, augment("crop-flip", x, seeded(4)))
    assert torch.equal(augment("crop-flip", x.double(), seeded(3)), a.double())  # same draws, any dtype


def test_transform_statistics_are_uniform() -> None:
    """9·9·2 = 162 equally likely transforms: identity 1/162, each offset 1/9, flips 1/2 (6-sigma bounds)."""
    n = 16200
    x = torch.arange(n * 16, dtype=torch.float32).reshape(n, 1, 4, 4) + 1
    out = augment("crop-flip", x, seeded(11))
    identity = (out == x).flatten(1).all(1)
    assert abs(identity.float().mean().item() - 1 / 162) < 6 * (1 / 162 / n) ** 0.5
    flipped_only = (out == x.flip(-1)).flatten(1).all(1)
    assert abs(flipped_only.float().mean().item() - 1 / 162) < 6 * (1 / 162 / n) ** 0.5
    # the top-left output pixel lies on one of the 4 image rows/columns for 4 of the 9 offsets per axis
    # (dy in 4..7; dx in 4..7 unflipped, 1..4 flipped), else in the zero padding
    padded_corner = out[:, 0, 0, 0] == 0
    assert abs(padded_corner.float().mean().item() - (1 - (4 / 9) ** 2)) < 6 * (0.25 / n) ** 0.5


def test_bad_arguments() -> None:
    assert AUGMENTATIONS == ("crop-flip",)
    x = torch.zeros(2, 3, 4, 4)
    with pytest.raises(ValueError, match="unknown augmentation 'cutout'"):
        augment("cutout", x, seeded(0))
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        augment("crop-flip", torch.zeros(3, 4, 4), seeded(0))
    with pytest.raises(ValueError, match=r"CPU torch\.Generator"):
        augment("crop-flip", x, None)  # type: ignore[arg-type]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_same_result_on_cuda() -> None:
    x = torch.randn(8, 3, 8, 8, generator=seeded(2))
    assert torch.equal(augment("crop-flip", x.cuda(), seeded(5)).cpu(), augment("crop-flip", x, seeded(5)))
